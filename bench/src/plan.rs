//! How long each scenario runs: the full run, `--quick`, and the smoke
//! test's few items. Every mode warms up before timing and times several
//! rounds (the smoke test: one) whose median is reported.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scenario::Rounds;

/// A run's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub(crate) enum Mode {
    /// Under 10 minutes on a 2-core machine.
    Full,
    /// Under 2 minutes.
    Quick,
    /// A few items per case: checks that every scenario works.
    Smoke,
}

/// Payload sizes of the throughput scenario.
pub(crate) const STREAM_SIZES: [usize; 4] = [64, 4 << 10, 1 << 20, 4 << 20];
/// Payload sizes of the checksum scenario.
pub(crate) const CHECKSUM_SIZES: [usize; 2] = [4 << 10, 1 << 20];
/// The latency payload.
pub(crate) const LATENCY_SIZE: usize = 64;
/// The fan-out payload, and its consumers.
pub(crate) const FANOUT_SIZE: usize = 4 << 10;
pub(crate) const FANOUT_CONSUMERS: u32 = 4;
/// Ring slots (DataHub), subscriber buffer (iceoryx2), high-water mark
/// (ZeroMQ) and buffers of the one-process floor: the same for all.
pub(crate) const DEPTH: u32 = 8;

/// The lengths a mode gives each scenario.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) mode: Mode,
    /// Runs of each case, each in fresh processes, the systems taking
    /// turns; and timed rounds per run.
    pub(crate) runs: u32,
    pub(crate) rounds: u32,
    /// Round trips per latency round, and before the first.
    pub(crate) latency_per_round: u64,
    pub(crate) latency_warmup: u64,
    /// Bytes per throughput round, bounded by items per round.
    pub(crate) stream_bytes: u64,
    pub(crate) stream_max_items: u64,
    pub(crate) stream_min_items: u64,
    /// Items per fan-out round.
    pub(crate) fanout_per_round: u64,
    /// How long the idle consumer waits.
    pub(crate) idle_wait: Duration,
    /// Longest a case's peers may run before they are killed.
    pub(crate) case_timeout: Duration,
    /// Longest a case waits for the machine to be nearly idle first.
    pub(crate) settle: Duration,
}

impl Plan {
    pub(crate) fn of(mode: Mode) -> Self {
        match mode {
            Mode::Full => Self {
                mode,
                runs: 5,
                rounds: 3,
                latency_per_round: 30_000,
                latency_warmup: 10_000,
                stream_bytes: 1 << 30,
                stream_max_items: 1_000_000,
                stream_min_items: 64,
                fanout_per_round: 100_000,
                idle_wait: Duration::from_secs(2),
                case_timeout: Duration::from_secs(240),
                settle: Duration::from_secs(20),
            },
            Mode::Quick => Self {
                mode,
                runs: 3,
                rounds: 2,
                latency_per_round: 15_000,
                latency_warmup: 5_000,
                stream_bytes: 512 << 20,
                stream_max_items: 300_000,
                stream_min_items: 64,
                fanout_per_round: 40_000,
                idle_wait: Duration::from_secs(2),
                case_timeout: Duration::from_secs(90),
                settle: Duration::from_secs(3),
            },
            Mode::Smoke => Self {
                mode,
                runs: 1,
                rounds: 1,
                latency_per_round: 50,
                latency_warmup: 10,
                stream_bytes: 0,
                stream_max_items: 20,
                stream_min_items: 20,
                fanout_per_round: 50,
                idle_wait: Duration::from_millis(200),
                case_timeout: Duration::from_secs(60),
                settle: Duration::ZERO,
            },
        }
    }

    pub(crate) fn latency(&self) -> Rounds {
        Rounds {
            warmup: self.latency_warmup,
            per_round: self.latency_per_round,
            rounds: self.rounds,
        }
    }

    /// Items of a throughput case with payloads of `size` bytes: a round
    /// moves about `stream_bytes`; the warm-up is a fifth of a round (at
    /// least twice the ring, so every slot is written before timing).
    pub(crate) fn stream(&self, size: usize) -> Rounds {
        let per_round =
            (self.stream_bytes / size as u64).clamp(self.stream_min_items, self.stream_max_items);
        Rounds {
            warmup: (per_round / 5).max(2 * u64::from(DEPTH)),
            per_round,
            rounds: self.rounds,
        }
    }

    pub(crate) fn fanout(&self) -> Rounds {
        Rounds {
            warmup: (self.fanout_per_round / 5).max(2 * u64::from(DEPTH)),
            per_round: self.fanout_per_round,
            rounds: self.rounds,
        }
    }
}
