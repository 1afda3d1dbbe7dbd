//! The scenarios of issue 8. Each has a parent side (which peers to run,
//! and how their reports become rows of the results) in its own module,
//! and the peers' side here: the [`Role`]s a peer process can play.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use blake2::{Blake2b256, Digest};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::payload;
use crate::plan::DEPTH;
use crate::transport::{self, Link, Side};

pub(crate) mod checksum;
pub(crate) mod fanout;
pub(crate) mod idle;
pub(crate) mod latency;
pub(crate) mod throughput;

/// How many items a timed stream has: `warmup` untimed, then `rounds`
/// rounds of `per_round`, back to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rounds {
    pub(crate) warmup: u64,
    pub(crate) per_round: u64,
    pub(crate) rounds: u32,
}

impl Rounds {
    pub(crate) fn total(&self) -> u64 {
        self.warmup + self.per_round * u64::from(self.rounds)
    }

    /// Whether item `i` starts a round (or ends the last one).
    fn is_mark(&self, i: u64) -> bool {
        i >= self.warmup && (i - self.warmup).is_multiple_of(self.per_round) && i <= self.total()
    }
}

/// What a peer process does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Role {
    /// Ping-pong, side A: sends item `i`, waits for the answer, records the
    /// round trip.
    Ping { link: Link, rounds: Rounds },
    /// Ping-pong, side B: answers every item.
    Pong { link: Link, rounds: Rounds },
    /// Streams items as fast as the consumers take them.
    Produce { link: Link, rounds: Rounds },
    /// Receives every item, in order.
    Consume { link: Link, rounds: Rounds },
    /// Attaches to a channel no one writes and waits in `next()`.
    Idle { channel: String, wait: Duration },
    /// The large-payload floor: one process writes then reads the same
    /// bytes, over as many buffers as the others' rings hold.
    Alone { size: usize, rounds: Rounds },
    /// BLAKE2b-256 of items of `size` bytes (sequence number and payload,
    /// as the runtime hashes them), as fast as one core goes.
    Hash { size: usize, rounds: Rounds },
}

/// What a peer reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Report {
    /// One-way latencies (half the round trip), in nanoseconds.
    Latency(LatencyReport),
    /// Items sent or received, and the duration of each round.
    Stream { items: u64, round_ns: Vec<u64> },
    /// Process CPU time used while waiting `wall_ns`, and how it ended.
    Idle {
        cpu_ns: u64,
        wall_ns: u64,
        outcome: String,
    },
    /// Done, nothing to report.
    Done,
}

/// The round trips of a ping-pong, in nanoseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct LatencyReport {
    /// The one-way median (round trip / 2) of each round.
    pub(crate) round_p50: Vec<f64>,
    /// Every timed round trip, as the HDR histogram's recorded values and
    /// their counts, so that the parent can merge the runs of a case.
    pub(crate) rtt_counts: Vec<(u64, u64)>,
}

/// An HDR histogram of round trips in nanoseconds (1 ns to 60 s, 3
/// significant digits).
pub(crate) fn rtt_histogram() -> Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).context("a histogram")
}

