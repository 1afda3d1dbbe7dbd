//! Scenario 4: DataHub 1 -> 1 throughput with `ChecksumPolicy::Enforced`
//! (the producer hashes each item at commit, the consumer verifies it
//! before reading) against `None`, at 4 KiB and 1 MiB, and BLAKE2b-256
//! alone over the same bytes (the sequence number and the payload, as
//! the runtime hashes them), in peer processes: on one core with the
//! other idle, and on both cores at once. Producer and consumer hash on
//! two cores at once, so the cost per item of a pipeline that keeps up
//! is one hash made while the other core hashes too: the ratio compares
//! with that (on this VM two busy vCPUs slow each other down; alone, a
//! hash runs faster than either side of the pipeline can).

use super::{Role, Rounds, median};
use crate::plan::CHECKSUM_SIZES;
use crate::report::ChecksumRow;
use crate::runner::Ctx;
use crate::scenario::throughput::{round_rates, stream_case};
use crate::transport::{System, Waiting};

pub(crate) fn run(ctx: &mut Ctx) -> Vec<ChecksumRow> {
    let mut rows = Vec::new();
    for size in CHECKSUM_SIZES {
        let rounds = ctx.plan.stream(size);
        // [None, Enforced] rates, and BLAKE2b's ns per item [alone, on
        // both cores at once], taking turns over the runs.
        let mut rates = [Vec::new(), Vec::new()];
        let mut hash_ns = [Vec::new(), Vec::new()];
        for run in 0..ctx.plan.runs {
            for (checksum, rates) in [false, true].into_iter().zip(&mut rates) {
                let policy = if checksum { "Enforced" } else { "None" };
                let case = format!("checksum {policy} {size} B run {}", run + 1);
                let mut link = ctx.link(System::DataHub, size, Waiting::Spin);
                link.checksum = checksum;
                if let Some(report) = stream_case(ctx, &case, link, rounds) {
                    match round_rates(&report, rounds) {
                        Ok(r) => rates.extend(r),
                        Err(e) => {
                            ctx.fail::<()>(&case, e);
                        }
                    }
                }
            }
            let hashing = Rounds {
                warmup: rounds.per_round / 10 + 1,
                per_round: rounds.per_round / 2 + 1,
                rounds: rounds.rounds,
            };
            for (peers, ns) in [1, 2].into_iter().zip(&mut hash_ns) {
                let case = format!("BLAKE2b {size} B on {peers} core(s) run {}", run + 1);
                let roles = (0..peers)
                    .map(|i| {
                        (
                            format!("hash {i}"),
                            Role::Hash {
                                size,
                                rounds: hashing,
                            },
                        )
                    })
                    .collect();
                for report in ctx.run(&case, roles).unwrap_or_default() {
                    match round_rates(&report, hashing) {
                        Ok(r) => ns.extend(r.iter().map(|rate| 1e9 / rate)),
                        Err(e) => {
                            ctx.fail::<()>(&case, e);
                        }
                    }
                }
            }
        }
        let (Some(none), Some(enforced), Some(alone), Some(both)) = (
            median(&rates[0]),
            median(&rates[1]),
            median(&hash_ns[0]),
            median(&hash_ns[1]),
        ) else {
            continue;
        };
        let cost = 1e9 / enforced - 1e9 / none;
        rows.push(ChecksumRow {
            size,
            none_msgs_per_s: none,
            enforced_msgs_per_s: enforced,
            enforced_cost_ns: cost,
            blake2b_ns: alone,
            blake2b_gb_per_s: (size + 8) as f64 / alone,
            blake2b_both_cores_ns: both,
            cost_ratio: cost / both,
        });
    }
    rows
}
