//! Scenario 3: DataHub, one producer process to four consumer processes,
//! 4 KiB, lossless (Block): the producer's rate and each consumer's.
//! Five processes on this machine's cores cannot all busy-poll, so every
//! end waits with DataHub's default strategy (spin, yield, then futex).

use super::{Report, Role, median};
use crate::plan::{FANOUT_CONSUMERS, FANOUT_SIZE};
use crate::report::FanoutRow;
use crate::runner::Ctx;
use crate::scenario::latency::waiting_label;
use crate::transport::{System, Waiting};

pub(crate) fn run(ctx: &mut Ctx) -> Option<FanoutRow> {
    let rounds = ctx.plan.fanout();
    let waiting = Waiting::Sleep;
    // The producer's rates, then each consumer's, over every run.
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); 1 + FANOUT_CONSUMERS as usize];
    let mut items = vec![0u64; FANOUT_CONSUMERS as usize];
    for run in 0..ctx.plan.runs {
        let case = format!("fan-out DataHub 1 -> {FANOUT_CONSUMERS} run {}", run + 1);
        let mut link = ctx.link(System::DataHub, FANOUT_SIZE, waiting);
        link.consumers = FANOUT_CONSUMERS;
        let mut roles = vec![(
            "producer".to_owned(),
            Role::Produce {
                link: link.clone(),
                rounds,
            },
        )];
        roles.extend((1..=FANOUT_CONSUMERS).map(|i| {
            (
                format!("consumer {i}"),
                Role::Consume {
                    link: link.clone(),
                    rounds,
                },
            )
        }));
        let Some(reports) = ctx.run(&case, roles) else {
            continue;
        };
        for (i, report) in reports.iter().enumerate() {
            match crate::scenario::throughput::round_rates(report, rounds) {
                Ok(r) => rates[i].extend(r),
                Err(e) => return ctx.fail(&case, e),
            }
            if let (Some(n), Report::Stream { items: got, .. }) = (i.checked_sub(1), report) {
                items[n] += got;
            }
        }
    }
    let medians: Vec<f64> = rates.iter().map(|r| median(r)).collect::<Option<_>>()?;
    Some(FanoutRow {
        size: FANOUT_SIZE,
        waiting: waiting_label(waiting).into(),
        producer_msgs_per_s: medians[0],
        consumer_msgs_per_s: medians[1..].to_vec(),
        consumer_items: items,
    })
}
