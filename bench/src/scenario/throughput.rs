//! Scenario 2: one producer process streams items to one consumer
//! process as fast as it takes them, losslessly, for each payload size;
//! the consumer checks every item (in order, every byte) and times the
//! rounds. The floor for large payloads is one process writing then
//! reading the same bytes (`Role::Alone`).

use super::{Report, Role, Rounds, median};
use crate::plan::STREAM_SIZES;
use crate::report::ThroughputRow;
use crate::runner::Ctx;
use crate::transport::{Link, System, Waiting};

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
        let mut systems: Vec<(System, Waiting)> = SYSTEMS
            .into_iter()
            .filter(|(system, _)| ctx.compares(*system))
            .collect();
        if size >= FLOOR_FROM && ctx.compares(System::Floor) {
            systems.insert(0, (System::Floor, Waiting::Spin));
        }
        // Runs of fresh processes, the systems taking turns (see latency).
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); systems.len()];
        for run in 0..ctx.plan.runs {
            for (i, &(system, waiting)) in systems.iter().enumerate() {
                let case = format!("throughput {} {size} B run {}", system.label(), run + 1);
                let link = ctx.link(system, size, waiting);
                let found = if system == System::Floor {
                    let roles = vec![("alone".to_owned(), Role::Alone { size, rounds })];
                    ctx.run(&case, roles).map(|mut r| r.remove(0))
                } else {
                    stream_case(ctx, &case, link, rounds)
                };
                if let Some(report) = found {
                    match round_rates(&report, rounds) {
                        Ok(r) => rates[i].extend(r),
                        Err(e) => {
                            ctx.fail::<()>(&case, e);
                        }
                    }
                }
            }
        }
        for (&(system, _), rates) in systems.iter().zip(rates) {
            rows.extend(row(system, size, rounds, rates));
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

/// Runs one producer and one consumer over `link`; returns the consumer's report.
pub(crate) fn stream_case(ctx: &mut Ctx, case: &str, link: Link, rounds: Rounds) -> Option<Report> {
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
    ctx.run(case, roles).map(|mut r| r.remove(1))
}

/// A row from the rates of every round of every run.
pub(crate) fn row(
    system: System,
    size: usize,
    rounds: Rounds,
    rates: Vec<f64>,
) -> Option<ThroughputRow> {
    let median_rate = median(&rates)?;
    Some(ThroughputRow {
        system: system.label().into(),
        size,
        median_msgs_per_s: median_rate,
        median_gb_per_s: median_rate * size as f64 / 1e9,
        min_msgs_per_s: rates.iter().copied().fold(f64::INFINITY, f64::min),
        max_msgs_per_s: rates.iter().copied().fold(0.0, f64::max),
        items: rounds.total() * (rates.len() as u64 / u64::from(rounds.rounds.max(1))),
        round_msgs_per_s: rates,
        ratio_to_floor: None,
    })
}

/// Items per second of each round of a stream report, after checking
/// that every item was there.
pub(crate) fn round_rates(report: &Report, rounds: Rounds) -> anyhow::Result<Vec<f64>> {
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
