//! The results of a run (written by `--json`, read by `chart`), the
//! issue's targets judged on them, and the table printed at the end.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::peer::Machine;
use crate::plan::Mode;

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Results {
    pub(crate) mode: Mode,
    pub(crate) machine: Machine,
    /// Seconds the run took.
    pub(crate) seconds: f64,
    /// `/proc/loadavg` when the run started and ended: other work on the
    /// machine skews every figure.
    pub(crate) load_before: String,
    pub(crate) load_after: String,
    pub(crate) latency: Vec<LatencyRow>,
    pub(crate) throughput: Vec<ThroughputRow>,
    pub(crate) fanout: Option<FanoutRow>,
    pub(crate) checksums: Vec<ChecksumRow>,
    pub(crate) idle: Option<IdleRow>,
    pub(crate) targets: Vec<Target>,
    /// Cases that failed, with why (their rows are missing).
    pub(crate) failures: Vec<String>,
    /// How busy the machine was (all CPUs, by anything) just before each
    /// case, and how long the case waited for it to settle.
    pub(crate) case_load: Vec<CaseLoad>,
}

/// The machine's load before one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CaseLoad {
    pub(crate) case: String,
    pub(crate) busy_percent: f64,
    pub(crate) waited_s: f64,
    /// Median round trip of a cache line between two threads just before
    /// the case (see `runner::probe_rtt_ns`): low when the two vCPUs
    /// share a host L3.
    pub(crate) probe_rtt_ns: f64,
}

/// Ping-pong of a 64-byte payload, one way (round trip / 2), nanoseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LatencyRow {
    pub(crate) system: String,
    pub(crate) waiting: String,
    /// Median of the rounds' medians.
    pub(crate) median_ns: f64,
    pub(crate) p50_ns: f64,
    pub(crate) p99_ns: f64,
    pub(crate) p999_ns: f64,
    pub(crate) min_ns: f64,
    pub(crate) max_ns: f64,
    pub(crate) round_p50_ns: Vec<f64>,
    pub(crate) round_trips: u64,
    /// Runs (fresh process pairs) the rounds came from.
    pub(crate) runs: u32,
    /// `median_ns` over the floor's.
    pub(crate) ratio_to_floor: Option<f64>,
}

/// One producer to one consumer; rates are the consumer's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ThroughputRow {
    pub(crate) system: String,
    pub(crate) size: usize,
    /// Median over rounds, items per second.
    pub(crate) median_msgs_per_s: f64,
    /// Median over rounds, payload bytes per second / 1e9.
    pub(crate) median_gb_per_s: f64,
    pub(crate) min_msgs_per_s: f64,
    pub(crate) max_msgs_per_s: f64,
    pub(crate) round_msgs_per_s: Vec<f64>,
    /// Items the consumer received, each checked (equals items sent).
    pub(crate) items: u64,
    /// `median_msgs_per_s` over the one-process floor's (large payloads).
    pub(crate) ratio_to_floor: Option<f64>,
}

/// DataHub, one producer to four consumers, Block mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FanoutRow {
    pub(crate) size: usize,
    pub(crate) waiting: String,
    pub(crate) producer_msgs_per_s: f64,
    /// Each consumer's median rate.
    pub(crate) consumer_msgs_per_s: Vec<f64>,
    /// Items each consumer received (each equals items sent).
    pub(crate) consumer_items: Vec<u64>,
}

/// DataHub with `ChecksumPolicy::Enforced` against `None`, and BLAKE2b alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChecksumRow {
    pub(crate) size: usize,
    pub(crate) none_msgs_per_s: f64,
    pub(crate) enforced_msgs_per_s: f64,
    /// Per item: 1/enforced rate - 1/none rate.
    pub(crate) enforced_cost_ns: f64,
    /// BLAKE2b-256 of the same bytes (sequence number and payload), one
    /// core hashing, the other idle, per item.
    pub(crate) blake2b_ns: f64,
    pub(crate) blake2b_gb_per_s: f64,
    /// The same, per item on each core, with both cores hashing at once
    /// (as producer and consumer do).
    pub(crate) blake2b_both_cores_ns: f64,
    /// `enforced_cost_ns / blake2b_both_cores_ns`.
    pub(crate) cost_ratio: f64,
}

