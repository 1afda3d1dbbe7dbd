//! The shared spin lock that guards a locked zone (the seeds'
//! `SharedSpinLock`, `docs/protocol.md`, "Liveness and recovery"): one cache line in the segment header,
//! owned by a *process*, so that a lock whose owner died is taken over
//! rather than held forever.
//!
//! # The owner word
//!
//! The owner is one `AtomicU64`: 0 when free, else
//! `start_time << 22 | pid`, the holder's [`ProcessId`] (pid plus start time
//! in clock ticks since boot, from /proc). Packing both halves of the
//! identity into one word is what makes takeover safe:
//!
//! - Acquiring is one CAS `0 -> me`. There is no moment at which the lock is
//!   held but its owner only half recorded, so a process that dies right
//!   after its CAS is still named exactly, found dead and taken over. (With
//!   the pid and the start time in two words, a process dying between the
//!   CAS on the pid and the store of its start time would leave an owner no
//!   one can check: its pid alone may already belong to someone else.)
//! - A pid reused by a new process is not mistaken for the owner: the new
//!   process has another start time, so `is_alive` says the owner is dead.
//! - Taking over is a CAS on the exact word observed to belong to a dead
//!   process. Nobody can store that word again (only its process did, and
//!   an identity is never reused), so the CAS cannot succeed on a lock that
//!   was released and acquired again in between (no ABA).
//!
//! The packing loses nothing on Linux: pids are below `PID_MAX_LIMIT` =
//! 2^22 on 64-bit kernels, and 42 bits of start time at 100 ticks per
//! second last 1394 years of uptime. An identity outside those bounds is
//! refused ([`TryLockError::IdentityOutOfRange`]), never truncated: a
//! truncated identity could make a live owner look dead.
//!
//! # What the protocol guarantees
//!
//! Mutual exclusion holds as long as `is_alive` never reports a live
//! process dead (`os::is_alive`: the pid exists and started at that time).
//! A stale verdict is harmless: once the owner named in it has released
//! the lock, the takeover CAS fails, whoever holds the lock now. A wrong
//! verdict about a live owner lets two processes in; the owner finds out
//! when its [`SpinLockState::unlock`] returns [`NotOwner`].
//!
//! The lock belongs to a process, not a thread: a second thread of the
//! owning process gets [`TryLockError::AlreadyHeldByThisProcess`], so the
//! zone handle must serialize its own threads (the guard borrows the handle).

use std::time::Duration;
#[cfg(not(datahub_loom))]
use std::time::Instant;

#[cfg(not(datahub_loom))]
use crate::backoff::{Backoff, Deadline, Phase};

use crate::segment::layout::SpinLockState;
use crate::segment::os::ProcessId;
use crate::segment::owner::{decode_owner, encode_owner};
#[cfg(any(test, datahub_loom))]
use crate::sync::AtomicU64;
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use crate::sync::ordering;

/// A successful acquisition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockAcquired {
    /// The previous owner died holding the lock: the data it guards may be
    /// half-written, and the new owner should check or reset it.
    pub(crate) recovered: bool,
}

/// Why [`SpinLockState::try_lock`] did not take the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryLockError {
    /// Another process holds it.
    Held { owner: ProcessId },
    /// This process holds it already: waiting would deadlock.
    AlreadyHeldByThisProcess,
    /// `me` cannot be recorded exactly in the owner word (not on Linux).
    IdentityOutOfRange { me: ProcessId },
}

/// Why [`SpinLockState::lock`] did not take the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockError {
    /// A live process held the lock for the whole timeout; `owner` is the
    /// last one seen.
    Timeout { owner: ProcessId, waited: Duration },
    /// This process holds it already: waiting would deadlock.
    AlreadyHeldByThisProcess,
    /// `me` cannot be recorded exactly in the owner word (not on Linux).
    IdentityOutOfRange { me: ProcessId },
}

/// [`SpinLockState::unlock`] by a process that does not hold the lock:
/// `owner` holds it (`None`: nobody). For a process that did take it, this
/// means it was taken over while held: `is_alive` judged it dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotOwner {
    pub(crate) owner: Option<ProcessId>,
}

/// How often a waiter asks whether the owner is alive: a /proc read costs
/// about 10 µs, so checking every millisecond keeps it near 1% of the wait.
#[cfg(not(datahub_loom))]
const LIVENESS_INTERVAL: Duration = Duration::from_millis(1);