impl Role {
    /// Plays the role (in a peer process).
    pub(crate) fn run(self) -> Result<Report> {
        match self {
            Role::Ping { link, rounds } => ping(&link, rounds).map(Report::Latency),
            Role::Pong { link, rounds } => {
                let mut end = transport::open(&link, Side::B)?;
                crate::peer::pin_this_thread();
                for i in 0..rounds.total() {
                    let got = end.recv()?;
                    ensure!(got == i, "pong: expected item {i}, got {got}");
                    end.send(i)?;
                }
                // As a producer does: not before side A has the last answer.
                transport::wait_done(&link)?;
                drop(end);
                Ok(Report::Done)
            }
            Role::Produce { link, rounds } => {
                let mut end = transport::open(&link, Side::Producer)?;
                crate::peer::pin_this_thread();
                let report = stream(rounds, |i| {
                    end.send(i).with_context(|| format!("sending item {i}"))
                })?;
                // Not before every consumer has everything: a ZeroMQ peer
                // that disconnects drops what it has not handed over yet.
                transport::wait_done(&link)?;
                drop(end);
                Ok(report)
            }
            Role::Consume { link, rounds } => {
                let mut end = transport::open(&link, Side::Consumer)?;
                crate::peer::pin_this_thread();
                let report = stream(rounds, |i| {
                    let got = end.recv().with_context(|| format!("receiving item {i}"))?;
                    ensure!(
                        got == i,
                        "consumer: expected item {i}, got {got} (lost or reordered)"
                    );
                    Ok(())
                })?;
                transport::say_done(&link)?;
                Ok(report)
            }
            Role::Idle { channel, wait } => idle::wait_idle(&channel, wait),
            Role::Hash { size, rounds } => {
                let mut buffer = vec![0; size];
                payload::fill(&mut buffer, 1);
                let mut sink = 0u8;
                let report = stream(rounds, |i| {
                    let mut hasher = Blake2b256::new();
                    hasher.update(i.to_le_bytes());
                    hasher.update(std::hint::black_box(&buffer));
                    sink ^= hasher.finalize()[0];
                    Ok(())
                });
                std::hint::black_box(sink);
                report
            }
            Role::Alone { size, rounds } => {
                crate::peer::pin_this_thread();
                let mut buffers: Vec<Vec<u8>> = (0..DEPTH).map(|_| vec![0; size]).collect();
                stream(rounds, |i| {
                    let buf = &mut buffers[(i % u64::from(DEPTH)) as usize];
                    payload::fill(buf, i);
                    // Opaque: the reads below must read memory, not the
                    // values just computed.
                    let got = payload::check(std::hint::black_box(buf))?;
                    ensure!(got == i, "floor: expected item {i}, got {got}");
                    Ok(())
                })
            }
        }
    }
}

/// Side A of a ping-pong: one histogram of round trips per round.
fn ping(link: &Link, rounds: Rounds) -> Result<LatencyReport> {
    let mut end = transport::open(link, Side::A)?;
    crate::peer::pin_this_thread();
    let mut all = rtt_histogram()?;
    let mut round = rtt_histogram()?;
    let mut round_p50 = Vec::new();
    for i in 0..rounds.total() {
        let started = Instant::now();
        end.send(i)?;
        let got = end.recv()?;
        let rtt = started.elapsed();
        ensure!(got == i, "ping: expected the answer to item {i}, got {got}");
        if i < rounds.warmup {
            continue;
        }
        let ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX).max(1);
        round.saturating_record(ns);
        if (i + 1 - rounds.warmup).is_multiple_of(rounds.per_round) {
            round_p50.push(round.value_at_quantile(0.5) as f64 / 2.0);
            all.add(&round).context("merging histograms")?;
            round.reset();
        }
    }
    transport::say_done(link)?;
    Ok(LatencyReport {
        round_p50,
        rtt_counts: all
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect(),
    })
}

/// Runs `step` for every item of `rounds`, timing each round.
fn stream(rounds: Rounds, mut step: impl FnMut(u64) -> Result<()>) -> Result<Report> {
    let mut marks = Vec::with_capacity(rounds.rounds as usize + 1);
    for i in 0..rounds.total() {
        if rounds.is_mark(i) {
            marks.push(Instant::now());
        }
        step(i)?;
    }
    marks.push(Instant::now());
    let round_ns = marks
        .windows(2)
        .map(|w| u64::try_from((w[1] - w[0]).as_nanos()).unwrap_or(u64::MAX))
        .collect();
    Ok(Report::Stream {
        items: rounds.total(),
        round_ns,
    })
}

/// The median of `values` (the mean of the two middle ones for an even
/// count); `None` when there are none.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_marked_after_the_warmup_and_at_the_end() {
        let r = Rounds {
            warmup: 3,
            per_round: 2,
            rounds: 2,
        };
        let marks: Vec<u64> = (0..r.total()).filter(|&i| r.is_mark(i)).collect();
        assert_eq!(marks, [3, 5]);
        assert_eq!(r.total(), 7);
    }

    #[test]
    fn the_median_of_an_odd_and_an_even_count() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