/// A DataHub consumer waiting in `next()` with nothing to read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdleRow {
    pub(crate) wait_s: f64,
    pub(crate) cpu_ms: f64,
    pub(crate) cpu_percent_of_core: f64,
    pub(crate) outcome: String,
}

/// One of the targets, judged on this run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) goal: String,
    /// The measured ratio or figure, when its cases ran.
    pub(crate) value: Option<f64>,
    pub(crate) met: Option<bool>,
}

impl Results {
    /// Judges the targets on the rows.
    pub(crate) fn judge(&mut self) {
        let latency = |system: &str| {
            self.latency
                .iter()
                .find(|r| r.system == system)
                .map(|r| r.median_ns)
        };
        let rate = |system: &str, size: usize| {
            self.throughput
                .iter()
                .find(|r| r.system == system && r.size == size)
                .map(|r| r.median_msgs_per_s)
        };
        let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
        let mut targets = vec![
            at_most(
                "64 B one-way latency, DataHub / floor",
                ratio(latency("DataHub"), latency("floor")),
                1.5,
            ),
            at_most(
                "64 B one-way latency, DataHub / iceoryx2",
                ratio(latency("DataHub"), latency("iceoryx2")),
                0.5,
            ),
            at_least(
                "4 KiB throughput, DataHub / iceoryx2",
                ratio(rate("DataHub", 4 << 10), rate("iceoryx2", 4 << 10)),
                2.0,
            ),
            at_least(
                "4 MiB throughput, DataHub / one-process floor",
                ratio(rate("DataHub", 4 << 20), rate("floor", 4 << 20)),
                0.85,
            ),
        ];
        for row in &self.checksums {
            targets.push(at_most(
                &format!(
                    "Enforced checksum cost / BLAKE2b of the same bytes (2 cores at once), {}",
                    size_label(row.size)
                ),
                Some(row.cost_ratio),
                1.10,
            ));
        }
        targets.push(at_most(
            "idle consumer, % of a core",
            self.idle.as_ref().map(|i| i.cpu_percent_of_core),
            1.0,
        ));
        self.targets = targets;
    }

