//! Scenario 3: DataHub, one producer process to four consumer processes,
//! 4 KiB, lossless (Block): the producer's rate and each consumer's.
//! Five processes on this machine's cores cannot all busy-poll, so every
//! end waits with DataHub's default strategy (spin, yield, then futex).

use super::{Report, Role, median};
use crate::plan::{FANOUT_CONSUMERS, FANOUT_SIZE};
use crate::report::FanoutRow;
use crate::runner::Ctx;
use crate::scenario::latency::waiting_label;
use crate::scenario::throughput::rates;
use crate::transport::{System, Waiting};

pub(crate) fn run(ctx: &mut Ctx) -> Option<FanoutRow> {
    let rounds = ctx.plan.fanout();
    let waiting = Waiting::Sleep;
    let mut link = ctx.link(System::DataHub, FANOUT_SIZE, waiting);
    link.consumers = FANOUT_CONSUMERS;
    let case = "fan-out DataHub 1 -> 4";
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
    let reports = ctx.run(case, roles)?;
    let mut medians = Vec::new();
    let mut items = Vec::new();
    for report in &reports {
        match rates(report, rounds) {
            Ok(r) => medians.push(median(&r)?),
            Err(e) => return ctx.fail(case, e),
        }
        if let Report::Stream { items: n, .. } = report {
            items.push(*n);
        }
    }
    Some(FanoutRow {
        size: FANOUT_SIZE,
        waiting: waiting_label(waiting).into(),
        producer_msgs_per_s: medians[0],
        consumer_msgs_per_s: medians[1..].to_vec(),
        consumer_items: items[1..].to_vec(),
    })
}
