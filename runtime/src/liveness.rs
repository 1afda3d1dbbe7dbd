//! Liveness on the producer's side (DESIGN.md §7): when a consumer blocks
//! the producer, find out why. A consumer whose process died is removed
//! (its entry freed, its read mark cleared); a live consumer that has not
//! read for longer than the stall timeout stops holding back a lossless
//! producer, and learns its loss when it reads again. Whether a process is
//! alive comes from the OS (pid plus start time), never from its heartbeat.

use std::time::{Duration, Instant};

use crate::metrics::Counter;
use crate::ring::protocol::{Ring, WriteBlocked};
use crate::segment::header::MetricsBlock;
use crate::segment::os::{self, ProcessId};
use crate::sync::Ordering::Relaxed;

/// How often a blocked producer asks the OS about the consumer blocking
/// it (a /proc read costs about 10 µs).
const CHECK_EVERY: Duration = Duration::from_millis(1);

/// The producer's watch over the consumers that block it.
pub(crate) struct Watch<'a> {
    ring: &'a Ring<'a>,
    metrics: &'a MetricsBlock,
    stall_timeout_ns: u64,
    next_check: Option<Instant>,
}

impl<'a> Watch<'a> {
    pub(crate) fn new(
        ring: &'a Ring<'a>,
        metrics: &'a MetricsBlock,
        stall_timeout_ns: u64,
    ) -> Self {
        Self {
            ring,
            metrics,
            stall_timeout_ns,
            next_check: None,
        }
    }

    /// The producer is blocked by `why`. At most every millisecond (the
    /// first time at once), removes the blocking consumer if its process
    /// died, or stops waiting for it if it is alive, holds the producer back
    /// in lossless mode, and has not read for the stall timeout. Returns
    /// whether it changed something (then the caller checks again at once).
    pub(crate) fn blocked(&mut self, why: WriteBlocked) -> bool {
        let now = Instant::now();
        if self.next_check.is_some_and(|at| now < at) {
            return false;
        }
        self.next_check = Some(now + CHECK_EVERY);
        let index = match why {
            WriteBlocked::Behind { consumer, .. } | WriteBlocked::Marked { consumer, .. } => {
                consumer
            }
        };
        let c = &self.ring.consumers[index];
        // Relaxed: an identity published by the consumer's join; `evict`
        // re-checks it after taking the entry.
        let id = ProcessId {
            pid: c.pid.load(Relaxed),
            start_time: c.pid_start_time.load(Relaxed),
        };
        if !os::is_alive(id) {
            // The producer itself is the one to wake: it re-checks at once.
            if self.ring.evict(index, id.pid, id.start_time).is_some() {
                self.metrics.add(Counter::ConsumersEvicted, 1);
                tracing::info!(
                    consumer = index,
                    pid = id.pid,
                    "removed a consumer whose process died"
                );
            }
            return true;
        }
        if let WriteBlocked::Behind { .. } = why {
            let now_ns = os::monotonic_ns();
            // Relaxed: a figure; a stale value only delays the verdict.
            let last_read = c.heartbeat_ns.load(Relaxed);
            if now_ns.saturating_sub(last_read) > self.stall_timeout_ns {
                self.ring.mark_stalled(index, now_ns);
                self.metrics.add(Counter::ConsumersStalled, 1);
                tracing::warn!(
                    consumer = index,
                    pid = id.pid,
                    "a live consumer has not read for the stall timeout: no longer waiting for it"
                );
                return true;
            }
        }
        false
    }
}

/// The consumer entries in use whose process died: (index, process).
pub(crate) fn dead_consumers(ring: &Ring<'_>) -> Vec<(usize, ProcessId)> {
    ring.consumers
        .iter()
        .enumerate()
        .filter_map(|(index, c)| {
            // Relaxed: a candidate; `evict` re-checks it under its CAS.
            if c.state.load(Relaxed) == crate::segment::layout::CONSUMER_FREE {
                return None;
            }
            let id = ProcessId {
                pid: c.pid.load(Relaxed),
                start_time: c.pid_start_time.load(Relaxed),
            };
            (!os::is_alive(id)).then_some((index, id))
        })
        .collect()
}

/// Removes every consumer whose process died (for `datahub recover`, a
/// producer taking a segment over, and a consumer attaching to a full
/// table), waking a producer that waits for room; returns those removed.
pub(crate) fn reap_dead(ring: &Ring<'_>, metrics: &MetricsBlock) -> Vec<(usize, ProcessId)> {
    let removed: Vec<_> = dead_consumers(ring)
        .into_iter()
        .filter(|(index, id)| ring.evict(*index, id.pid, id.start_time).is_some())
        .collect();
    if !removed.is_empty() {
        os::futex_wake_all(&ring.write.read_futex);
        metrics.add(Counter::ConsumersEvicted, removed.len() as u64);
    }
    removed
}