    /// The tables, as printed at the end of a run (and in docs/benchmarks.md).
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "datahub-bench ({:?}), {} x {}, Linux {}, {:.0} s, load average {} -> {}\n",
            self.mode, m.cores, m.cpu, m.kernel, self.seconds, self.load_before, self.load_after
        );
        if let Some(max) = self
            .case_load
            .iter()
            .map(|c| c.busy_percent)
            .max_by(f64::total_cmp)
        {
            let waited: f64 = self.case_load.iter().map(|c| c.waited_s).sum();
            let (near, far) = self
                .case_load
                .iter()
                .map(|c| c.probe_rtt_ns)
                .fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
                    (lo.min(p), hi.max(p))
                });
            let _ = writeln!(
                out,
                "Before each case: machine busy at most {max:.0}% (other work skews every figure); a cache line's \
                 round trip between the CPUs {near:.0} to {far:.0} ns (where the host put the vCPUs); \
                 waited {waited:.0} s in all for quiet and near CPUs\n"
            );
        }
        if !self.latency.is_empty() {
            out.push_str("Latency, 64 B ping-pong, one way = RTT/2 (ns)\n");
            let rows = self.latency.iter().map(|r| {
                vec![
                    r.system.clone(),
                    r.waiting.clone(),
                    f0(r.median_ns),
                    f0(r.p50_ns),
                    f0(r.p99_ns),
                    f0(r.p999_ns),
                    ratio_cell(r.ratio_to_floor),
                ]
            });
            grid(
                &mut out,
                &[
                    "system", "waiting", "median", "p50", "p99", "p99.9", "x floor",
                ],
                rows,
            );
        }
        if !self.throughput.is_empty() {
            out.push_str("\nThroughput, 1 producer -> 1 consumer, lossless (median of rounds)\n");
            let rows = self.throughput.iter().map(|r| {
                vec![
                    size_label(r.size),
                    r.system.clone(),
                    rate_cell(r.median_msgs_per_s),
                    format!("{:.2}", r.median_gb_per_s),
                    format!(
                        "{}..{}",
                        rate_cell(r.min_msgs_per_s),
                        rate_cell(r.max_msgs_per_s)
                    ),
                    ratio_cell(r.ratio_to_floor),
                ]
            });
            grid(
                &mut out,
                &["payload", "system", "msg/s", "GB/s", "rounds", "x floor"],
                rows,
            );
        }
        if let Some(f) = &self.fanout {
            let _ = writeln!(
                out,
                "\nFan-out, DataHub 1 -> {} consumers, {}, Block, {} (msg/s)",
                f.consumer_msgs_per_s.len(),
                size_label(f.size),
                f.waiting
            );
            let mut header = vec!["producer".to_owned()];
            header.extend((1..=f.consumer_msgs_per_s.len()).map(|i| format!("consumer {i}")));
            let mut row = vec![rate_cell(f.producer_msgs_per_s)];
            row.extend(f.consumer_msgs_per_s.iter().map(|&r| rate_cell(r)));
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            grid(&mut out, &header, std::iter::once(row));
        }
        if !self.checksums.is_empty() {
            out.push_str("\nChecksums, DataHub 1 -> 1: Enforced vs None, and BLAKE2b alone\n");
            let rows = self.checksums.iter().map(|r| {
                vec![
                    size_label(r.size),
                    rate_cell(r.none_msgs_per_s),
                    rate_cell(r.enforced_msgs_per_s),
                    format!("{:.0}", r.enforced_cost_ns),
                    format!("{:.0}", r.blake2b_ns),
                    format!("{:.0}", r.blake2b_both_cores_ns),
                    format!("{:.2}", r.blake2b_gb_per_s),
                    format!("{:.2}", r.cost_ratio),
                ]
            });
            grid(
                &mut out,
                &[
                    "payload",
                    "None msg/s",
                    "Enforced msg/s",
                    "cost ns/msg",
                    "BLAKE2b ns/msg, 1 core",
                    "BLAKE2b ns/msg, 2 cores at once",
                    "BLAKE2b GB/s, 1 core",
                    "cost / BLAKE2b",
                ],
                rows,
            );
        }
        if let Some(i) = &self.idle {
            let _ = writeln!(
                out,
                "\nIdle: a consumer blocked in next() for {:.1} s used {:.2} ms of CPU = {:.3}% of a core ({})",
                i.wait_s, i.cpu_ms, i.cpu_percent_of_core, i.outcome
            );
        }
        if !self.targets.is_empty() {
            out.push_str("\nTargets\n");
            let rows = self.targets.iter().map(|t| {
                vec![
                    t.name.clone(),
                    t.goal.clone(),
                    t.value.map_or("-".into(), |v| format!("{v:.2}")),
                    match t.met {
                        Some(true) => "met".into(),
                        Some(false) => "MISSED".into(),
                        None => "not run".into(),
                    },
                ]
            });
            grid(&mut out, &["target", "goal", "measured", ""], rows);
        }
        for failure in &self.failures {
            let _ = writeln!(out, "FAILED: {failure}");
        }
        out
    }
}

fn at_most(name: &str, value: Option<f64>, goal: f64) -> Target {
    Target {
        name: name.into(),
        goal: format!("<= {goal}"),
        value,
        met: value.map(|v| v <= goal),
    }
}

fn at_least(name: &str, value: Option<f64>, goal: f64) -> Target {
    Target {
        name: name.into(),
        goal: format!(">= {goal}"),
        value,
        met: value.map(|v| v >= goal),
    }
}

/// `64 B`, `4 KiB`, `1 MiB`.
pub(crate) fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s.is_multiple_of(1 << 20) => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s.is_multiple_of(1 << 10) => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn f0(v: f64) -> String {
    format!("{v:.0}")
}

fn ratio_cell(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}"))
}

/// `12.3M`, `456k`, `789`.
fn rate_cell(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// A plain-text table with aligned columns (also valid Markdown).
fn grid(out: &mut String, header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("| {} |\n", cells.join(" | "))
    };
    out.push_str(&line(&mut header.iter().copied()));
    out.push_str(&line(
        &mut widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    ));
    for row in &rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_labelled_in_binary_units() {
        assert_eq!(size_label(64), "64 B");
        assert_eq!(size_label(4096), "4 KiB");
        assert_eq!(size_label(4 << 20), "4 MiB");
    }

    #[test]
    fn a_grid_aligns_its_columns_as_a_markdown_table() {
        let mut out = String::new();
        grid(
            &mut out,
            &["a", "bb"],
            [vec!["xyz".into(), "1".into()]].into_iter(),
        );
        assert_eq!(out, "| a   | bb |\n| --- | -- |\n| xyz | 1  |\n");
    }
}