impl SpinLockState {
    /// Free, never taken: all zero, the state of fresh shared memory (in
    /// a segment the lock is never constructed, only mapped).
    #[cfg(any(test, datahub_loom))]
    pub(crate) fn new() -> Self {
        Self {
            owner: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            takeovers: AtomicU64::new(0),
            recovery_pending: AtomicU64::new(0),
            _reserved: [0; 4],
        }
    }

    /// The current holder, if any (for errors and inspection).
    pub(crate) fn owner(&self) -> Option<ProcessId> {
        // Relaxed: a report, not a synchronization.
        let word = self.owner.load(Relaxed);
        (word != 0).then(|| decode_owner(word))
    }

    /// Takes the lock if it is free; never waits.
    pub(crate) fn try_lock(&self, me: ProcessId) -> Result<LockAcquired, TryLockError> {
        let mine = encode_owner(me).ok_or(TryLockError::IdentityOutOfRange { me })?;
        // Acquire: pairs with the Release CAS in `unlock` (the previous
        // owner's writes to the zone happen before ours). Failure Relaxed:
        // the value read only names the owner; a takeover does its own
        // Acquire CAS. Strong CAS: a spurious failure would report a free
        // lock as held.
        match self
            .owner
            .compare_exchange(0, mine, ordering!("lock.acquire", Acquire), Relaxed)
        {
            Ok(_) => {
                // Relaxed: a statistic, not a synchronization.
                self.generation.fetch_add(1, Relaxed);
                Ok(LockAcquired {
                    recovered: self.take_recovery_pending(),
                })
            }
            Err(current) if current == mine => Err(TryLockError::AlreadyHeldByThisProcess),
            Err(current) => Err(TryLockError::Held {
                owner: decode_owner(current),
            }),
        }
    }

    /// Takes the lock from its owner if `is_alive` says that owner is dead;
    /// `None` if the lock is free (call [`SpinLockState::try_lock`]), held
    /// by a live process or by `me`, or if another process took it first.
    pub(crate) fn take_over_if_dead(
        &self,
        me: ProcessId,
        is_alive: impl Fn(ProcessId) -> bool,
    ) -> Option<LockAcquired> {
        let (dead, mine) = self.dead_owner_word(me, is_alive)?;
        self.take_over_word(dead, mine)
    }

    /// The owner word now, if it names a process `is_alive` says is dead
    /// (other than `me`), with `me`'s word.
    fn dead_owner_word(
        &self,
        me: ProcessId,
        is_alive: impl Fn(ProcessId) -> bool,
    ) -> Option<(u64, u64)> {
        let mine = encode_owner(me)?;
        // Relaxed: the word is only a candidate; the takeover CAS re-checks it.
        let current = self.owner.load(Relaxed);
        (current != 0 && current != mine && !is_alive(decode_owner(current)))
            .then_some((current, mine))
    }

    /// Takes the lock from the dead owner whose word is `dead`, if that word
    /// still holds it.
    fn take_over_word(&self, dead: u64, mine: u64) -> Option<LockAcquired> {
        // CAS on the exact word judged dead: only its (dead) process ever
        // stored it, so if it is still there, the dead process still holds
        // the lock and no one else got in since (see the module comment).
        // Acquire: pairs with the Release CAS of the last `unlock`, whose
        // release sequence the dead owner's acquiring CAS continues. The
        // dead owner's own writes are ordered before ours by its death:
        // `is_alive` observed its exit through the kernel.
        self.owner
            .compare_exchange(dead, mine, ordering!("lock.take-over", Acquire), Relaxed)
            .ok()?;
        // Relaxed: statistics.
        self.takeovers.fetch_add(1, Relaxed);
        self.generation.fetch_add(1, Relaxed);
        // This acquisition is told `recovered` anyway: a pending mark is
        // consumed by it.
        self.take_recovery_pending();
        Some(LockAcquired { recovered: true })
    }

    /// Whether a release for a dead owner is pending, clearing the mark.
    /// Only the holder calls it. Relaxed: the word is guarded by the lock
    /// itself (the Acquire of our acquiring CAS pairs with the Release of
    /// the `unlock` that followed the mark's store).
    fn take_recovery_pending(&self) -> bool {
        self.recovery_pending.load(Relaxed) != 0 && self.recovery_pending.swap(0, Relaxed) != 0
    }

