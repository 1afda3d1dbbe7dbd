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
    /// The lowest `probe_rtt_ns` seen in this run: the CPUs at their nearest.
    nearest: f64,
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
        let (busy, probe, waited) = settle(self.plan.settle, &mut self.nearest);
        self.quiet.push(CaseLoad {
            case: case.to_owned(),
            busy_percent: busy * 100.0,
            waited_s: waited.as_secs_f64(),
            probe_rtt_ns: probe,
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
                    "  {case}: {:.1} s (machine {:.0}% busy, line round trip {probe:.0} ns before{})",
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
        nearest: f64::INFINITY,
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

/// Other work on the machine, and where the host placed its two vCPUs,
/// skew two-process figures (this machine has two, shared with builds):
/// before a case, waits up to `patience` for the machine to be nearly
/// idle (under 10% busy over 200 ms) and its CPUs near each other (a line
/// round trip within twice the nearest seen in this run, `nearest`).
/// Returns how busy it was and the round trip when the case started, and
/// how long it waited.
fn settle(patience: std::time::Duration, nearest: &mut f64) -> (f64, f64, std::time::Duration) {
    let started = Instant::now();
    if patience.is_zero() {
        // The smoke test: a glance, no waiting.
        let busy = busy_fraction(std::time::Duration::from_millis(10));
        return (busy, probe_rtt_ns(), patience);
    }
    let first_look = std::time::Duration::from_millis(200);
    loop {
        let busy = busy_fraction(first_look);
        let probe = probe_rtt_ns();
        *nearest = nearest.min(probe);
        if busy < 0.10 && probe <= 2.0 * *nearest || started.elapsed() >= patience {
            return (busy, probe, started.elapsed().saturating_sub(first_look));
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

/// The median round trip of a cache line between two threads of this
/// process, 2000 times (about a millisecond): how far apart the two CPUs
/// are right now. On a VM the host may move the vCPUs, and two vCPUs on
/// one shared L3 pass lines several times faster than two on different
/// dies; this figure, recorded before each case, tells which it was.
fn probe_rtt_ns() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    #[repr(align(128))]
    struct Line(AtomicU64);
    const TRIPS: u64 = 2000;
    let (ping, pong) = (Line(AtomicU64::new(0)), Line(AtomicU64::new(0)));
    let mut rtts = Vec::with_capacity(TRIPS as usize);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 1..=TRIPS {
                // Acquire/Release: pairs with the other thread's store/load.
                while ping.0.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                pong.0.store(i, Ordering::Release);
            }
        });
        for i in 1..=TRIPS {
            let started = Instant::now();
            ping.0.store(i, Ordering::Release);
            while pong.0.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
            rtts.push(started.elapsed().as_nanos() as f64);
        }
    });
    crate::scenario::median(&rtts).unwrap_or(f64::NAN)
}
