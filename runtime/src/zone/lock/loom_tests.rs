//! loom models of the lock's steps (`try_lock`, `take_over_if_dead`,
//! `unlock`; the blocking wrapper only loops over them). Threads play
//! processes, each with its own identity. The guarded data is a loom
//! `UnsafeCell`, so any two accesses not ordered by the lock are a model
//! failure: loom proves mutual exclusion, it does not sample it.
//!
//! A process's death is modelled by its thread storing `exited` (Release)
//! and `is_alive` loading it (Acquire): the kernel's ordering between a
//! process's exit and another process reading /proc. That closure is
//! trustworthy (it never reports a live process dead), the condition under
//! which the protocol promises mutual exclusion.
//!
//! Run: `RUSTFLAGS="--cfg datahub_loom" CARGO_TARGET_DIR=target/loom cargo test -p datahub --lib --release zone::`

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::AtomicBool;
use loom::thread;

use super::*;

fn process(pid: u32) -> ProcessId {
    ProcessId { pid, start_time: 7 }
}

/// A lock, the data it guards, and whether process `DYING` has exited.
struct Model {
    lock: SpinLockState,
    data: UnsafeCell<u64>,
    exited: AtomicBool,
}

/// The process that dies (or finishes and exits) in the models.
const DYING: u32 = 1;

impl Model {
    fn new() -> Self {
        Self {
            lock: SpinLockState::new(),
            data: UnsafeCell::new(0),
            exited: AtomicBool::new(false),
        }
    }

    /// What /proc would say: `DYING` is alive until it has exited; the
    /// others live throughout.
    fn is_alive(&self, id: ProcessId) -> bool {
        id.pid != DYING || !self.exited.load(Acquire)
    }

    /// `DYING` exits: its writes happen before anyone's observation of it.
    fn exit(&self) {
        self.exited.store(true, Release);
    }

    /// The critical section: read, then write, the guarded data (loom
    /// flags either if it races with another thread's); returns the value
    /// read.
    fn critical_section(&self) -> u64 {
        // SAFETY: called only while holding the lock, which is what loom checks.
        let value = self.data.with(|p| unsafe { *p });
        // SAFETY: as above.
        self.data.with_mut(|p| unsafe { *p = value + 1 });
        value
    }
}

/// How often a thread retries a step: bounded, so that the model is finite
/// (loom checks safety on every interleaving; progress is the unit tests').
const TRIES: usize = 2;

/// Checks `f` on every interleaving (preemption bound 3) and that there
/// was more than one to check.
fn model(f: impl Fn() + Sync + Send + 'static) {
    crate::loom_support::check(Some(3), f);
}

/// Acquisitions each contender attempts: the second one makes a thread
/// that released the lock compete again (the release-acquire chain).
const ROUNDS: usize = 2;

#[test]
fn loom_three_processes_contending_never_overlap() {
    model(|| {
        let m = Arc::new(Model::new());
        let contender = |pid: u32| {
            let m = m.clone();
            thread::spawn(move || {
                let me = process(pid);
                let mut entered = 0;
                for _ in 0..ROUNDS {
                    for _ in 0..TRIES {
                        match m.lock.try_lock(me) {
                            Ok(acquired) => {
                                assert!(!acquired.recovered);
                                m.critical_section();
                                m.lock.unlock(me).unwrap();
                                entered += 1;
                                break;
                            }
                            Err(TryLockError::Held { owner }) => assert_ne!(owner, me),
                            Err(other) => panic!("{other:?}"),
                        }
                        thread::yield_now();
                    }
                }
                entered
            })
        };
        let contenders = [contender(10), contender(11), contender(12)];
        let entered: u64 = contenders.into_iter().map(|c| c.join().unwrap()).sum();
        // SAFETY: every thread joined.
        assert_eq!(m.data.with(|p| unsafe { *p }), entered, "no increment lost");
        assert_eq!(m.lock.generation.load(Relaxed), entered);
        assert_eq!(m.lock.owner(), None);
    });
}

#[test]
fn loom_exactly_one_of_two_takers_wins_a_dead_owners_lock() {
    model(|| {
        let m = Arc::new(Model::new());
        // `DYING` takes the lock, writes, and dies holding it.
        m.lock.try_lock(process(DYING)).unwrap();
        m.critical_section();
        m.exit();
        let taker = |pid: u32| {
            let m = m.clone();
            thread::spawn(move || {
                let me = process(pid);
                let taken = m.lock.take_over_if_dead(me, |id| m.is_alive(id));
                if let Some(acquired) = taken {
                    assert!(acquired.recovered);
                    assert_eq!(m.critical_section(), 1, "sees the dead owner's write");
                    m.lock.unlock(me).unwrap();
                }
                taken.is_some()
            })
        };
        let (a, b) = (taker(10), taker(11));
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert!(a ^ b, "exactly one taker wins (a: {a}, b: {b})");
        assert_eq!(m.lock.takeovers.load(Relaxed), 1);
    });
}

#[test]
fn loom_a_taker_sees_the_writes_of_an_owner_that_dies_meanwhile() {
    model(|| {
        let m = Arc::new(Model::new());
        let dying = {
            let m = m.clone();
            thread::spawn(move || {
                m.lock.try_lock(process(DYING)).unwrap();
                m.critical_section();
                m.exit();
            })
        };
        let taker = {
            let m = m.clone();
            thread::spawn(move || {
                let me = process(10);
                for _ in 0..TRIES {
                    if let Some(acquired) = m.lock.take_over_if_dead(me, |id| m.is_alive(id)) {
                        assert!(acquired.recovered);
                        assert_eq!(m.critical_section(), 1);
                        return true;
                    }
                    thread::yield_now();
                }
                false
            })
        };
        dying.join().unwrap();
        let took = taker.join().unwrap();
        assert_eq!(m.lock.takeovers.load(Relaxed), u64::from(took));
    });
}

