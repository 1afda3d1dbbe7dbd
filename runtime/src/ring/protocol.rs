//! The slot protocol of Table 2 (`docs/protocol.md`): one writer, many readers,
//! no torn read, as non-blocking steps. `producer.rs` and `consumer.rs` wrap
//! them in waits with timeouts; the loom tests below drive them directly.
//!
//! The heart is a Dekker pairing between the writer and each reader:
//!
//! - writer: `state = WRITING`, `fence(SeqCst)`, then load every `read_mark`;
//! - reader: `read_mark = seq + 1`, `fence(SeqCst)`, then load `state`.
//!
//! The two fences are ordered in the single total order S of SeqCst
//! operations; whichever comes first, the load after the other one sees
//! the store before the first (C++20 [atomics.order]). So either the reader
//! sees WRITING (and does not read), or the writer sees the mark (and
//! waits). The fence form, rather than SeqCst stores and loads, is what loom
//! models exactly (it treats SeqCst accesses as AcqRel, loom#180), so the
//! model check below covers the pairing the code ships with; on x86 both
//! forms cost one full barrier. Payload visibility rides on
//! Release/Acquire: `state = COMMITTED` (Release) -> reader's load of
//! `state` (Acquire half of SeqCst); reader's `read_mark = 0` and
//! `read_pos` (Release) -> writer's loads of them (Acquire).
//!
//! Everything here only touches atomics; the payload bytes are the
//! caller's, accessed between the steps the protocol allows.

use crate::segment::layout::{
    CONSUMER_ACTIVE, CONSUMER_EVICTING, CONSUMER_FREE, CONSUMER_JOINING, CommitLine, ConsumerEntry,
    SLOT_COMMITTED, SLOT_FREE, SLOT_WRITING, SlotState, WriteLine,
};
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crate::sync::{ordering, seqcst_fence};

/// The ring's shared words, borrowed from a segment (or, in the loom
/// tests, from the heap).
pub(crate) struct Ring<'a> {
    pub(crate) write: &'a WriteLine,
    pub(crate) commit: &'a CommitLine,
    pub(crate) slots: &'a [SlotState],
    pub(crate) consumers: &'a [ConsumerEntry],
}

/// Why the writer cannot go on with an item now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteBlocked {
    /// Lossless mode: consumer `consumer` has not finished reading the item
    /// this write would overwrite (its `read_pos` is below `needed`).
    Behind {
        consumer: usize,
        read_pos: u64,
        needed: u64,
    },
    /// Consumer `consumer` is reading item `seq`, in this slot, in place.
    Marked { consumer: usize, seq: u64 },
}

/// Where a consumer that attaches starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// At the oldest item still in the ring (history = ring depth).
    #[default]
    Oldest,
    /// At the newest item (or the next one, when none was written yet).
    Newest,
}

/// What a reader found when it tried to read item `q`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadAttempt {
    /// The item is committed and the reader's mark protects it: read it,
    /// then call [`Ring::finish_read`].
    Ready,
    /// Not committed yet: wait for the next commit.
    NotYet,
    /// The writer is rewriting the slot and may still give up and restore
    /// the item: wait for the next commit (or cancel).
    Busy,
    /// The item was overwritten (or destroyed by an aborted write) before
    /// this reader got to it; `resume` is the oldest item still held.
    Lost { resume: u64 },
}

