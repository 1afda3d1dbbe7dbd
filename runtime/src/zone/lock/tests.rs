//! The lock's decisions, its blocking wrapper, and takeovers of owners that
//! really exited (the interleavings are the loom models beside this file).

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::*;
use crate::segment::os;

/// A process that is not this one: threads of one test stand for the
/// processes of a channel, each with its own identity.
fn process(pid: u32) -> ProcessId {
    ProcessId {
        pid,
        start_time: 4_000 + u64::from(pid),
    }
}

fn alive(_: ProcessId) -> bool {
    true
}

#[test]
fn the_owner_word_holds_both_halves_of_the_identity_exactly() {
    for id in [
        process(1),
        ProcessId {
            pid: (1 << 22) - 1,
            start_time: (1 << 42) - 1,
        },
        ProcessId {
            pid: 77,
            start_time: 0,
        },
    ] {
        let word = encode_owner(id).unwrap();
        assert_ne!(word, 0);
        assert_eq!(decode_owner(word), id);
    }
    assert_eq!(encode_owner(process(5)), Some((4_005 << 22) | 5));
    for out_of_range in [
        ProcessId {
            pid: 0,
            start_time: 9,
        },
        ProcessId {
            pid: 1 << 22,
            start_time: 9,
        },
        ProcessId {
            pid: 9,
            start_time: 1 << 42,
        },
    ] {
        assert_eq!(encode_owner(out_of_range), None);
        assert_eq!(
            SpinLockState::new().try_lock(out_of_range),
            Err(TryLockError::IdentityOutOfRange { me: out_of_range })
        );
    }
}

#[test]
fn a_free_lock_is_taken_released_and_taken_again() {
    let lock = SpinLockState::new();
    let (a, b) = (process(10), process(11));
    assert_eq!(lock.owner(), None);
    assert_eq!(lock.try_lock(a), Ok(LockAcquired { recovered: false }));
    assert_eq!(lock.owner(), Some(a));
    assert_eq!(lock.try_lock(b), Err(TryLockError::Held { owner: a }));
    assert_eq!(lock.unlock(a), Ok(()));
    assert_eq!(lock.owner(), None);
    assert_eq!(
        lock.lock(b, Duration::ZERO, alive),
        Ok(LockAcquired { recovered: false })
    );
    assert_eq!(lock.generation.load(Relaxed), 2);
    assert_eq!(lock.takeovers.load(Relaxed), 0);
}

#[test]
fn locking_a_lock_this_process_holds_is_an_error_not_a_deadlock() {
    let lock = SpinLockState::new();
    let a = process(10);
    lock.try_lock(a).unwrap();
    assert_eq!(
        lock.try_lock(a),
        Err(TryLockError::AlreadyHeldByThisProcess)
    );
    assert_eq!(
        lock.lock(a, Duration::from_secs(60), alive),
        Err(LockError::AlreadyHeldByThisProcess)
    );
    // Nor can a process take its own lock over.
    assert_eq!(lock.take_over_if_dead(a, |_| false), None);
}

#[test]
fn only_the_owner_can_unlock() {
    let lock = SpinLockState::new();
    let (a, b) = (process(10), process(11));
    assert_eq!(lock.unlock(a), Err(NotOwner { owner: None }));
    lock.try_lock(a).unwrap();
    assert_eq!(lock.unlock(b), Err(NotOwner { owner: Some(a) }));
    assert_eq!(lock.owner(), Some(a));
    lock.unlock(a).unwrap();
    assert_eq!(lock.unlock(a), Err(NotOwner { owner: None }), "twice");
}

#[test]
fn the_timeout_error_names_the_live_owner() {
    let lock = SpinLockState::new();
    let (a, b) = (process(10), process(11));
    lock.try_lock(a).unwrap();
    let start = Instant::now();
    let err = lock.lock(b, Duration::from_millis(20), alive).unwrap_err();
    let LockError::Timeout { owner, waited } = err else {
        panic!("{err:?}")
    };
    assert_eq!(owner, a);
    assert!(waited >= Duration::from_millis(20));
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(lock.owner(), Some(a), "a live owner keeps its lock");
}

#[test]
fn a_live_owner_is_never_taken_over() {
    let lock = SpinLockState::new();
    let (a, b) = (process(10), process(11));
    assert_eq!(lock.take_over_if_dead(b, |_| false), None, "free: try_lock");
    lock.try_lock(a).unwrap();
    assert_eq!(lock.take_over_if_dead(b, alive), None);
    assert_eq!(lock.owner(), Some(a));
}

#[test]
fn a_dead_owners_lock_is_taken_over_and_the_taker_told_so() {
    let lock = SpinLockState::new();
    let (a, b, c) = (process(10), process(11), process(12));
    lock.try_lock(a).unwrap();
    let a_is_dead = |id: ProcessId| id != a;
    assert_eq!(
        lock.lock(b, Duration::from_secs(10), a_is_dead),
        Ok(LockAcquired { recovered: true })
    );
    assert_eq!(lock.owner(), Some(b));
    assert_eq!(lock.takeovers.load(Relaxed), 1);
    assert_eq!(lock.generation.load(Relaxed), 2);
    // The verdict on `a` is stale now: it cannot take the lock from `b`.
    assert_eq!(lock.take_over_if_dead(c, a_is_dead), None);
    // The dead process, were it to come back, no longer owns it.
    assert_eq!(lock.unlock(a), Err(NotOwner { owner: Some(b) }));
    lock.unlock(b).unwrap();
    assert_eq!(
        lock.try_lock(c),
        Ok(LockAcquired { recovered: false }),
        "only the taker is told"
    );
}

