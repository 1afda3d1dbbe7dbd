//! `datahub inspect`: one channel in full, once or refreshing.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_BORDERS_ONLY};
use datahub::ChannelSnapshot;

use crate::Outcome;
use crate::layout;
use crate::out::{out, outln};

pub(crate) struct Options {
    pub(crate) json: bool,
    pub(crate) watch: bool,
    pub(crate) interval: Duration,
    pub(crate) count: Option<u64>,
    pub(crate) slots: bool,
}

pub(crate) fn run(channel: &str, options: &Options) -> Result<Outcome, datahub::Error> {
    let mut previous: Option<(Instant, ChannelSnapshot)> = None;
    let clear = options.watch && !options.json && std::io::stdout().is_terminal();
    let mut shown = 0u64;
    loop {
        let snapshot = datahub::inspect(channel)?;
        let taken = Instant::now();
        if options.json {
            crate::print_json(&snapshot);
        } else {
            let rates = previous
                .as_ref()
                .map(|(at, before)| Rates::between(before, &snapshot, taken - *at));
            let mut text = render(&snapshot, rates.as_ref(), options.slots);
            if clear {
                // Home the cursor and clear the screen, as `watch` does.
                text.insert_str(0, "\x1b[H\x1b[2J");
            }
            out!("{text}");
        }
        let _ = std::io::stdout().flush();
        shown += 1;
        if !options.watch || options.count.is_some_and(|n| shown >= n) {
            return Ok(Outcome::Ok);
        }
        previous = Some((taken, snapshot));
        std::thread::sleep(options.interval);
        if !options.json && !clear {
            outln!();
        }
    }
}

/// Items per second between two snapshots, for the channel and each
/// consumer entry (by index).
struct Rates {
    committed: f64,
    consumers: Vec<(usize, f64)>,
}

impl Rates {
    fn between(before: &ChannelSnapshot, now: &ChannelSnapshot, elapsed: Duration) -> Self {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let per_s = |a: u64, b: u64| b.saturating_sub(a) as f64 / seconds;
        Self {
            committed: per_s(before.committed, now.committed),
            consumers: now
                .consumers
                .iter()
                .filter_map(|c| {
                    let old = before
                        .consumers
                        .iter()
                        .find(|o| o.index == c.index && o.pid == c.pid)?;
                    Some((c.index, per_s(old.items_read, c.items_read)))
                })
                .collect(),
        }
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_BORDERS_ONLY).set_header(header);
    t
}