impl Ring<'_> {
    /// Number of slots.
    #[inline]
    pub(crate) fn capacity(&self) -> u64 {
        self.slots.len() as u64
    }

    /// The slot that holds item `seq`.
    #[inline]
    pub(crate) fn slot_index(&self, seq: u64) -> usize {
        // The remainder is below `slots.len()`, a usize.
        (seq % self.capacity()) as usize
    }

    /// Items committed so far.
    #[inline]
    pub(crate) fn commit_seq(&self) -> u64 {
        // Acquire: pairs with the Release store in `commit`, so an item seen
        // as committed has its slot state and payload visible.
        self.commit
            .commit_seq
            .load(ordering!("commit-seq.load", Acquire))
    }

    // ----- writer -------------------------------------------------------

    /// Writer, step 1 (lossless mode only): has every active consumer
    /// finished with item `q - capacity`, which item `q` overwrites?
    #[inline]
    pub(crate) fn check_room(&self, q: u64) -> Result<(), WriteBlocked> {
        let Some(needed) = (q + 1).checked_sub(self.capacity()) else {
            return Ok(());
        };
        for (i, c) in self.consumers.iter().enumerate() {
            // Acquire: pairs with the Release store of ACTIVE in `join`, so
            // the start position stored before it is visible below.
            if c.state.load(ordering!("room.consumer-state", Acquire)) != CONSUMER_ACTIVE {
                continue;
            }
            // Acquire: pairs with the Release store of 0 in
            // `resume_after_stall`: a consumer reading again is waited for.
            if c.stalled_since_ns.load(ordering!("room.stalled", Acquire)) != 0 {
                continue;
            }
            // Acquire: pairs with the Release store in `finish_read`: the
            // consumer's reads of the old item happen before our writes.
            let read_pos = c.read_pos.load(ordering!("room.read-pos", Acquire));
            if read_pos < needed {
                return Err(WriteBlocked::Behind {
                    consumer: i,
                    read_pos,
                    needed,
                });
            }
        }
        Ok(())
    }

    /// Writer, step 2: mark the slot of item `q` as being written. Returns
    /// the slot's previous state, for [`Ring::cancel_claim`]. Must be
    /// followed by [`Ring::check_marks`] until it succeeds before the
    /// payload is touched.
    #[inline]
    pub(crate) fn claim(&self, q: u64, pid: u32) -> u32 {
        let slot = &self.slots[self.slot_index(q)];
        slot.writer_pid.store(pid, Relaxed);
        // AcqRel: the store of WRITING is the writer's half of the Dekker
        // pairing, completed by the fence in `check_marks`; the Acquire half
        // reads the previous state for `cancel_claim`.
        slot.state
            .swap(SLOT_WRITING, ordering!("claim.writing", AcqRel))
    }

    /// Writer, step 3: is any reader still reading the slot of item `q` in
    /// place? When `Ok`, the payload may be written.
    #[inline]
    pub(crate) fn check_marks(&self, q: u64) -> Result<(), WriteBlocked> {
        let slot = self.slot_index(q);
        // SeqCst fence: between the store of WRITING in `claim` and the
        // loads of the marks below; pairs with the fence in `try_read`
        // (the Dekker pairing, see the module comment).
        seqcst_fence!("marks.fence");
        for (i, c) in self.consumers.iter().enumerate() {
            // Acquire: pairs with the Release store of 0 in `finish_read`,
            // so that reader's reads happen before our writes. (Seeing a
            // mark at all is the fences' business.)
            let mark = c.read_mark.load(ordering!("marks.load", Acquire));
            if mark != 0 && self.slot_index(mark - 1) == slot {
                return Err(WriteBlocked::Marked {
                    consumer: i,
                    seq: mark - 1,
                });
            }
        }
        Ok(())
    }

    /// Writer gives up after [`Ring::claim`] without having touched the
    /// payload: the slot's previous item is intact and readable again.
    /// Returns whether sleepers should be woken.
    pub(crate) fn cancel_claim(&self, q: u64, previous: u32) -> bool {
        let slot = &self.slots[self.slot_index(q)];
        // Release: pairs with the Acquire half of the SeqCst load of
        // `state` in `try_read`. Nothing was written, so the previous item
        // (and its `seq`) are as they were.
        slot.state
            .store(previous, ordering!("cancel.state", Release));
        self.bump()
    }

    /// Writer drops an item it may have partly written: the slot holds
    /// nothing readable until its next commit. Returns whether sleepers
    /// should be woken.
    pub(crate) fn abort(&self, q: u64) -> bool {
        let slot = &self.slots[self.slot_index(q)];
        // Release: pairs with the Acquire half of the SeqCst load in
        // `try_read`; a reader that sees FREE knows the old item is gone.
        slot.state
            .store(SLOT_FREE, ordering!("abort.state", Release));
        self.bump()
    }

    /// Writer, step 4: publish item `q`, whose payload has been written.
    /// Returns whether sleepers should be woken (`os::futex_wake_all`).
    #[inline]
    pub(crate) fn commit(&self, q: u64, payload_len: u64, now_ns: u64) -> bool {
        let slot = &self.slots[self.slot_index(q)];
        // Relaxed: published by the Release store of `state` just below.
        slot.seq.store(q, Relaxed);
        slot.payload_len.store(payload_len, Relaxed);
        slot.commit_time_ns.store(now_ns, Relaxed);
        // Release: pairs with the Acquire half of the SeqCst load of
        // `state` in `try_read`: the payload and the fields above happen
        // before any read of this item.
        slot.state
            .store(SLOT_COMMITTED, ordering!("commit.state", Release));
        // Release: pairs with the Acquire load in `commit_seq` (readers
        // polling for new items, and `check_room` callers).
        self.commit
            .commit_seq
            .store(q + 1, ordering!("commit.seq", Release));
        // No store of `write_seq` here: it shares its line with
        // `writer_waiting`, which every consumer loads after every read
        // (`release_writer`), and a store per item would move that line
        // between the cores twice an item. `commit_seq` is the position.
        self.bump()
    }

    /// Bumps the futex word; returns whether anyone may be sleeping on it.
    #[inline]
    fn bump(&self) -> bool {
        // Release: a sleeper that reads the new value has the commit.
        self.commit
            .futex
            .fetch_add(1, ordering!("bump.futex", Release));
        // SeqCst fence: pairs with the fence in `prepare_wait` (a Dekker
        // pairing): either the sleeper reads the new futex value (and does
        // not sleep), or we read its `waiters` increment (and wake it).
        seqcst_fence!("bump.fence");
        // Relaxed: ordered by the fence above.
        self.commit.waiters.load(Relaxed) != 0
    }

    // ----- consumers joining and leaving ---------------------------------

    /// Claims a free consumer entry for process `pid` and places it at
    /// `start`. Returns the entry's index and the first item it will read,
    /// or `None` when all `max_consumers` entries are taken.
    pub(crate) fn join(
        &self,
        pid: u32,
        pid_start_time: u64,
        now_ns: u64,
        start: Start,
    ) -> Option<(usize, u64)> {
        for (i, c) in self.consumers.iter().enumerate() {
            // AcqRel: the Acquire half pairs with the Release store of FREE
            // in `leave`, so the previous owner's writes are done; the CAS
            // makes the entry ours alone.
            if c.state
                .compare_exchange(
                    CONSUMER_FREE,
                    CONSUMER_JOINING,
                    ordering!("join.claim", AcqRel),
                    Relaxed,
                )
                .is_err()
            {
                continue;
            }
            // Relaxed: all published by the Release store of ACTIVE below.
            c.pid.store(pid, Relaxed);
            c.pid_start_time.store(pid_start_time, Relaxed);
            c.heartbeat_ns.store(now_ns, Relaxed);
            c.attach_time_ns.store(now_ns, Relaxed);
            c.read_mark.store(0, Relaxed);
            for counter in [&c.slots_read, &c.overruns, &c.checksum_failures, &c.races] {
                counter.store(0, Relaxed);
            }
            let committed = self.commit_seq();
            let first = match start {
                Start::Oldest => committed.saturating_sub(self.capacity()),
                Start::Newest => committed.saturating_sub(1),
            };
            c.read_pos.store(first, Relaxed);
            // Release: pairs with the Acquire load of `state` in
            // `check_room`, publishing the fields above. A write
            // the producer had already begun may still overwrite the oldest
            // item; the first read then reports it as lost, never torn.
            c.state
                .store(CONSUMER_ACTIVE, ordering!("join.active", Release));
            return Some((i, first));
        }
        None
    }

    /// Releases consumer entry `index`: the producer stops waiting for it.
    #[must_use = "a waiting producer must be woken"]
    pub(crate) fn leave(&self, index: usize) -> bool {
        let c = &self.consumers[index];
        // Release: pairs with the Acquire load in `check_marks`.
        c.read_mark.store(0, ordering!("leave.mark", Release));
        // Release: pairs with the Acquire half of the CAS in `join`.
        c.state
            .store(CONSUMER_FREE, ordering!("leave.free", Release));
        // A lossless producer waiting for this consumer may go on.
        self.release_writer()
    }

    /// Removes consumer `index`, whose process `(pid, start_time)` is dead:
    /// clears its read mark and frees its entry, so that the producer stops
    /// waiting for it. Returns `None` when this call did not remove it (the
    /// entry is free already, or was freed and taken by a new consumer
    /// since the caller looked), else `Some(wake)`: whether a waiting
    /// producer must be woken (as [`Ring::leave`] says).
    #[must_use = "a waiting producer must be woken"]
    pub(crate) fn evict(&self, index: usize, pid: u32, start_time: u64) -> Option<bool> {
        let c = &self.consumers[index];
        // Acquire: pairs with the Release stores of `state` in `join`, so
        // the identity read below is the one that state published. The CAS
        // to EVICTING makes the removal ours alone (the producer and
        // `datahub recover` may both try).
        let from = c.state.load(ordering!("evict.state", Acquire));
        if !matches!(from, CONSUMER_ACTIVE | CONSUMER_JOINING)
            || c.state
                .compare_exchange(
                    from,
                    CONSUMER_EVICTING,
                    ordering!("evict.claim", Acquire),
                    Relaxed,
                )
                .is_err()
        {
            return None;
        }
        // Relaxed: published by the state we acquired above.
        if c.pid.load(Relaxed) != pid || c.pid_start_time.load(Relaxed) != start_time {
            // Freed and taken again since the caller judged it: a live one.
            // Release: pairs with the Acquire loads of `state`.
            c.state.store(from, ordering!("evict.restore", Release));
            return None;
        }
        // Release: pairs with the Acquire load in `check_marks`.
        c.read_mark.store(0, ordering!("evict.mark", Release));
        // Relaxed: the entry is ours until the Release store of FREE.
        c.stalled_since_ns.store(0, Relaxed);
        // Release: pairs with the Acquire half of the CAS in `join`.
        c.state
            .store(CONSUMER_FREE, ordering!("evict.free", Release));
        Some(self.release_writer())
    }

    /// The producer stops waiting for live consumer `index`, which has not
    /// read for longer than the stall timeout; it reads again later, finds
    /// what it lost, and is waited for again (`resume_after_stall`).
    pub(crate) fn mark_stalled(&self, index: usize, now_ns: u64) {
        // Release: pairs with the Acquire load in `resume_after_stall`
        // (a flag; the consumer's reads stay protected by its marks).
        self.consumers[index]
            .stalled_since_ns
            .store(now_ns.max(1), ordering!("stall.mark", Release));
    }

    /// Consumer: if the producer stopped waiting for it, asks to be waited
    /// for again. Returns whether it had been passed over.
    #[inline]
    pub(crate) fn resume_after_stall(&self, me: &ConsumerEntry) -> bool {
        // Acquire: pairs with the Release store in `mark_stalled`.
        if me.stalled_since_ns.load(ordering!("resume.load", Acquire)) == 0 {
            return false;
        }
        // Release: pairs with the Acquire load in `check_room`; the
        // position it then finds is ours, lapped or not.
        me.stalled_since_ns
            .store(0, ordering!("resume.clear", Release));
        true
    }

    /// A producer taking a dead producer's ring over: every slot left
    /// WRITING (the dead producer was writing it; its old item may be half
    /// overwritten) becomes FREE, so readers count it lost. Returns the
    /// next sequence number (`commit_seq`: numbers continue) and how many
    /// slots were reset. Only one producer runs this (it won the owner CAS).
    pub(crate) fn recover_writer(&self) -> (u64, usize) {
        let mut reset = 0;
        for slot in self.slots {
            // Acquire: pairs with the dead producer's last Release store.
            if slot.state.load(ordering!("recover.state", Acquire)) == SLOT_WRITING {
                // Release: pairs with the Acquire half of the SeqCst load of
                // `state` in `try_read`, as in `abort`.
                slot.state
                    .store(SLOT_FREE, ordering!("recover.free", Release));
                reset += 1;
            }
        }
        let next = self.commit_seq();
        // Relaxed: only the producer (and inspection) read it.
        self.write.write_seq.store(next, Relaxed);
        (next, reset)
    }

    /// Active consumers.
    pub(crate) fn consumer_count(&self) -> usize {
        self.consumers
            .iter()
            // Relaxed: a figure, not a synchronization.
            .filter(|c| c.state.load(Relaxed) == CONSUMER_ACTIVE)
            .count()
    }

    // ----- reader -------------------------------------------------------

    /// Reader, step 1-2: try to read item `q` in place, for the consumer
    /// whose entry is `me`.
    #[inline]
    pub(crate) fn try_read(&self, me: &ConsumerEntry, q: u64) -> ReadAttempt {
        let committed = self.commit_seq();
        if committed <= q {
            return ReadAttempt::NotYet;
        }
        let capacity = self.capacity();
        if committed - q > capacity {
            // Lapped: q's slot has since held a newer item. In lossless
            // mode this only happens to a consumer that joined while the
            // producer was already writing, or one the producer stopped
            // waiting for (stalled past the stall timeout).
            return ReadAttempt::Lost {
                resume: committed - capacity,
            };
        }
        let slot = &self.slots[self.slot_index(q)];
        // Release, though Relaxed would do today: a writer that reads this
        // mark (and finds it on another slot) must see our reads of earlier
        // items done. The Release store of 0 in `finish_read` does not
        // cover that (a later plain store does not extend its release
        // sequence, C++20), but the SeqCst fence of `release_writer`, which
        // `finish_read` and `skip_to` run after our last read and before we
        // get here, does: a fence before a store synchronizes with the
        // Acquire load that reads the store ([atomics.fences]/2). loom
        // found the race when that fence did not exist yet, and finds it
        // again with the mark Relaxed and that fence left out
        // (`.ci/loom-claims`: read.mark alone fails no model). Release keeps
        // the order local to this line at no cost (a plain store on x86).
        // The fence below orders the store for the Dekker pairing.
        me.read_mark.store(q + 1, ordering!("read.mark", Release));
        // SeqCst fence: the reader's half of the Dekker pairing with the
        // fence in `check_marks` (see the module comment).
        seqcst_fence!("read.fence");
        // Acquire: pairs with the Release store of COMMITTED in `commit`,
        // making the payload visible.
        let state = slot.state.load(ordering!("read.state", Acquire));
        // Relaxed: ordered after the Acquire load above; `seq` only changes
        // in `commit`, before a Release store of `state`.
        let seq = slot.seq.load(Relaxed);
        if state == SLOT_COMMITTED && seq == q {
            return ReadAttempt::Ready;
        }
        // Release: pairs with the Acquire load in `check_marks`; we read
        // nothing, but the writer may be waiting for this mark to go.
        me.read_mark.store(0, ordering!("read.unmark", Release));
        // Relaxed: a statistic (the slot changed between choosing and marking).
        me.races.fetch_add(1, Relaxed);
        if state == SLOT_WRITING && seq == q {
            // Being overwritten, but the writer may still cancel.
            ReadAttempt::Busy
        } else if seq > q || state == SLOT_FREE {
            // Overwritten by a newer item, or destroyed by an aborted write.
            let resume = self.commit_seq().saturating_sub(capacity).max(q + 1);
            ReadAttempt::Lost { resume }
        } else {
            // A state this protocol never produces (a corrupted segment):
            // wait; the caller's timeout bounds it.
            ReadAttempt::Busy
        }
    }

    /// Reader, step 4: done with item `q`; it may be overwritten, and the
    /// consumer's position moves past it.
    /// Returns whether the producer waits and should be woken
    /// (`os::futex_wake_all(&write.read_futex)`).
    #[must_use = "a waiting producer must be woken"]
    #[inline]
    pub(crate) fn finish_read(&self, me: &ConsumerEntry, q: u64) -> bool {
        // Release: pairs with the Acquire load in `check_marks`: our reads
        // of the payload happen before the writer's next writes.
        me.read_mark.store(0, ordering!("finish.unmark", Release));
        // Release: pairs with the Acquire load in `check_room`.
        me.read_pos
            .store(q + 1, ordering!("finish.read-pos", Release));
        self.release_writer()
    }

    /// Reader moves its position without reading (skipping lost items, or
    /// `latest()` jumping ahead). Returns whether to wake the producer.
    #[must_use = "a waiting producer must be woken"]
    #[inline]
    pub(crate) fn skip_to(&self, me: &ConsumerEntry, q: u64) -> bool {
        // Release: pairs with the Acquire load in `check_room`.
        me.read_pos.store(q, ordering!("skip.read-pos", Release));
        self.release_writer()
    }

    /// After a reader's position or mark moved: if the producer waits (or
    /// is about to), bumps its futex word and says it must be woken.
    #[inline]
    fn release_writer(&self) -> bool {
        // SeqCst fence: pairs with the fence in `prepare_writer_wait` (a
        // Dekker pairing): either the producer's re-check sees our new
        // position or mark, or we see its `writer_waiting` and wake it.
        seqcst_fence!("release-writer.fence");
        // Relaxed: ordered by the fence above.
        if self.write.writer_waiting.load(Relaxed) == 0 {
            return false;
        }
        // Release: the producer that reads the new value has our stores.
        self.write
            .read_futex
            .fetch_add(1, ordering!("release-writer.futex", Release));
        true
    }

    /// Before the producer sleeps waiting for room or for a read mark:
    /// registers it as waiting and returns the futex value to sleep on.
    /// The caller re-checks after this and before sleeping, then calls
    /// [`Ring::end_writer_wait`].
    pub(crate) fn prepare_writer_wait(&self) -> u32 {
        // Relaxed: ordered by the fence below (one producer: a store).
        self.write.writer_waiting.store(1, Relaxed);
        // SeqCst fence: pairs with the fence in `release_writer`.
        seqcst_fence!("writer-wait.fence");
        // Acquire: pairs with the Release increment in `release_writer`.
        self.write
            .read_futex
            .load(ordering!("writer-wait.futex", Acquire))
    }

    /// After the producer slept (or decided not to).
    pub(crate) fn end_writer_wait(&self) {
        // Relaxed: only decides whether consumers make a wake system call.
        self.write.writer_waiting.store(0, Relaxed);
    }

    /// Before sleeping on the futex: registers as a waiter and returns the
    /// futex value to sleep on. The caller must re-check for new items
    /// after this and before sleeping, then call [`Ring::end_wait`].
    pub(crate) fn prepare_wait(&self) -> u32 {
        // Relaxed: ordered by the fence below.
        self.commit.waiters.fetch_add(1, Relaxed);
        // SeqCst fence: pairs with the fence in `bump` (see there).
        seqcst_fence!("wait.fence");
        // Acquire: pairs with the Release increment in `bump`.
        self.commit.futex.load(ordering!("wait.futex", Acquire))
    }

    /// After sleeping (or deciding not to).
    pub(crate) fn end_wait(&self) {
        // Relaxed: the count only decides whether the producer makes a
        // wake system call; a stale non-zero costs one needless wake.
        self.commit.waiters.fetch_sub(1, Relaxed);
    }
}

#[cfg(all(test, datahub_loom))]
mod loom_tests;

#[cfg(all(test, not(datahub_loom)))]
mod tests;