/// Data guarded by the lock only: plain, non-atomic, shared by threads that
/// each play a process.
struct Guarded {
    lock: SpinLockState,
    counter: UnsafeCell<u64>,
}

// SAFETY: `counter` is only accessed by the thread holding `lock`.
unsafe impl Sync for Guarded {}

#[test]
fn contending_processes_exclude_each_other() {
    let rounds = if cfg!(miri) { 30 } else { 5_000 };
    let threads = 4;
    let shared = Arc::new(Guarded {
        lock: SpinLockState::new(),
        counter: UnsafeCell::new(0),
    });
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let shared = shared.clone();
            thread::spawn(move || {
                let me = process(100 + i);
                for _ in 0..rounds {
                    let acquired = shared.lock.lock(me, Duration::from_secs(60), alive);
                    assert_eq!(acquired, Ok(LockAcquired { recovered: false }));
                    let counter = shared.counter.get();
                    // SAFETY: we hold the lock; no other thread touches
                    // the counter until we release it. Two accesses in two
                    // steps, so that a race would lose increments.
                    let value = unsafe { counter.read() };
                    thread::yield_now();
                    // SAFETY: as above, still holding the lock.
                    unsafe { counter.write(value + 1) };
                    shared.lock.unlock(me).unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let total = u64::from(threads) * rounds;
    // SAFETY: every worker has been joined.
    assert_eq!(unsafe { shared.counter.get().read() }, total);
    assert_eq!(shared.lock.generation.load(Relaxed), total);
    assert_eq!(shared.lock.owner(), None);
}

#[test]
#[cfg_attr(miri, ignore = "spawns a process and reads /proc")]
fn a_lock_left_by_a_process_that_exited_is_taken_over() {
    let lock = SpinLockState::new();
    let dead = os::exited_process();
    // As the child would have, had it run our code and died in the zone.
    lock.try_lock(dead).unwrap();
    let me = os::current_process();
    let start = Instant::now();
    assert_eq!(
        lock.lock(me, Duration::from_secs(10), os::is_alive),
        Ok(LockAcquired { recovered: true })
    );
    assert!(start.elapsed() < Duration::from_secs(1), "found promptly");
    assert_eq!(lock.owner(), Some(me));
    lock.unlock(me).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "reads /proc")]
fn a_reused_pid_is_not_mistaken_for_the_owner() {
    let lock = SpinLockState::new();
    let me = os::current_process();
    // An earlier process that had our pid.
    let earlier = ProcessId {
        pid: me.pid,
        start_time: me.start_time - 1,
    };
    lock.try_lock(earlier).unwrap();
    assert_eq!(
        lock.take_over_if_dead(me, os::is_alive),
        Some(LockAcquired { recovered: true })
    );
    lock.unlock(me).unwrap();

    // And a live owner, checked through /proc, keeps its lock.
    lock.try_lock(me).unwrap();
    assert_eq!(lock.take_over_if_dead(process(1), os::is_alive), None);
    let err = lock
        .lock(process(1), Duration::from_millis(5), os::is_alive)
        .unwrap_err();
    assert!(matches!(err, LockError::Timeout { owner, .. } if owner == me));
}

#[test]
fn the_layout_is_one_zeroed_cache_line() {
    let lock = SpinLockState::new();
    assert_eq!(core::mem::size_of_val(&lock), 64);
    // SAFETY: SpinLockState is 64 bytes of atomics and integers, all
    // initialized; reading them as bytes is fine.
    let bytes: [u8; 64] = unsafe { core::mem::transmute_copy(&lock) };
    assert_eq!(bytes, [0; 64], "fresh shared memory is a free lock");
    lock.try_lock(process(5)).unwrap();
    // SAFETY: as above.
    let bytes: [u8; 64] = unsafe { core::mem::transmute_copy(&lock) };
    assert_eq!(bytes[..8], ((4_005u64 << 22) | 5).to_le_bytes());
    assert_eq!(bytes[8..16], 1u64.to_le_bytes(), "generation");
}

#[test]
fn recover_frees_a_dead_owners_lock_and_the_next_owner_is_told() {
    let lock = SpinLockState::new();
    let (dead, recoverer, next, later) = (process(10), process(11), process(12), process(13));
    lock.try_lock(dead).unwrap();
    let dead_is_dead = |id: ProcessId| id != dead;
    assert_eq!(lock.release_dead_owner(recoverer, alive), None, "alive");
    assert_eq!(lock.owner(), Some(dead));
    assert_eq!(lock.release_dead_owner(recoverer, dead_is_dead), Some(dead));
    assert_eq!(lock.owner(), None, "released");
    assert_eq!(
        lock.release_dead_owner(recoverer, dead_is_dead),
        None,
        "free"
    );
    assert_eq!(
        lock.try_lock(next),
        Ok(LockAcquired { recovered: true }),
        "the next owner learns the data may be half-written"
    );
    lock.unlock(next).unwrap();
    assert_eq!(lock.try_lock(later), Ok(LockAcquired { recovered: false }));
    assert_eq!(lock.takeovers.load(Relaxed), 1);
}