    /// For `datahub recover`: frees the lock if its owner is dead, leaving
    /// the mark that makes the next owner's acquisition `recovered` (the
    /// data may be half-written). `me` is the recovering process, owner
    /// for the instant between the takeover and the release. Returns the
    /// dead owner it released, or `None` when the lock is free, held by a
    /// live process, or was taken by someone else first.
    pub(crate) fn release_dead_owner(
        &self,
        me: ProcessId,
        is_alive: impl Fn(ProcessId) -> bool,
    ) -> Option<ProcessId> {
        let (dead, mine) = self.dead_owner_word(me, is_alive)?;
        self.take_over_word(dead, mine)?;
        // Relaxed: we hold the lock; the Release of `unlock` below publishes
        // the mark to the next owner's Acquire CAS.
        self.recovery_pending.store(1, Relaxed);
        // Cannot fail: we hold the lock, and only a holder's own unlock or a
        // takeover (which needs us dead) changes the word.
        let _ = self.unlock(me);
        Some(decode_owner(dead))
    }

    /// Releases the lock `me` holds. A CAS rather than a store, so that a
    /// process whose lock was taken over (or a double unlock) cannot
    /// release someone else's lock.
    pub(crate) fn unlock(&self, me: ProcessId) -> Result<(), NotOwner> {
        let Some(mine) = encode_owner(me) else {
            // `me` could never have taken it.
            return Err(NotOwner {
                owner: self.owner(),
            });
        };
        // Release: pairs with the Acquire CAS in `try_lock` and in
        // `take_over_if_dead` of the next owner: our writes to the zone
        // happen before its reads.
        match self
            .owner
            .compare_exchange(mine, 0, ordering!("lock.release", Release), Relaxed)
        {
            Ok(_) => Ok(()),
            Err(current) => Err(NotOwner {
                owner: (current != 0).then(|| decode_owner(current)),
            }),
        }
    }

    /// Takes the lock, waiting at most `timeout` ([`Backoff::LOCK`]: spins
    /// briefly, then yields, then sleeps in short steps), and every
    /// millisecond once spinning is over asks
    /// `is_alive` (`os::is_alive` outside tests) whether the owner is still
    /// there, taking the lock over if not.
    #[cfg(not(datahub_loom))]
    pub(crate) fn lock(
        &self,
        me: ProcessId,
        timeout: Duration,
        is_alive: impl Fn(ProcessId) -> bool,
    ) -> Result<LockAcquired, LockError> {
        let deadline = Deadline::after(timeout);
        let mut backoff = Backoff::LOCK;
        // The first check comes when spinning is over: an owner that is
        // already dead is found within microseconds.
        let mut next_liveness_check = Instant::now();
        loop {
            match self.try_lock(me) {
                Ok(acquired) => return Ok(acquired),
                Err(TryLockError::Held { .. }) => {}
                Err(TryLockError::AlreadyHeldByThisProcess) => {
                    return Err(LockError::AlreadyHeldByThisProcess);
                }
                Err(TryLockError::IdentityOutOfRange { me }) => {
                    return Err(LockError::IdentityOutOfRange { me });
                }
            }
            // Wait for the word to read 0 before the next CAS (test and
            // test-and-set): loads keep the line shared instead of
            // bouncing it between waiters.
            loop {
                // Relaxed: only a hint to retry; the CAS is Acquire.
                let current = self.owner.load(Relaxed);
                if current == 0 {
                    break;
                }
                if backoff.phase() != Phase::Spin {
                    let now = Instant::now();
                    if now >= next_liveness_check {
                        if let Some(acquired) = self.take_over_if_dead(me, &is_alive) {
                            return Ok(acquired);
                        }
                        next_liveness_check = now + LIVENESS_INTERVAL;
                    }
                    if deadline.passed() {
                        return Err(LockError::Timeout {
                            owner: decode_owner(current),
                            waited: deadline.elapsed(),
                        });
                    }
                }
                backoff.snooze(&deadline);
            }
        }
    }
}

#[cfg(all(test, datahub_loom))]
mod loom_tests;

#[cfg(all(test, not(datahub_loom)))]
mod tests;
