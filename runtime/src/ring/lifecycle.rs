//! The producer's lifecycle on the segment's shared words
//! (`docs/protocol.md`, "Lifecycle"): claiming a dead producer's segment,
//! handing a claim back, closing the channel, waking the sleepers, and a
//! reader's look at whether the channel is closed. `Producer` (its drop and
//! its takeover) and `datahub recover` / `cleanup` compose these steps; the
//! loom tests below drive the same steps, so each ordering is written once
//! and checked where it is written.
//!
//! Three words take part:
//!
//! - `owner` (the producer's line): the owning producer as one word
//!   (`segment::owner`). A successor swaps a dead owner's exact word for its
//!   own with a CAS, so that of two claimers (restarting producers, or a
//!   producer and `datahub cleanup`) exactly one goes on: that is the CAS's
//!   atomicity, at any ordering. What the winner then knows of the dead
//!   producer's writes comes from its death (the OS says a process is gone
//!   only after it stopped; the models make that a Release/Acquire pair)
//!   and from `Ring::recover_writer`'s Acquire loads of the ring.
//! - `init_state` (the identity's word): CLOSED is stored (Release) after
//!   the producer's last commit; a reader that loads it (Acquire) and then
//!   finds no item has read every item. Seeing CLOSED after finding no item
//!   is not enough: the producer may have committed between the two looks,
//!   so a reader looks once more after it sees CLOSED (`Consumer::next`).
//! - the commit futex (`CommitLine::futex`): bumped (Release) after a close
//!   or a takeover, then every sleeper is woken; a sleeper that loads the
//!   new value (Acquire, `Ring::prepare_wait`) sees the CLOSED or the reset
//!   slots before it, so its re-check finds them and it does not sleep.
//!
//! Only atomics here: the futex system call is the caller's
//! (`os::futex_wake_all(wake.futex())`), as for the ring's own wake-ups.

use crate::segment::header::INIT_CLOSED;
use crate::segment::layout::CommitLine;
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crate::sync::{AtomicU32, AtomicU64, ordering};

/// The lifecycle's shared words, borrowed from a segment (or, in the
/// tests, from the heap).
pub(crate) struct Lifecycle<'a> {
    /// The owning producer's word (`ProducerLine::owner`).
    pub(crate) owner: &'a AtomicU64,
    /// The segment's `init_state`.
    pub(crate) init_state: &'a AtomicU32,
    /// The consumers' line, whose futex sleepers sleep on.
    pub(crate) commit: &'a CommitLine,
}

/// A won claim: the owner word holds `mine` in place of the dead owner's
/// word. Kept by a successor that goes on; given to
/// [`Lifecycle::hand_back`] by one that gives the segment back.
#[derive(Debug)]
#[must_use = "a claim is kept (the segment is ours) or handed back"]
pub(crate) struct Claim {
    dead: u64,
    mine: u64,
}

/// Sleepers on the commit futex must be woken now: the caller makes the
/// system call (`os::futex_wake_all(wake.futex())`).
#[must_use = "sleepers on the commit futex must be woken (os::futex_wake_all)"]
pub(crate) struct Wake<'a> {
    futex: &'a AtomicU32,
}

impl<'a> Wake<'a> {
    /// The futex word to wake every sleeper of.
    pub(crate) fn futex(&self) -> &'a AtomicU32 {
        self.futex
    }
}

impl<'a> Lifecycle<'a> {
    /// Claims the segment of the dead owner whose word is `dead` (0: none)
    /// for the claimer whose word is `mine`. `Err` carries the word found
    /// instead: someone else claimed it first (or its owner changed since
    /// the caller judged it dead), and the caller must not touch it.
    pub(crate) fn claim(&self, dead: u64, mine: u64) -> Result<Claim, u64> {
        // AcqRel: the Acquire half pairs with the Release of a claim handed
        // back (`hand_back`) or of the previous claim, so what that claimer
        // did before letting the word go happens before what we do now; the
        // Release half is the same for whoever claims after us. The dead
        // producer's own writes reach us through its death and the ring's
        // Acquire loads (`Ring::recover_writer`), not through this word:
        // exactly one winner is the CAS's atomicity. Relaxed on failure: a
        // loser reads nothing the winner wrote.
        self.owner
            .compare_exchange(dead, mine, ordering!("lifecycle.claim", AcqRel), Relaxed)
            .map(|_| Claim { dead, mine })
    }

