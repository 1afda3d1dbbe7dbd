//! loom models of the producer's lifecycle, composed with the slot protocol
//! as `Producer` and `Consumer` compose them: a close racing a read (the
//! reader that stops at CLOSED has read every item, each intact), a close
//! racing a consumer going to sleep, two restarting producers claiming the
//! same dead owner's word while a consumer waits on the slot the dead one
//! left half-written, and `datahub cleanup` handing a claim back to a
//! restarting producer.
//!
//! Payloads live in loom `UnsafeCell`s, as in the slot protocol's models,
//! so a read not ordered after its write is a model failure. A process's
//! death is its thread's work done before the claimers start (`spawn` orders
//! it, as the OS orders a process's exit before /proc says it is gone).
//!
//! Run: `RUSTFLAGS="--cfg datahub_loom" cargo test -p datahub --lib --release lifecycle::loom`

use loom::sync::Arc;
use loom::thread;

use super::*;
use crate::ring::Start;
use crate::ring::loom_model::{RingModel, item};
use crate::ring::protocol::ReadAttempt;
use crate::segment::header::INIT_READY;
use crate::segment::layout::SLOT_WRITING;

/// A ring with its payloads (`RingModel`, one consumer) and the
/// lifecycle's words, on the heap.
struct Model {
    ring: RingModel,
    owner: AtomicU64,
    init_state: AtomicU32,
}

impl std::ops::Deref for Model {
    type Target = RingModel;

    fn deref(&self) -> &RingModel {
        &self.ring
    }
}

/// Owner words: the dead producer, and the processes that claim its word.
const DEAD: u64 = (7 << 22) | 100;
const FIRST: u64 = (8 << 22) | 200;
const SECOND: u64 = (9 << 22) | 300;

impl Model {
    /// A ready channel owned by `DEAD`, with one consumer attached at the
    /// oldest item.
    fn new(capacity: usize) -> Self {
        let m = Self {
            ring: RingModel::new(capacity, 1),
            owner: AtomicU64::new(DEAD),
            init_state: AtomicU32::new(INIT_READY),
        };
        m.ring().join(10, 0, 0, Start::Oldest).unwrap();
        m
    }

    fn lifecycle(&self) -> Lifecycle<'_> {
        Lifecycle {
            owner: &self.owner,
            init_state: &self.init_state,
            commit: &self.commit,
        }
    }

    /// Writes and commits item `q` (no reader marks its slot: none has
    /// seen a previous item there, the models make sure of it).
    fn publish(&self, q: u64) {
        let ring = self.ring();
        ring.claim(q, 1);
        ring.check_marks(q).unwrap();
        // SAFETY: check_marks succeeded: no reader reads this slot.
        self.payload[ring.slot_index(q)].with_mut(|p| unsafe { *p = item(q) });
        let _ = ring.commit(q, 16, 0);
    }
}

/// What one poll of `Consumer::next` found (`consumer.rs`, `read_next`).
#[derive(Debug, PartialEq)]
enum Poll {
    /// Item `q` is ready, protected by the reader's mark.
    Ready,
    /// Nothing to read yet: wait.
    Nothing,
    /// The channel is closed and every item was read.
    Closed,
    /// Items before `resume` were lost.
    Lost { resume: u64 },
}

/// One poll for item `q`, as `Consumer::next` polls, with the shipped
/// rule (`EmptyLooks`): a reader that finds no item and then sees CLOSED
/// looks once more, since the producer may have committed between its look
/// and its close.
fn poll(m: &Model, q: u64) -> Poll {
    let (ring, lifecycle) = (m.ring(), m.lifecycle());
    let me = &m.consumers[0];
    let mut looks = EmptyLooks::default();
    loop {
        match ring.try_read(me, q) {
            ReadAttempt::Ready => return Poll::Ready,
            ReadAttempt::NotYet | ReadAttempt::Busy => match looks.after_empty(&lifecycle) {
                AfterEmpty::Wait => return Poll::Nothing,
                AfterEmpty::LookAgain => {}
                AfterEmpty::Closed => return Poll::Closed,
            },
            ReadAttempt::Lost { resume } => return Poll::Lost { resume },
        }
    }
}

/// Reads item `q`, which `poll` found ready: checks it whole, then lets
/// the writer have its slot.
fn read(m: &Model, q: u64) {
    let ring = m.ring();
    // SAFETY: Ready: the reader's mark protects the slot until finish_read.
    let value = m.payload[ring.slot_index(q)].with(|p| unsafe { *p });
    assert_eq!(value, item(q), "torn or stale read of item {q}");
    let _ = ring.finish_read(&m.consumers[0], q);
}

/// A consumer's wait for item `q`, as `wait_until` runs it with a sleep
/// phase: poll; else register as a waiter, poll again, and sleep on the
/// futex value read when registering. Returns what the poll found, or the
/// value it sleeps on.
fn wait(m: &Model, q: u64) -> Result<Poll, u32> {
    let ring = m.ring();
    match poll(m, q) {
        Poll::Nothing => {}
        found => return Ok(found),
    }
    let seen = ring.prepare_wait();
    match poll(m, q) {
        Poll::Nothing => Err(seen),
        found => {
            ring.end_wait();
            Ok(found)
        }
    }
}

/// A sleeper on `seen` is never left asleep: once every thread is done, the
/// word has moved from `seen` (so its FUTEX_WAIT returns at once, or the
/// wake that followed the move ends it).
fn assert_woken(m: &Model, slept_on: Option<u32>) {
    if let Some(seen) = slept_on {
        let now = m.commit.futex.load(Relaxed);
        assert!(now != seen, "lost wake-up: asleep on {seen}, word {now}");
    }
}