fn right(v: impl ToString) -> Cell {
    Cell::new(v.to_string()).set_alignment(CellAlignment::Right)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn render(s: &ChannelSnapshot, rates: Option<&Rates>, slots: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "channel   {} ({})", s.channel, s.state);
    let _ = writeln!(out, "hash      {}", s.channel_hash);
    let _ = writeln!(
        out,
        "ring      {} slots of {} bytes, {}, checksums {}, secret {}, {} consumer entries, stall timeout {} ms",
        s.capacity,
        s.slot.size,
        s.overflow,
        s.checksum,
        yes_no(s.secret),
        s.max_consumers,
        s.stall_timeout_ms
    );
    let _ = writeln!(
        out,
        "segment   {} bytes, created {} ms ago",
        s.segment_bytes, s.uptime_ms
    );
    let producer = match s.producer.pid {
        Some(pid) if s.producer.alive => format!(
            "pid {pid}, alive, last heartbeat {} ms ago",
            s.producer.heartbeat_age_ms
        ),
        Some(pid) => format!("pid {pid}, DEAD"),
        None => "none".to_owned(),
    };
    let _ = writeln!(out, "producer  {producer}, takeovers {}", s.producer.epoch);
    let rate = rates.map_or(String::new(), |r| format!(", {:.0} items/s", r.committed));
    let _ = writeln!(out, "committed {} items{rate}", s.committed);

    let _ = writeln!(
        out,
        "\nslot: {}, {} bytes, type hash {}",
        s.slot.kind, s.slot.size, s.slot.hash
    );
    let _ = writeln!(out, "{}", layout_table(&s.slot.canonical));
    for zone in &s.zones {
        let lock = if !zone.locked {
            "lock-free".to_owned()
        } else {
            let holder = match (zone.lock_holder, zone.lock_holder_alive) {
                (Some(pid), Some(false)) => format!("held by pid {pid} (DEAD)"),
                (Some(pid), _) => format!("held by pid {pid}"),
                (None, _) => "free".to_owned(),
            };
            let pending = if zone.recovery_pending {
                ", released for a dead holder"
            } else {
                ""
            };
            format!(
                "locked, {holder}, {} takeovers{pending}",
                zone.lock_takeovers
            )
        };
        let _ = writeln!(out, "\nzone `{}`: {} bytes, {lock}", zone.name, zone.size);
        let _ = writeln!(out, "{}", layout_table(&zone.canonical));
    }

    let mut t = table(&["counter", "value"]);
    for (name, value) in &s.counters {
        t.add_row([Cell::new(name), right(value)]);
    }
    let _ = writeln!(out, "\ncounters\n{t}");

    if s.consumers.is_empty() {
        let _ = writeln!(out, "\nconsumers: none attached");
    } else {
        let mut header = vec![
            "#",
            "pid",
            "alive",
            "heartbeat",
            "position",
            "lag",
            "reading",
            "stalled",
            "read",
            "lost",
            "bad checksums",
            "races",
        ];
        if rates.is_some() {
            header.push("items/s");
        }
        let mut t = table(&header);
        for c in &s.consumers {
            let mut row = vec![
                right(c.index),
                right(c.pid),
                Cell::new(if c.alive { "yes" } else { "DEAD" }),
                right(format!("{} ms", c.heartbeat_age_ms)),
                right(c.position),
                right(c.lag),
                right(c.reading.map_or("-".into(), |q| q.to_string())),
                Cell::new(yes_no(c.stalled)),
                right(c.items_read),
                right(c.lost),
                right(c.checksum_failures),
                right(c.races),
            ];
            if let Some(r) = rates {
                let rate = r.consumers.iter().find(|(i, _)| *i == c.index);
                row.push(right(rate.map_or("-".into(), |(_, v)| format!("{v:.0}"))));
            }
            t.add_row(row);
        }
        let _ = writeln!(
            out,
            "\nconsumers ({} of {} entries)\n{t}",
            s.consumers.len(),
            s.max_consumers
        );
    }

    if slots {
        let mut t = table(&["slot", "state", "item", "bytes", "writer pid"]);
        for slot in &s.slots {
            t.add_row([
                right(slot.index),
                Cell::new(&slot.state),
                right(slot.seq),
                right(slot.payload_len),
                right(slot.writer_pid),
            ]);
        }
        let _ = writeln!(out, "\nslots\n{t}");
    } else {
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for slot in &s.slots {
            *counts.entry(&slot.state).or_default() += 1;
        }
        let counts: Vec<_> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let _ = writeln!(out, "\nslots: {} (--slots lists them)", counts.join(", "));
    }

    let findings = s.diagnose();
    if findings.is_empty() {
        let _ = writeln!(out, "diagnosis: healthy");
    } else {
        let _ = writeln!(
            out,
            "diagnosis: {} finding(s), see `datahub diagnose {}`",
            findings.len(),
            s.channel
        );
    }
    out
}

/// The layout table of a canonical form, or the form itself when it does
/// not parse (a segment written by a newer or broken peer).
fn layout_table(canonical: &str) -> String {
    match layout::rows(canonical) {
        Some(rows) => {
            let mut t = table(&["offset", "size", "type", "field"]);
            for r in rows {
                t.add_row([
                    right(r.offset),
                    right(r.size),
                    Cell::new(r.ty),
                    Cell::new(r.field),
                ]);
            }
            t.to_string()
        }
        None => format!("(canonical form not understood: {canonical:?})"),
    }
}