/// `datahub recover` releasing a dead owner's lock while a process wants
/// it: whichever way they interleave, the first acquisition after the
/// death is told `recovered` and sees the dead owner's write.
#[test]
fn loom_the_first_owner_after_a_death_is_told_even_after_recover() {
    model(|| {
        let m = Arc::new(Model::new());
        m.lock.try_lock(process(DYING)).unwrap();
        m.critical_section();
        m.exit();
        let recoverer = {
            let m = m.clone();
            thread::spawn(move || {
                m.lock
                    .release_dead_owner(process(20), |id| m.is_alive(id))
                    .is_some()
            })
        };
        let taker = {
            let m = m.clone();
            thread::spawn(move || {
                let me = process(10);
                for _ in 0..TRIES {
                    let acquired = m
                        .lock
                        .try_lock(me)
                        .ok()
                        .or_else(|| m.lock.take_over_if_dead(me, |id| m.is_alive(id)));
                    if let Some(acquired) = acquired {
                        assert!(acquired.recovered, "the first owner after a death");
                        assert_eq!(m.critical_section(), 1);
                        return true;
                    }
                    thread::yield_now();
                }
                false
            })
        };
        let released = recoverer.join().unwrap();
        let took = taker.join().unwrap();
        if !took {
            // The taker gave up: the mark waits for whoever comes next.
            assert!(released);
            assert_eq!(m.lock.recovery_pending.load(Relaxed), 1);
        } else {
            assert_eq!(m.lock.recovery_pending.load(Relaxed), 0);
        }
    });
}

/// The taker's Acquire CAS at work: here death carries no ordering at all
/// (a Relaxed flag), and the dead owner wrote nothing, so only the release
/// sequence of the last clean `unlock`, continued by the dead owner's
/// acquiring CAS, orders that unlock's writes before the taker's reads.
#[test]
fn loom_a_taker_sees_everything_up_to_the_last_clean_unlock() {
    model(|| {
        let m = Arc::new(Model::new());
        let clean = {
            let m = m.clone();
            thread::spawn(move || {
                let me = process(10);
                for _ in 0..TRIES {
                    if m.lock.try_lock(me).is_ok() {
                        m.critical_section();
                        m.lock.unlock(me).unwrap();
                        return;
                    }
                    thread::yield_now();
                }
            })
        };
        let dying = {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..TRIES {
                    if m.lock.try_lock(process(DYING)).is_ok() {
                        m.exited.store(true, Relaxed);
                        return;
                    }
                    thread::yield_now();
                }
            })
        };
        let me = process(11);
        let seen_dead = |id: ProcessId| id.pid != DYING || !m.exited.load(Relaxed);
        for _ in 0..TRIES {
            if m.lock.take_over_if_dead(me, seen_dead).is_some() {
                m.critical_section();
                m.lock.unlock(me).unwrap();
                break;
            }
            thread::yield_now();
        }
        clean.join().unwrap();
        dying.join().unwrap();
    });
}

#[test]
fn loom_a_stale_death_verdict_cannot_steal_from_the_next_owner() {
    model(|| {
        let m = Arc::new(Model::new());
        let a = process(DYING);
        // `a` holds the lock when the others start.
        m.lock.try_lock(a).unwrap();
        let owner = {
            let m = m.clone();
            // Finishes its critical section, unlocks, then exits: its lock
            // was released, so whoever judges it dead afterwards holds a
            // stale verdict.
            thread::spawn(move || {
                m.critical_section();
                m.lock.unlock(a).unwrap();
                m.exit();
            })
        };
        let next = {
            let m = m.clone();
            thread::spawn(move || {
                let me = process(10);
                for _ in 0..TRIES {
                    if m.lock.try_lock(me).is_ok() {
                        m.critical_section();
                        m.lock.unlock(me).unwrap();
                        return;
                    }
                    thread::yield_now();
                }
            })
        };
        let taker = {
            let m = m.clone();
            thread::spawn(move || {
                let me = process(11);
                // It may read `a` as the owner, then find `a` dead: by then
                // `a` has unlocked, and the CAS on `a`'s word fails.
                if m.lock.take_over_if_dead(me, |id| m.is_alive(id)).is_some() {
                    m.critical_section();
                    m.lock.unlock(me).unwrap();
                }
            })
        };
        owner.join().unwrap();
        next.join().unwrap();
        taker.join().unwrap();
        // Stronger than "never two at once" (which the UnsafeCell checks):
        // a lock released by its owner is never taken over.
        assert_eq!(m.lock.takeovers.load(Relaxed), 0);
    });
}

/// The protocol's condition is necessary: with an `is_alive` that calls a
/// live owner dead, a taker gets in while the owner is inside, and loom
/// sees the two accesses race. (Also shows the models can fail.)
#[test]
#[should_panic(expected = "Causality violation")]
fn loom_a_lying_liveness_check_would_let_two_in() {
    model(|| {
        let m = Arc::new(Model::new());
        let a = process(DYING);
        m.lock.try_lock(a).unwrap();
        let owner = {
            let m = m.clone();
            thread::spawn(move || {
                m.critical_section();
                // The owner finds out afterwards, if the taker still holds it.
                let _ = m.lock.unlock(a);
            })
        };
        let me = process(11);
        if m.lock.take_over_if_dead(me, |_| false).is_some() {
            m.critical_section();
            let _ = m.lock.unlock(me);
        }
        owner.join().unwrap();
    });
}
