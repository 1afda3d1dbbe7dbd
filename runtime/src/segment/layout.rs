//! The `#[repr(C)]` structs that live in a segment, shared by every process
//! attached to a channel. Each has its size and field offsets asserted at
//! compile time, so that `docs/layout.md` and the code cannot drift.
//!
//! Every field another process may write concurrently is an atomic; plain
//! fields are written once, before the header is published.

use crate::sync::{AtomicU32, AtomicU64};

/// Size of a cache line: hot words that different processes write sit on
/// lines of their own, so writers do not invalidate each other's caches.
pub(crate) const CACHE_LINE: usize = 64;

/// `SlotState::state`: the slot holds nothing readable (never written, or an
/// aborted write destroyed its previous content).
pub(crate) const SLOT_FREE: u32 = 0;
/// `SlotState::state`: the producer is writing the slot.
pub(crate) const SLOT_WRITING: u32 = 1;
/// `SlotState::state`: the slot holds item `seq`, readable.
pub(crate) const SLOT_COMMITTED: u32 = 2;

/// The coordination state of one ring slot (the seeds' `SlotRWState`),
/// one cache line per slot.
#[repr(C, align(64))]
pub(crate) struct SlotState {
    /// `SLOT_FREE`, `SLOT_WRITING` or `SLOT_COMMITTED`.
    pub(crate) state: AtomicU32,
    /// Pid of the producer that last set `SLOT_WRITING` (for recovery).
    pub(crate) writer_pid: AtomicU32,
    /// Sequence number of the item the slot holds (valid when committed).
    pub(crate) seq: AtomicU64,
    /// Bytes of payload written (the slot size for typed slots).
    pub(crate) payload_len: AtomicU64,
    /// CLOCK_MONOTONIC_COARSE nanoseconds of the commit (tick resolution:
    /// a precise clock read would cost every item about 25 ns).
    pub(crate) commit_time_ns: AtomicU64,
    _reserved: [u64; 4],
}

/// `ConsumerEntry::state`: the entry is unused.
pub(crate) const CONSUMER_FREE: u32 = 0;
/// `ConsumerEntry::state`: a consumer has claimed the entry and is choosing
/// its start position; a lossless producer does not wait for it yet.
pub(crate) const CONSUMER_JOINING: u32 = 1;
/// `ConsumerEntry::state`: an attached consumer; a lossless producer waits
/// for its `read_pos`.
pub(crate) const CONSUMER_ACTIVE: u32 = 2;
/// `ConsumerEntry::state`: the consumer's process died and someone is
/// clearing the entry (it becomes FREE next).
pub(crate) const CONSUMER_EVICTING: u32 = 3;

/// One consumer's own entry (two cache lines): its liveness, position, read
/// mark and counters. Only its consumer writes it, except that whoever finds
/// the consumer dead clears it, so readers never contend on a shared line.
#[repr(C, align(64))]
pub(crate) struct ConsumerEntry {
    /// `CONSUMER_FREE`, `CONSUMER_JOINING`, `CONSUMER_ACTIVE` or
    /// `CONSUMER_EVICTING`.
    pub(crate) state: AtomicU32,
    /// The consumer's pid.
    pub(crate) pid: AtomicU32,
    /// The consumer's process start time (clock ticks since boot, from
    /// /proc), which with the pid identifies the process.
    pub(crate) pid_start_time: AtomicU64,
    /// CLOCK_MONOTONIC nanoseconds of the last read (coarse: tick
    /// resolution) or `heartbeat()`.
    pub(crate) heartbeat_ns: AtomicU64,
    /// The next sequence number this consumer will read: it has finished
    /// with every item before it.
    pub(crate) read_pos: AtomicU64,
    /// `seq + 1` of the item the consumer is reading in place, 0 when none.
    pub(crate) read_mark: AtomicU64,
    /// Items read.
    pub(crate) slots_read: AtomicU64,
    /// Items lost: overwritten before this consumer read them.
    pub(crate) overruns: AtomicU64,
    /// Items whose enforced checksum did not match.
    pub(crate) checksum_failures: AtomicU64,
    /// Times the consumer found its slot being overwritten after choosing it.
    pub(crate) races: AtomicU64,
    /// CLOCK_MONOTONIC nanoseconds of the attach.
    pub(crate) attach_time_ns: AtomicU64,
    /// CLOCK_MONOTONIC nanoseconds at which a lossless producer stopped
    /// waiting for this live consumer (stalled past the stall timeout);
    /// 0 while it holds the producer back as usual. The consumer clears it
    /// when it reads again (and learns what it lost).
    pub(crate) stalled_since_ns: AtomicU64,
    _reserved: [u64; 5],
}