    /// Gives a claimed segment back to its dead owner's word, as it was
    /// before [`Lifecycle::claim`] (`datahub cleanup` finding a live
    /// consumer attached meanwhile). Returns whether the word was still
    /// ours.
    pub(crate) fn hand_back(&self, claim: Claim) -> bool {
        // Release: pairs with the Acquire half of the next `claim` of the
        // dead owner's word (a producer restarting), which reads this store.
        self.owner
            .compare_exchange(
                claim.mine,
                claim.dead,
                ordering!("lifecycle.hand-back", Release),
                Relaxed,
            )
            .is_ok()
    }

    /// Closes the channel for good, after the closer's last commit (a
    /// producer's drop; `datahub cleanup`, which claimed the segment):
    /// consumers read what was committed, then see CLOSED. The sleepers
    /// must then be woken ([`Wake`]).
    pub(crate) fn close(&self) -> Wake<'a> {
        // Release: pairs with the Acquire load in `closed`: every commit
        // before this store (their `commit_seq` and slot states) happens
        // before a reader's look that follows its sight of CLOSED. Relaxed
        // would do today: the SeqCst fence at the end of each commit
        // (`Ring::bump`) comes before this store, and a fence before a store
        // synchronizes with the Acquire load that reads it
        // ([atomics.fences]/2); `.ci/loom-claims` shows both halves (this
        // site alone fails no model, with that fence it does). Release keeps
        // the order local to this line at no cost (a plain store on x86).
        self.init_state
            .store(INIT_CLOSED, ordering!("lifecycle.close", Release));
        self.wake_sleepers()
    }

    /// Moves the commit futex so that no consumer goes to sleep on the value
    /// it had before what we just did (a close, slots reset by a takeover)
    /// without seeing it; the sleepers must then be woken ([`Wake`]).
    pub(crate) fn wake_sleepers(&self) -> Wake<'a> {
        // Release: pairs with the Acquire load of the futex in
        // `Ring::prepare_wait`: a consumer that reads the new value sees our
        // earlier stores (CLOSED, slots reset) in its re-check and does not
        // sleep; one that read the old value sleeps on it, and the wake that
        // follows, or the moved word, ends that sleep.
        self.commit
            .futex
            .fetch_add(1, ordering!("lifecycle.wake", Release));
        Wake {
            futex: &self.commit.futex,
        }
    }

    /// Whether the channel is closed. A reader asks only when it found no
    /// item, and then looks for one once more before it stops (see the
    /// module comment).
    #[inline]
    pub(crate) fn closed(&self) -> bool {
        // Acquire: pairs with the Release store in `close`, which follows
        // every commit of the closer: the look after this one sees them.
        self.init_state.load(ordering!("lifecycle.closed", Acquire)) == INIT_CLOSED
    }
}

/// A reader's looks that found no item ready, with the rule that one which
/// then sees CLOSED looks once more before it stops: the producer may have
/// committed between the reader's look and its close. One per poll.
#[derive(Debug, Default)]
pub(crate) struct EmptyLooks {
    closed_seen: bool,
}

/// What a reader does after a look that found no item ready.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterEmpty {
    /// The channel is open: wait for a commit.
    Wait,
    /// The channel is closed: look once more, for an item committed just
    /// before the close.
    LookAgain,
    /// Closed, and the look after seeing it found nothing: every item was
    /// read.
    Closed,
}

impl EmptyLooks {
    /// The reader just found no item ready: what now.
    #[inline]
    pub(crate) fn after_empty(&mut self, lifecycle: &Lifecycle<'_>) -> AfterEmpty {
        if self.closed_seen {
            AfterEmpty::Closed
        } else if lifecycle.closed() {
            self.closed_seen = true;
            AfterEmpty::LookAgain
        } else {
            AfterEmpty::Wait
        }
    }
}

#[cfg(all(test, datahub_loom))]
mod loom_tests;

#[cfg(all(test, not(datahub_loom)))]
mod tests;
