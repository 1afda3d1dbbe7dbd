//! The channel's counters (`docs/operations.md`): the 256-byte metrics block of the
//! header, 32 little-endian u64 words, each bumped where its event happens
//! by whichever process sees it. `docs/layout.md` lists the words.

use crate::segment::header::MetricsBlock;
use crate::sync::Ordering::Relaxed;

/// Declares [`Counter`] (one variant per word, its index the word's) and
/// [`COUNTERS`] (each with its name) from one list, so they cannot drift.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $variant:ident = $index:literal, $name:literal;)*) => {
        /// One word of the metrics block. The discriminant is the word's index.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub(crate) enum Counter {
            $($(#[doc = $doc])* $variant = $index,)*
        }

        /// Every counter with its name, in word order.
        pub(crate) const COUNTERS: &[(Counter, &str)] = &[$((Counter::$variant, $name)),*];
    };
}

counters! {
    /// Items committed by the producer(s).
    ItemsCommitted = 0, "items_committed";
    /// Payload bytes committed.
    BytesCommitted = 1, "bytes_committed";
    /// Slots claimed then dropped without commit.
    ItemsAborted = 2, "items_aborted";
    /// `acquire` calls that timed out.
    WriteTimeouts = 3, "write_timeouts";
    /// `acquire` calls that had to wait (full lossless ring, or a reader
    /// still in the slot).
    WriteWaits = 4, "write_waits";
    /// Consumers that attached.
    ConsumersAttached = 5, "consumers_attached";
    /// Consumers that detached (dropped).
    ConsumersDetached = 6, "consumers_detached";
    /// Consumers removed because their process died.
    ConsumersEvicted = 7, "consumers_evicted";
    /// Times a lossless producer stopped waiting for a live consumer
    /// stalled past the stall timeout.
    ConsumersStalled = 8, "consumers_stalled";
    /// Producers that took a dead producer's segment over.
    ProducerTakeovers = 9, "producer_takeovers";
    /// Items whose enforced checksum failed at a consumer.
    ChecksumFailures = 10, "checksum_failures";
    /// Items consumers lost (overwritten before they read them).
    ItemsLost = 11, "items_lost";
    /// Slots found WRITING by a producer taking a segment over, and reset.
    SlotsRecovered = 12, "slots_recovered";
    /// Nanoseconds `acquire` calls spent waiting (for room or a reader).
    WriteBlockedNs = 13, "write_blocked_ns";
    /// The most consumers attached at once.
    PeakConsumers = 14, "peak_consumers";
    /// Errors the runtime returned to a producer or consumer (time-outs of
    /// `acquire`, checksum mismatches, corrupt items, producer gone, schema
    /// changed, a failed broker registration; not a consumer's time-out on
    /// an idle channel): the error
    /// sequence number.
    Errors = 15, "errors";
    /// The number of the last of those errors' code (`DH209` is 209).
    LastErrorCode = 16, "last_error_code";
    /// CLOCK_MONOTONIC nanoseconds of the last of those errors.
    LastErrorNs = 17, "last_error_ns";
    /// Slots consumers found rewritten between choosing and marking them.
    ReaderRaces = 18, "reader_races";
    /// Requests to the broker (registration) that failed: no reply, or
    /// refused.
    BrokerFailures = 19, "broker_failures";
}

impl MetricsBlock {
    /// Adds `n` to `counter`.
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        // Relaxed: a statistic, read as a snapshot; it orders nothing.
        self.words[counter as usize].fetch_add(n, Relaxed);
    }

    /// Adds `n` to a counter only the producer writes: a load and a store,
    /// no locked instruction on the commit path.
    pub(crate) fn add_own(&self, counter: Counter, n: u64) {
        let word = &self.words[counter as usize];
        // Relaxed: as above; one producer at a time writes these words.
        word.store(word.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Raises `counter` to `value` if it is lower.
    pub(crate) fn raise_to(&self, counter: Counter, value: u64) {
        // Relaxed: as above.
        self.words[counter as usize].fetch_max(value, Relaxed);
    }

    /// Records an error the runtime is returning: bumps `errors`, then
    /// stores its code's number and the time. (Two processes recording at
    /// once may leave the code of one and the time of the other: a report.)
    pub(crate) fn record_error(&self, error: &crate::error::Error, now_ns: u64) {
        let number = error
            .code()
            .get(2..)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        self.add(Counter::Errors, 1);
        // Relaxed: as above.
        self.words[Counter::LastErrorCode as usize].store(number, Relaxed);
        self.words[Counter::LastErrorNs as usize].store(now_ns, Relaxed);
    }

    /// The value of `counter`.
    pub(crate) fn get(&self, counter: Counter) -> u64 {
        // Relaxed: as above.
        self.words[counter as usize].load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_has_its_own_word_and_name() {
        for (i, (counter, name)) in COUNTERS.iter().enumerate() {
            assert_eq!(*counter as usize, i, "{name}");
        }
        assert!(COUNTERS.len() <= 32, "the block has 32 words");
    }
}
