//! Scenario 1: ping-pong of a 64-byte payload between two processes,
//! busy-polling; one way = round trip / 2, from an HDR histogram.

use super::{Report, Role, median};
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
    let mut rows = Vec::new();
    for (system, waiting) in SYSTEMS {
        if !ctx.compares(system) {
            continue;
        }
        let link = ctx.link(system, LATENCY_SIZE, waiting);
        let case = format!("latency {} ({})", system.label(), waiting_label(waiting));
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
        let Some(Report::Latency(l)) = reports.into_iter().next() else {
            ctx.fail::<()>(
                &case,
                anyhow::anyhow!("the ping peer reported no latencies"),
            );
            continue;
        };
        rows.push(LatencyRow {
            system: system.label().into(),
            waiting: waiting_label(waiting).into(),
            median_ns: median(&l.round_p50).unwrap_or(f64::NAN),
            p50_ns: l.p50,
            p99_ns: l.p99,
            p999_ns: l.p999,
            min_ns: l.min,
            max_ns: l.max,
            round_p50_ns: l.round_p50,
            round_trips: l.count,
            ratio_to_floor: None,
        });
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

pub(crate) fn waiting_label(waiting: Waiting) -> &'static str {
    match waiting {
        Waiting::Spin => "busy-poll",
        Waiting::Sleep => "spin, yield, futex",
        Waiting::Block => "blocking calls",
    }
}
