//! Scenario 1: ping-pong of a 64-byte payload between two processes,
//! busy-polling; one way = round trip / 2, from an HDR histogram.

use super::{LatencyReport, Report, Role, median, rtt_histogram};
use crate::plan::LATENCY_SIZE;
use crate::report::LatencyRow;
use crate::runner::Ctx;
use crate::transport::{System, Waiting};

/// The systems, and how each waits. ZeroMQ runs twice: `DONTWAIT`
/// polling (like the others), and blocking calls, which let its I/O
/// threads have a core (on two cores, polling starves them).
const SYSTEMS: [(System, Waiting); 6] = [
    (System::Floor, Waiting::Spin),
    (System::DataHub, Waiting::Spin),
    (System::Iceoryx2, Waiting::Spin),
    (System::ZeroMq, Waiting::Spin),
    (System::ZeroMq, Waiting::Block),
    (System::Uds, Waiting::Spin),
];

pub(crate) fn run(ctx: &mut Ctx) -> Vec<LatencyRow> {
    let rounds = ctx.plan.latency();
    let systems: Vec<(System, Waiting)> = SYSTEMS
        .into_iter()
        .filter(|(system, _)| ctx.compares(*system))
        .collect();
    // Several runs of fresh process pairs, the systems taking turns, so
    // that a run's placement on the machine, or a burst of other work,
    // weighs on every system alike.
    let mut found: Vec<Vec<LatencyReport>> = vec![Vec::new(); systems.len()];
    for run in 0..ctx.plan.runs {
        for (i, &(system, waiting)) in systems.iter().enumerate() {
            let link = ctx.link(system, LATENCY_SIZE, waiting);
            let case = format!(
                "latency {} ({}) run {}",
                system.label(),
                waiting_label(waiting),
                run + 1
            );
            let roles = vec![
                (
                    "ping".to_owned(),
                    Role::Ping {
                        link: link.clone(),
                        rounds,
                    },
                ),
                ("pong".to_owned(), Role::Pong { link, rounds }),
            ];
            let Some(reports) = ctx.run(&case, roles) else {
                continue;
            };
            match reports.into_iter().next() {
                Some(Report::Latency(l)) => found[i].push(l),
                other => {
                    ctx.fail::<()>(&case, anyhow::anyhow!("expected latencies, got {other:?}"));
                }
            }
        }
    }
    let mut rows = Vec::new();
    for (&(system, waiting), reports) in systems.iter().zip(found) {
        let case = format!("latency {}", system.label());
        match row(system, waiting, &reports) {
            Ok(Some(row)) => rows.push(row),
            Ok(None) => {}
            Err(e) => {
                ctx.fail::<()>(&case, e);
            }
        }
    }
    let floor = rows
        .iter()
        .find(|r| r.system == System::Floor.label())
        .map(|r| r.median_ns);
    for row in &mut rows {
        row.ratio_to_floor = floor.map(|f| row.median_ns / f);
    }
    rows
}

/// A system's row from its runs: the median of every round's median, and
/// percentiles over every round trip of every run (one way = RTT / 2).
fn row(
    system: System,
    waiting: Waiting,
    reports: &[LatencyReport],
) -> anyhow::Result<Option<LatencyRow>> {
    if reports.is_empty() {
        return Ok(None);
    }
    let mut all = rtt_histogram()?;
    for report in reports {
        for &(value, count) in &report.rtt_counts {
            all.record_n(value, count)?;
        }
    }
    let round_p50: Vec<f64> = reports
        .iter()
        .flat_map(|r| r.round_p50.iter().copied())
        .collect();
    let one_way = |q: f64| all.value_at_quantile(q) as f64 / 2.0;
    Ok(Some(LatencyRow {
        system: system.label().into(),
        waiting: waiting_label(waiting).into(),
        median_ns: median(&round_p50).unwrap_or(f64::NAN),
        p50_ns: one_way(0.5),
        p99_ns: one_way(0.99),
        p999_ns: one_way(0.999),
        min_ns: all.min() as f64 / 2.0,
        max_ns: all.max() as f64 / 2.0,
        round_p50_ns: round_p50,
        round_trips: all.len(),
        runs: reports.len() as u32,
        ratio_to_floor: None,
    }))
}

pub(crate) fn waiting_label(waiting: Waiting) -> &'static str {
    match waiting {
        Waiting::Spin => "busy-poll",
        Waiting::Sleep => "spin, yield, futex",
        Waiting::Block => "blocking calls",
    }
}