/// The producer's cache line of the header.
#[repr(C, align(64))]
pub(crate) struct WriteLine {
    /// The sequence number the producer started from (0, or `commit_seq`
    /// when it took a dead producer's segment over); written only then,
    /// since consumers poll `writer_waiting` on this line after every
    /// read. The producer writes item `commit_seq` next.
    pub(crate) write_seq: AtomicU64,
    /// Bumped by a consumer that frees room or a slot while the producer
    /// waits; the producer futex-waits on it.
    pub(crate) read_futex: AtomicU32,
    /// 1 while the producer is about to sleep or asleep on `read_futex`:
    /// consumers make the wake system call only then.
    pub(crate) writer_waiting: AtomicU32,
    _reserved: [u64; 6],
}

/// The cache line consumers poll: how many items are committed, and the
/// futex word they sleep on.
#[repr(C, align(64))]
pub(crate) struct CommitLine {
    /// Items committed: every seq below it has been committed once.
    pub(crate) commit_seq: AtomicU64,
    /// Bumped on every commit; consumers futex-wait on it.
    pub(crate) futex: AtomicU32,
    /// Consumers about to sleep or asleep on `futex`: the producer makes
    /// the wake system call only when it is not zero.
    pub(crate) waiters: AtomicU32,
    _reserved: [u64; 6],
}

macro_rules! zeroed_new {
    ($ty:ident { $($field:ident: $kind:ident),* $(,)? } $reserved:expr) => {
        impl $ty {
            /// All zero: the state of fresh shared memory.
            #[allow(dead_code)]
            pub(crate) fn new() -> Self {
                Self {
                    $($field: $kind::new(0),)*
                    _reserved: $reserved,
                }
            }
        }
    };
}

zeroed_new!(SlotState { state: AtomicU32, writer_pid: AtomicU32, seq: AtomicU64, payload_len: AtomicU64, commit_time_ns: AtomicU64 } [0; 4]);
zeroed_new!(ConsumerEntry {
    state: AtomicU32, pid: AtomicU32, pid_start_time: AtomicU64, heartbeat_ns: AtomicU64,
    read_pos: AtomicU64, read_mark: AtomicU64, slots_read: AtomicU64, overruns: AtomicU64,
    checksum_failures: AtomicU64, races: AtomicU64, attach_time_ns: AtomicU64,
    stalled_since_ns: AtomicU64,
} [0; 5]);
zeroed_new!(WriteLine { write_seq: AtomicU64, read_futex: AtomicU32, writer_waiting: AtomicU32 } [0; 6]);
zeroed_new!(CommitLine { commit_seq: AtomicU64, futex: AtomicU32, waiters: AtomicU32 } [0; 6]);

