//! Scenario 2: one producer process streams items to one consumer
//! process as fast as it takes them, losslessly, for each payload size;
//! the consumer checks every item (in order, every byte) and times the
//! rounds. The floor for large payloads is one process writing then
//! reading the same bytes (`Role::Alone`).

use super::{Report, Role, Rounds, median};
use crate::plan::STREAM_SIZES;
use crate::report::ThroughputRow;
use crate::runner::Ctx;
use crate::transport::{System, Waiting};

/// The systems, and how each waits (see `latency::SYSTEMS` for ZeroMQ).
pub(crate) const SYSTEMS: [(System, Waiting); 3] = [
    (System::DataHub, Waiting::Spin),
    (System::Iceoryx2, Waiting::Spin),
    (System::ZeroMq, Waiting::Block),
];

/// Payloads from this size on get the one-process floor.
const FLOOR_FROM: usize = 1 << 20;

pub(crate) fn run(ctx: &mut Ctx) -> Vec<ThroughputRow> {
    let mut rows = Vec::new();
    for size in STREAM_SIZES {
        let rounds = ctx.plan.stream(size);
        if size >= FLOOR_FROM && ctx.compares(System::Floor) {
            let case = format!("throughput floor {size} B");
            let roles = vec![("alone".to_owned(), Role::Alone { size, rounds })];
            if let Some(reports) = ctx.run(&case, roles) {
                rows.extend(row(ctx, &case, System::Floor, size, rounds, &reports[0]));
            }
        }
        for (system, waiting) in SYSTEMS {
            if !ctx.compares(system) {
                continue;
            }
            let case = format!("throughput {} {size} B", system.label());
            let link = ctx.link(system, size, waiting);
            let roles = vec![
                (
                    "producer".to_owned(),
                    Role::Produce {
                        link: link.clone(),
                        rounds,
                    },
                ),
                ("consumer".to_owned(), Role::Consume { link, rounds }),
            ];
            if let Some(reports) = ctx.run(&case, roles) {
                rows.extend(row(ctx, &case, system, size, rounds, &reports[1]));
            }
        }
    }
    for i in 0..rows.len() {
        let floor = rows
            .iter()
            .find(|r| r.system == System::Floor.label() && r.size == rows[i].size)
            .map(|r| r.median_msgs_per_s);
        rows[i].ratio_to_floor = floor.map(|f| rows[i].median_msgs_per_s / f);
    }
    rows
}

/// A row from the consumer's (or the floor's) report.
pub(crate) fn row(
    ctx: &mut Ctx,
    case: &str,
    system: System,
    size: usize,
    rounds: Rounds,
    report: &Report,
) -> Option<ThroughputRow> {
    let rates = match rates(report, rounds) {
        Ok(rates) => rates,
        Err(e) => return ctx.fail(case, e),
    };
    let median_rate = median(&rates)?;
    let Report::Stream { items, .. } = report else {
        return None;
    };
    Some(ThroughputRow {
        system: system.label().into(),
        size,
        median_msgs_per_s: median_rate,
        median_gb_per_s: median_rate * size as f64 / 1e9,
        min_msgs_per_s: rates.iter().copied().fold(f64::INFINITY, f64::min),
        max_msgs_per_s: rates.iter().copied().fold(0.0, f64::max),
        round_msgs_per_s: rates,
        items: *items,
        ratio_to_floor: None,
    })
}

/// Items per second of each round of a stream report, after checking
/// that every item was there.
pub(crate) fn rates(report: &Report, rounds: Rounds) -> anyhow::Result<Vec<f64>> {
    let Report::Stream { items, round_ns } = report else {
        anyhow::bail!("expected a stream report, got {report:?}");
    };
    anyhow::ensure!(
        *items == rounds.total() && round_ns.len() == rounds.rounds as usize,
        "{items} items in {} rounds, expected {} in {}",
        round_ns.len(),
        rounds.total(),
        rounds.rounds
    );
    anyhow::ensure!(
        round_ns.iter().all(|&ns| ns > 0),
        "a round took no time: {round_ns:?}"
    );
    Ok(round_ns
        .iter()
        .map(|&ns| rounds.per_round as f64 * 1e9 / ns as f64)
        .collect())
}
