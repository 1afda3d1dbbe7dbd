//! `datahub list`: one line per channel on the machine.

use std::time::{Duration, Instant};

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;

use crate::Outcome;
use crate::out::out;

/// One channel, as `list` shows it.
#[derive(Debug, Serialize)]
struct Entry {
    channel: String,
    /// `ready`, `closed`, or why the segment could not be read.
    state: String,
    producer_pid: Option<u32>,
    producer_alive: bool,
    /// Consumer entries in use, and how many of them are alive.
    consumers: usize,
    consumers_alive: usize,
    committed: u64,
    /// Items per second over the interval (none without an interval, or
    /// for a segment that could not be read twice).
    rate_per_s: Option<f64>,
    /// The DH2xx code when the segment could not be read.
    error: Option<&'static str>,
}

pub(crate) fn run(json: bool, interval: Duration) -> Result<Outcome, datahub::Error> {
    let channels = datahub::list_channels()?;
    let first = Instant::now();
    let mut entries: Vec<Entry> = channels.iter().map(|c| entry(c)).collect();
    if !interval.is_zero() && !entries.is_empty() {
        std::thread::sleep(interval.saturating_sub(first.elapsed()));
        let seconds = first.elapsed().as_secs_f64();
        for e in entries.iter_mut().filter(|e| e.error.is_none()) {
            if let Ok(now) = datahub::inspect(&e.channel) {
                e.rate_per_s = Some(now.committed.saturating_sub(e.committed) as f64 / seconds);
                e.committed = now.committed;
            }
        }
    }
    if json {
        crate::print_json(&entries);
    } else {
        out!("{}", render(&entries));
    }
    Ok(Outcome::Ok)
}

fn entry(channel: &str) -> Entry {
    match datahub::inspect(channel) {
        Ok(s) => Entry {
            channel: channel.to_owned(),
            state: s.state.to_string(),
            producer_pid: s.producer.pid,
            producer_alive: s.producer.alive,
            consumers: s.consumers.len(),
            consumers_alive: s.consumers.iter().filter(|c| c.alive).count(),
            committed: s.committed,
            rate_per_s: None,
            error: None,
        },
        Err(e) => Entry {
            channel: channel.to_owned(),
            state: format!("unreadable: {e}"),
            producer_pid: None,
            producer_alive: false,
            consumers: 0,
            consumers_alive: 0,
            committed: 0,
            rate_per_s: None,
            error: Some(e.code()),
        },
    }
}

fn render(entries: &[Entry]) -> String {
    if entries.is_empty() {
        return "no DataHub channels on this machine (no /dev/shm/datahub.* segments)\n".into();
    }
    let mut t = Table::new();
    t.load_style(UTF8_BORDERS_ONLY).set_header([
        "channel",
        "state",
        "producer",
        "consumers",
        "committed",
        "items/s",
    ]);
    let right = |v: String| Cell::new(v).set_alignment(CellAlignment::Right);
    for e in entries {
        let producer = match (e.producer_pid, e.producer_alive) {
            (_, _) if e.error.is_some() => "-".to_owned(),
            (Some(pid), true) => format!("pid {pid} alive"),
            (Some(pid), false) => format!("pid {pid} DEAD"),
            (None, _) => "none".to_owned(),
        };
        let consumers = if e.consumers == e.consumers_alive {
            e.consumers.to_string()
        } else {
            format!("{} ({} dead)", e.consumers, e.consumers - e.consumers_alive)
        };
        t.add_row([
            Cell::new(&e.channel),
            Cell::new(&e.state),
            Cell::new(producer),
            right(consumers),
            right(e.committed.to_string()),
            right(e.rate_per_s.map_or("-".into(), |r| format!("{r:.0}"))),
        ]);
    }
    format!("{t}\n")
}