// The byte layout documented in docs/layout.md. Under loom the atomics are
// loom's (larger, tracked), so these only hold for the real build.
#[cfg(not(datahub_loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<SlotState>() == 64 && align_of::<SlotState>() == CACHE_LINE);
    assert!(offset_of!(SlotState, state) == 0);
    assert!(offset_of!(SlotState, writer_pid) == 4);
    assert!(offset_of!(SlotState, seq) == 8);
    assert!(offset_of!(SlotState, payload_len) == 16);
    assert!(offset_of!(SlotState, commit_time_ns) == 24);

    assert!(size_of::<ConsumerEntry>() == 128 && align_of::<ConsumerEntry>() == CACHE_LINE);
    assert!(offset_of!(ConsumerEntry, state) == 0);
    assert!(offset_of!(ConsumerEntry, pid) == 4);
    assert!(offset_of!(ConsumerEntry, pid_start_time) == 8);
    assert!(offset_of!(ConsumerEntry, heartbeat_ns) == 16);
    assert!(offset_of!(ConsumerEntry, read_pos) == 24);
    assert!(offset_of!(ConsumerEntry, read_mark) == 32);
    assert!(offset_of!(ConsumerEntry, slots_read) == 40);
    assert!(offset_of!(ConsumerEntry, overruns) == 48);
    assert!(offset_of!(ConsumerEntry, checksum_failures) == 56);
    assert!(offset_of!(ConsumerEntry, races) == 64);
    assert!(offset_of!(ConsumerEntry, attach_time_ns) == 72);
    assert!(offset_of!(ConsumerEntry, stalled_since_ns) == 80);

    assert!(size_of::<WriteLine>() == 64 && offset_of!(WriteLine, write_seq) == 0);
    assert!(offset_of!(WriteLine, read_futex) == 8);
    assert!(offset_of!(WriteLine, writer_waiting) == 12);
    assert!(size_of::<CommitLine>() == 64);
    assert!(offset_of!(CommitLine, commit_seq) == 0);
    assert!(offset_of!(CommitLine, futex) == 8);
    assert!(offset_of!(CommitLine, waiters) == 12);
};

/// One shared spin lock: a cache line of the segment header (which holds
/// one per zone, sixteen), written by every process that takes the lock.
#[repr(C, align(64))]
pub(crate) struct SpinLockState {
    /// 0 when free; else the holder, `start_time << 22 | pid` (its pid in
    /// the low 22 bits, its /proc start time in clock ticks above them).
    pub(crate) owner: AtomicU64,
    /// Acquisitions since the segment was created, takeovers included.
    pub(crate) generation: AtomicU64,
    /// Acquisitions that took the lock from a dead owner.
    pub(crate) takeovers: AtomicU64,
    /// 1 when the lock was released by `SpinLockState::release_dead_owner` (`zone::lock`)
    /// (`datahub recover`) for a dead owner, and nobody has taken it since:
    /// the next owner is told the data may be half-written, as if it had
    /// taken the lock over itself. Read and written only by the lock's
    /// holder.
    pub(crate) recovery_pending: AtomicU64,
    pub(crate) _reserved: [u64; 4],
}

// The byte layout documented in docs/locks-and-checksums.md (and later
// docs/layout.md). Under loom the atomics are loom's, so only for the real
// build.
#[cfg(not(datahub_loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<SpinLockState>() == 64 && align_of::<SpinLockState>() == CACHE_LINE);
    assert!(offset_of!(SpinLockState, owner) == 0);
    assert!(offset_of!(SpinLockState, generation) == 8);
    assert!(offset_of!(SpinLockState, takeovers) == 16);
    assert!(offset_of!(SpinLockState, recovery_pending) == 24);
    assert!(offset_of!(SpinLockState, _reserved) == 32);
};

/// The checksum entry of one ring slot: one cache line.
#[repr(C, align(64))]
pub(crate) struct SlotChecksum {
    /// The 32-byte digest, as four little-endian words: on the
    /// little-endian targets DataHub supports, bytes 0..32 of the entry are
    /// the digest in order.
    pub(crate) digest: [AtomicU64; 4],
    /// Bytes of payload the digest covers.
    pub(crate) payload_len: AtomicU64,
    /// Sequence number of the item the digest covers.
    pub(crate) seq: AtomicU64,
    _reserved: [u64; 2],
}

impl SlotChecksum {
    /// All zero: the state of fresh shared memory (matches no item).
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self {
            digest: [0; 4].map(AtomicU64::new),
            payload_len: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            _reserved: [0; 2],
        }
    }
}

// The byte layout documented in docs/locks-and-checksums.md (and later
// docs/layout.md). Under loom the atomics are loom's, so only for the real
// build.
#[cfg(not(datahub_loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<SlotChecksum>() == 64 && align_of::<SlotChecksum>() == CACHE_LINE);
    assert!(offset_of!(SlotChecksum, digest) == 0);
    assert!(offset_of!(SlotChecksum, payload_len) == 32);
    assert!(offset_of!(SlotChecksum, seq) == 40);
    assert!(offset_of!(SlotChecksum, _reserved) == 48);
};
