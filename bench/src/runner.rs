//! A run: each selected scenario in turn, each case in its own peer
//! processes with names unique to the run and the case, everything the
//! case made removed afterwards; a case that fails is recorded and the
//! run goes on.

use std::time::Instant;

use anyhow::Result;

use crate::peer::{self, Machine};
use crate::plan::{DEPTH, Plan};
use crate::report::{CaseLoad, Results};
use crate::scenario::{self, Report, Role};
use crate::transport::{self, Link, System, Waiting};

/// The scenarios, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scenario {
    Latency,
    Throughput,
    Fanout,
    Checksum,
    Idle,
}

/// What the scenarios share during a run.
pub(crate) struct Ctx {
    pub(crate) plan: Plan,
    /// The systems compared in the latency and throughput scenarios
    /// (empty: all).
    systems: Vec<System>,
    /// Whether the peers of one- and two-peer cases get a CPU each.
    pin: bool,
    /// `dhb-<pid>-`: the start of every name this run makes.
    prefix: String,
    cases: u32,
    failures: Vec<String>,
    quiet: Vec<CaseLoad>,
}

impl Ctx {
    /// Whether `system` is compared in this run.
    pub(crate) fn compares(&self, system: System) -> bool {
        self.systems.is_empty() || self.systems.contains(&system)
    }

    /// A link of `system` with a name unique to this case.
    pub(crate) fn link(&mut self, system: System, size: usize, waiting: Waiting) -> Link {
        self.cases += 1;
        Link {
            system,
            tag: format!("{}{}", self.prefix, self.cases),
            size,
            depth: DEPTH,
            consumers: 1,
            checksum: false,
            waiting,
        }
    }

    /// Runs one case's peers; on failure records it under `case` and
    /// returns `None`. Afterwards removes whatever the case left.
    pub(crate) fn run(&mut self, case: &str, roles: Vec<(String, Role)>) -> Option<Vec<Report>> {
        let (busy, waited) = settle(self.plan.settle);
        self.quiet.push(CaseLoad {
            case: case.to_owned(),
            busy_percent: busy * 100.0,
            waited_s: waited.as_secs_f64(),
        });
        let started = Instant::now();
        // Cases of one or two peers get a core each; the fan-out's five
        // processes are left to the scheduler.
        let pin = self.pin && roles.len() <= 2;
        let outcome = peer::run_peers(&roles, self.plan.case_timeout, pin);
        transport::sweep(&self.prefix);
        match outcome {
            Ok(reports) => {
                eprintln!(
                    "  {case}: {:.1} s (machine {:.0}% busy before{})",
                    started.elapsed().as_secs_f64(),
                    busy * 100.0,
                    if waited.is_zero() {
                        String::new()
                    } else {
                        format!(
                            ", after waiting {:.1} s for it to settle",
                            waited.as_secs_f64()
                        )
                    }
                );
                Some(reports)
            }
            Err(e) => self.fail(case, e),
        }
    }

    /// Records that `case` failed.
    pub(crate) fn fail<T>(&mut self, case: &str, e: anyhow::Error) -> Option<T> {
        eprintln!("  {case}: FAILED: {e:#}");
        self.failures.push(format!("{case}: {e:#}"));
        None
    }
}

/// Runs `scenarios` (all when empty) with `plan`, comparing `systems`
/// (all when empty).
pub(crate) fn run(
    plan: Plan,
    scenarios: &[Scenario],
    systems: &[System],
    pin: bool,
) -> Result<Results> {
    let started = Instant::now();
    let mut ctx = Ctx {
        plan,
        systems: systems.to_vec(),
        pin,
        prefix: format!("dhb-{}-", std::process::id()),
        cases: 0,
        failures: Vec::new(),
        quiet: Vec::new(),
    };
    let mut results = Results {
        mode: plan.mode,
        machine: Machine::here(),
        seconds: 0.0,
        load_before: load_average(),
        load_after: String::new(),
        latency: Vec::new(),
        throughput: Vec::new(),
        fanout: None,
        checksums: Vec::new(),
        idle: None,
        targets: Vec::new(),
        failures: Vec::new(),
        case_load: Vec::new(),
    };
    let wanted = |s: Scenario| scenarios.is_empty() || scenarios.contains(&s);
    if wanted(Scenario::Latency) {
        eprintln!("latency (64 B ping-pong)");
        results.latency = scenario::latency::run(&mut ctx);
    }
    if wanted(Scenario::Throughput) {
        eprintln!("throughput (1 -> 1)");
        results.throughput = scenario::throughput::run(&mut ctx);
    }
    if wanted(Scenario::Fanout) {
        eprintln!("fan-out (1 -> 4)");
        results.fanout = scenario::fanout::run(&mut ctx);
    }
    if wanted(Scenario::Checksum) {
        eprintln!("checksums (Enforced vs None)");
        results.checksums = scenario::checksum::run(&mut ctx);
    }
    if wanted(Scenario::Idle) {
        eprintln!("idle consumer");
        results.idle = scenario::idle::run(&mut ctx);
    }
    transport::sweep(&ctx.prefix);
    results.failures = ctx.failures;
    results.case_load = ctx.quiet;
    results.seconds = started.elapsed().as_secs_f64();
    results.load_after = load_average();
    results.judge();
    Ok(results)
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Other work on the machine skews two-process figures (this machine has
/// two cores, shared with builds): before a case, waits up to `patience`
/// for the machine to be nearly idle (under 10% busy over 200 ms).
/// Returns how busy it was when the case started and how long it waited.
fn settle(patience: std::time::Duration) -> (f64, std::time::Duration) {
    let started = Instant::now();
    if patience.is_zero() {
        // The smoke test: a glance, no waiting.
        return (
            busy_fraction(std::time::Duration::from_millis(10)),
            patience,
        );
    }
    loop {
        let busy = busy_fraction(std::time::Duration::from_millis(200));
        if busy < 0.10 || started.elapsed() >= patience {
            // The first look is not waiting.
            let waited = started
                .elapsed()
                .saturating_sub(std::time::Duration::from_millis(200));
            return (busy, waited);
        }
    }
}

/// The fraction of all CPUs' time spent busy over `window` (/proc/stat).
fn busy_fraction(window: std::time::Duration) -> f64 {
    let sample = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
        let fields: Vec<u64> = cpu
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal ...
        let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
        Some((fields.iter().take(8).sum(), idle))
    };
    let Some((total0, idle0)) = sample() else {
        return 0.0;
    };
    std::thread::sleep(window);
    let Some((total1, idle1)) = sample() else {
        return 0.0;
    };
    let total = total1.saturating_sub(total0).max(1);
    1.0 - idle1.saturating_sub(idle0) as f64 / total as f64
}
