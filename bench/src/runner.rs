//! A run: each selected scenario in turn, each case in its own peer
//! processes with names unique to the run and the case, everything the
//! case made removed afterwards; a case that fails is recorded and the
//! run goes on.

use std::time::Instant;

use anyhow::Result;

use crate::peer::{self, Machine};
use crate::plan::{DEPTH, Plan};
use crate::report::Results;
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
    /// `dhb-<pid>-`: the start of every name this run makes.
    prefix: String,
    cases: u32,
    failures: Vec<String>,
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
        let started = Instant::now();
        let outcome = peer::run_peers(&roles, self.plan.case_timeout);
        transport::sweep(&self.prefix);
        match outcome {
            Ok(reports) => {
                eprintln!("  {case}: {:.1} s", started.elapsed().as_secs_f64());
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
pub(crate) fn run(plan: Plan, scenarios: &[Scenario], systems: &[System]) -> Result<Results> {
    let started = Instant::now();
    let mut ctx = Ctx {
        plan,
        systems: systems.to_vec(),
        prefix: format!("dhb-{}-", std::process::id()),
        cases: 0,
        failures: Vec::new(),
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
