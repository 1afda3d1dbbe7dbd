//! Scenario 5: the CPU a DataHub consumer uses while it waits in
//! `next()` for an item that does not come (its producer alive and
//! idle), with the default wait strategy: spin briefly, yield, then
//! sleep on the channel's futex (re-checking at least every 100 ms).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use datahub::{AttachOptions, Bytes, ChannelConfig, Consumer, ErrorKind, Producer};

use super::{Report, Role};
use crate::report::IdleRow;
use crate::runner::Ctx;
use crate::transport::{System, Waiting, retry};

pub(crate) fn run(ctx: &mut Ctx) -> Option<IdleRow> {
    let case = "idle DataHub consumer";
    let link = ctx.link(System::DataHub, 64, Waiting::Sleep);
    let channel = format!("{}-idle", link.tag);
    // The producer lives in this process, alive and silent.
    let producer = match Producer::<Bytes>::create(&ChannelConfig::new(&channel).slot_size(64)) {
        Ok(p) => p,
        Err(e) => return ctx.fail(case, e.into()),
    };
    let wait = ctx.plan.idle_wait;
    let reports = ctx.run(
        case,
        vec![("idle consumer".to_owned(), Role::Idle { channel, wait })],
    );
    drop(producer);
    match reports?.first() {
        Some(Report::Idle {
            cpu_ns,
            wall_ns,
            outcome,
        }) => Some(IdleRow {
            wait_s: *wall_ns as f64 / 1e9,
            cpu_ms: *cpu_ns as f64 / 1e6,
            cpu_percent_of_core: *cpu_ns as f64 / *wall_ns as f64 * 100.0,
            outcome: outcome.clone(),
        }),
        other => ctx.fail(
            case,
            anyhow::anyhow!("expected an idle report, got {other:?}"),
        ),
    }
}

/// The peer's side: attach, then wait `wait` in `next()` and measure the
/// process's CPU time over it.
pub(crate) fn wait_idle(channel: &str, wait: Duration) -> Result<Report> {
    let consumer = retry(&format!("attaching to `{channel}`"), || {
        Ok(Consumer::<Bytes>::attach_with(
            channel,
            &AttachOptions::default(),
        )?)
    })?;
    let cpu = || {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    };
    let (cpu_before, started) = (cpu(), Instant::now());
    let outcome = match consumer.next(wait) {
        Err(e) if matches!(e.kind(), ErrorKind::Timeout { .. }) => {
            "next() timed out, as expected".to_owned()
        }
        Ok(slot) => bail!("an item ({}) came on an idle channel", slot.seq()),
        Err(e) => return Err(e).context("waiting on an idle channel"),
    };
    let wall = started.elapsed();
    let cpu_ns = cpu() - cpu_before;
    Ok(Report::Idle {
        cpu_ns,
        wall_ns: u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
        outcome,
    })
}
