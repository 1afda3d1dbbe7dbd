//! Liveness on the producer's side (`docs/protocol.md`, "Liveness and recovery"): when a consumer blocks
//! the producer, find out why. A consumer whose process died is removed
//! (its entry freed, its read mark cleared); a live consumer that has had
//! an item to read for longer than the stall timeout without reading it
//! stops holding back a lossless producer, and learns its loss when it
//! reads again. A consumer waiting for items that have not come is never
//! passed over, however long ago it last read. Whether a process is
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
    /// When the next check may run: the producer's, kept across its
    /// `acquire` calls, so that a producer that finds the ring full on
    /// every call (a consumer just slower than it) reads /proc at most
    /// once per [`CHECK_EVERY`], not once per item.
    next_check: &'a mut Option<Instant>,
}

impl<'a> Watch<'a> {
    pub(crate) fn new(
        ring: &'a Ring<'a>,
        metrics: &'a MetricsBlock,
        stall_timeout_ns: u64,
        next_check: &'a mut Option<Instant>,
    ) -> Self {
        Self {
            ring,
            metrics,
            stall_timeout_ns,
            next_check,
        }
    }

    /// The producer is blocked by `why`. At most every millisecond (the
    /// first time at once; the pace is the producer's, across calls), removes the blocking consumer if its process
    /// died, or stops waiting for it if it is alive, holds the producer back
    /// in lossless mode, and has had an item to read for the stall timeout
    /// without moving ([`Watch::idle_since`]). Returns
    /// whether it changed something (then the caller checks again at once).
    pub(crate) fn blocked(&mut self, why: WriteBlocked) -> bool {
        let now = Instant::now();
        if self.next_check.is_some_and(|at| now < at) {
            return false;
        }
        *self.next_check = Some(now + CHECK_EVERY);
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
        if let WriteBlocked::Behind { read_pos, .. } = why {
            let now_ns = os::monotonic_ns();
            let idle_ns = now_ns.saturating_sub(self.idle_since(index, read_pos));
            if idle_ns > self.stall_timeout_ns {
                self.ring.mark_stalled(index, now_ns);
                self.metrics.add(Counter::ConsumersStalled, 1);
                tracing::warn!(
                    consumer = index,
                    pid = id.pid,
                    idle_ms = idle_ns / 1_000_000,
                    "a live consumer has had an item to read and has not read it for the stall \
                     timeout: no longer waiting for it"
                );
                return true;
            }
        }
        false
    }
}

impl Watch<'_> {
    /// Since when consumer `index`, whose next item is `read_pos`, has
    /// been idle with that item there to read: its last read (or attach),
    /// or the commit of item `read_pos`, whichever is later. A consumer
    /// waiting for items that have not come is not idle, however long ago
    /// it last read: when the producer resumes after a pause and fills the
    /// ring before the consumer is even scheduled, the clock starts at the
    /// commit, not at the last read (issue 14, defect 1).
    fn idle_since(&self, index: usize, read_pos: u64) -> u64 {
        let c = &self.ring.consumers[index];
        // Relaxed: a figure; a stale value only delays the verdict.
        let last_read = c.heartbeat_ns.load(Relaxed);
        let slot = &self.ring.slots[self.ring.slot_index(read_pos)];
        // Relaxed: the producer's own stores (this is the producer), or a
        // predecessor's, acquired with the segment at takeover.
        let available = if slot.seq.load(Relaxed) == read_pos {
            slot.commit_time_ns.load(Relaxed)
        } else {
            // The slot no longer holds the item (never the case while the
            // consumer holds the producer back): count from now.
            os::monotonic_ns()
        };
        last_read.max(available)
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

#[cfg(all(test, not(datahub_loom)))]
mod tests;
