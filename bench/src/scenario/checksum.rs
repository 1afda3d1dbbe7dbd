//! Scenario 4: DataHub 1 -> 1 throughput with `ChecksumPolicy::Enforced`
//! (the producer hashes each item at commit, the consumer verifies it
//! before reading) against `None`, at 4 KiB and 1 MiB, and BLAKE2b-256
//! alone over the same bytes (the sequence number and the payload, as
//! the runtime hashes them) on one core. Producer and consumer hash on
//! two cores at once, so the cost per item of a pipeline that keeps up
//! is one hash: that is what the ratio compares.

use std::time::Instant;

use blake2::{Blake2b256, Digest};

use super::median;
use crate::payload;
use crate::plan::CHECKSUM_SIZES;
use crate::report::ChecksumRow;
use crate::runner::Ctx;
use crate::scenario::throughput::{round_rates, stream_case};
use crate::transport::{System, Waiting};

pub(crate) fn run(ctx: &mut Ctx) -> Vec<ChecksumRow> {
    let mut rows = Vec::new();
    for size in CHECKSUM_SIZES {
        let rounds = ctx.plan.stream(size);
        // [None, Enforced], taking turns over the runs.
        let mut rates = [Vec::new(), Vec::new()];
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
        }
        let (Some(none), Some(enforced)) = (median(&rates[0]), median(&rates[1])) else {
            continue;
        };
        let blake2b_ns = blake2b_ns(size, ctx.plan.runs * ctx.plan.rounds, rounds.per_round);
        let cost = 1e9 / enforced - 1e9 / none;
        rows.push(ChecksumRow {
            size,
            none_msgs_per_s: none,
            enforced_msgs_per_s: enforced,
            enforced_cost_ns: cost,
            blake2b_ns,
            blake2b_gb_per_s: (size + 8) as f64 / blake2b_ns,
            cost_ratio: cost / blake2b_ns,
        });
    }
    rows
}

/// Median over `rounds` rounds of the time to hash one item of `size`
/// bytes, with `per_round` items a round (at least ~50 ms of hashing).
fn blake2b_ns(size: usize, rounds: u32, per_round: u64) -> f64 {
    let mut buffer = vec![0u8; size];
    payload::fill(&mut buffer, 1);
    let mut sink = 0u8;
    let mut hash = |seq: u64| {
        let mut hasher = Blake2b256::new();
        hasher.update(seq.to_le_bytes());
        hasher.update(std::hint::black_box(&buffer));
        sink ^= hasher.finalize()[0];
    };
    for seq in 0..per_round / 5 + 1 {
        hash(seq);
    }
    let per_round = per_round.max(50_000_000 / size as u64 / 2);
    let mut times = Vec::new();
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        for seq in 0..per_round {
            hash(seq);
        }
        times.push(started.elapsed().as_nanos() as f64 / per_round as f64);
    }
    std::hint::black_box(sink);
    median(&times).unwrap_or(f64::NAN)
}