/// Checks `f` on every interleaving, without a preemption bound (each
/// model explores a few thousand executions at most), and that there was
/// more than one to check.
fn model(f: impl Fn() + Sync + Send + 'static) {
    crate::loom_support::check(None, f);
}

/// How many polls a consumer makes before it gives up (finite models;
/// progress is the process tests').
const POLLS: usize = 3;

/// Items the producer commits before it closes.
const ITEMS: u64 = 2;

/// A producer commits two items and closes while a consumer reads: a
/// consumer told `Closed` has read both, each whole.
#[test]
fn loom_a_consumer_that_sees_closed_has_read_every_item() {
    model(|| {
        let m = Arc::new(Model::new(ITEMS as usize));
        let producer = {
            let m = m.clone();
            thread::spawn(move || {
                for q in 0..ITEMS {
                    m.publish(q);
                }
                let _wake = m.lifecycle().close();
            })
        };
        let mut q = 0;
        for _ in 0..POLLS + ITEMS as usize {
            match poll(&m, q) {
                Poll::Ready => {
                    read(&m, q);
                    q += 1;
                }
                Poll::Nothing => thread::yield_now(),
                Poll::Closed => {
                    assert_eq!(q, ITEMS, "closed before reading every committed item");
                    break;
                }
                Poll::Lost { resume } => panic!("items {q}..{resume} lost: nothing overwrites"),
            }
        }
        producer.join().unwrap();
    });
}

/// A producer closes while a consumer, having found nothing, goes to
/// sleep: it sees CLOSED in its re-check, or sleeps on a value the close
/// moves.
#[test]
fn loom_a_consumer_asleep_when_the_channel_closes_is_woken() {
    model(|| {
        let m = Arc::new(Model::new(1));
        let producer = {
            let m = m.clone();
            thread::spawn(move || {
                let _wake = m.lifecycle().close();
            })
        };
        let slept_on = match wait(&m, 0) {
            Ok(found) => {
                assert_eq!(found, Poll::Closed);
                None
            }
            Err(seen) => Some(seen),
        };
        producer.join().unwrap();
        assert_woken(&m, slept_on);
    });
}

/// Two restarting producers claim the word of a producer that died while
/// rewriting the slot of item 0 (capacity 1, item 1 half-written), while a
/// consumer that has not read item 0 waits on that slot. Exactly one claim
/// wins; the winner finds the dead producer's ring as it left it (one item
/// committed, one slot WRITING) and resets the slot; the consumer counts
/// item 0 lost, or sleeps on a value the takeover's wake moves.
#[test]
fn loom_exactly_one_of_two_restarting_producers_takes_a_dead_ones_ring_over() {
    model(|| {
        let m = Arc::new(Model::new(1));
        // The dead producer: item 0 committed, item 1 begun in the same
        // slot, then death (the threads below start after it).
        m.publish(0);
        m.ring().claim(1, 1);
        m.ring().check_marks(1).unwrap();
        // SAFETY: check_marks succeeded: no reader reads this slot.
        m.payload[0].with_mut(|p| unsafe { (*p)[0] = u64::MAX });
        let claimer = |mine: u64, other: u64| {
            let m = m.clone();
            thread::spawn(move || match m.lifecycle().claim(DEAD, mine) {
                Ok(_claim) => {
                    let (next, reset) = m.ring().recover_writer();
                    assert_eq!((next, reset), (1, 1), "the dead producer's ring");
                    let _wake = m.lifecycle().wake_sleepers();
                    true
                }
                Err(found) => {
                    assert_eq!(found, other, "lost to the other claimer");
                    false
                }
            })
        };
        let (first, second) = (claimer(FIRST, SECOND), claimer(SECOND, FIRST));
        let slept_on = match wait(&m, 0) {
            Ok(Poll::Lost { resume }) => {
                assert_eq!(resume, 1);
                None
            }
            Ok(found) => panic!("item 0 is being rewritten or lost, found {found:?}"),
            Err(seen) => Some(seen),
        };
        let (first, second) = (first.join().unwrap(), second.join().unwrap());
        assert!(first ^ second, "exactly one claim wins ({first}, {second})");
        let winner = if first { FIRST } else { SECOND };
        assert_eq!(m.owner.load(Relaxed), winner);
        assert_ne!(m.slots[0].state.load(Relaxed), SLOT_WRITING);
        assert_woken(&m, slept_on);
    });
}

/// `datahub cleanup` claims a dead producer's word, finds a live consumer
/// and hands the claim back, while a producer restarts: the producer's
/// claim wins (before the cleanup's or after its hand-back) or finds the
/// cleanup's word; the hand-back never undoes the producer's claim.
#[test]
fn loom_a_claim_handed_back_by_cleanup_never_undoes_a_producers_claim() {
    model(|| {
        let m = Arc::new(Model::new(1));
        let cleanup = {
            let m = m.clone();
            thread::spawn(move || {
                let lifecycle = m.lifecycle();
                match lifecycle.claim(DEAD, FIRST) {
                    Ok(claim) => {
                        assert!(lifecycle.hand_back(claim), "the word was ours");
                        true
                    }
                    Err(found) => {
                        assert_eq!(found, SECOND);
                        false
                    }
                }
            })
        };
        let producer = m.lifecycle().claim(DEAD, SECOND);
        let cleaned = cleanup.join().unwrap();
        match producer {
            Ok(_claim) => assert_eq!(m.owner.load(Relaxed), SECOND),
            Err(found) => {
                assert_eq!(found, FIRST, "lost only to the cleanup's claim");
                assert!(cleaned);
                assert_eq!(m.owner.load(Relaxed), DEAD, "handed back");
            }
        }
    });
}
