//! loom models of the slot protocol: one writer, two readers, capacity 1
//! and 2, wrap-around, abort and cancel, lossless and overwrite (preemption
//! bound 2); one writer and one reader without a bound (the mark hand-off, a
//! cancelled overwrite); and the two futex hand-offs (a sleeping consumer or
//! producer is never left asleep).
//!
//! Payloads live in loom `UnsafeCell`s, so loom reports any read of a slot
//! that is not ordered after its write, or any write while a reader may
//! still read it: a torn read is a model failure, not a flaky test.
//!
//! Run: `RUSTFLAGS="--cfg datahub_loom" cargo test -p datahub --lib --release loom`

use loom::sync::Arc;
use loom::thread;

use super::*;
use crate::ring::loom_model::{RingModel as Model, item};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Block,
    Overwrite,
}

/// How often a thread retries a step before giving up. loom checks safety
/// (no torn read, no lost or repeated item in lossless mode) on every
/// interleaving; bounding the retries keeps the model finite. Progress is
/// the multi-process tests' job.
const TRIES: usize = 3;

fn retry(mut step: impl FnMut() -> bool) -> bool {
    for _ in 0..TRIES {
        if step() {
            return true;
        }
        thread::yield_now();
    }
    false
}

/// Writes items `0..n` until a step stays blocked; aborts item `abort_at`
/// once (a partial write, then the guard dropped), and in overwrite mode
/// cancels a claim whose slot stays held (a timed-out acquire).
fn writer(m: &Model, n: u64, mode: Mode, abort_at: Option<u64>) {
    let ring = m.ring();
    for q in 0..n {
        if mode == Mode::Block && !retry(|| ring.check_room(q).is_ok()) {
            return;
        }
        let previous = ring.claim(q, 1);
        if !retry(|| ring.check_marks(q).is_ok()) {
            ring.cancel_claim(q, previous);
            return;
        }
        let cell = &m.payload[ring.slot_index(q)];
        if abort_at == Some(q) {
            // SAFETY: check_marks succeeded: no reader reads this slot.
            cell.with_mut(|p| unsafe { (*p)[0] = u64::MAX });
            ring.abort(q);
            ring.claim(q, 1);
            if !retry(|| ring.check_marks(q).is_ok()) {
                ring.abort(q);
                return;
            }
        }
        // SAFETY: check_marks succeeded after claim: no reader reads this
        // slot until the commit below.
        cell.with_mut(|p| unsafe { *p = item(q) });
        ring.commit(q, 16, 0);
    }
}

/// Tries to read items in order, a bounded number of times; returns what
/// it read, how many it was told it lost, and where it stopped. Every read is checked for
/// tearing by loom (and by the two-word value).
fn reader(m: &Model, me: usize, attempts: usize) -> (Vec<u64>, u64, u64) {
    let ring = m.ring();
    let entry = &m.consumers[me];
    let mut q = entry.read_pos.load(Relaxed);
    let (mut seen, mut lost) = (Vec::new(), 0);
    for _ in 0..attempts {
        match ring.try_read(entry, q) {
            ReadAttempt::Ready => {
                let cell = &m.payload[ring.slot_index(q)];
                // SAFETY: Ready: our mark protects the slot until finish_read.
                let value = cell.with(|p| unsafe { *p });
                assert_eq!(value, item(q), "torn or stale read of item {q}");
                let _ = ring.finish_read(entry, q);
                seen.push(q);
                q += 1;
            }
            ReadAttempt::NotYet | ReadAttempt::Busy => thread::yield_now(),
            ReadAttempt::Lost { resume } => {
                assert!(resume > q);
                lost += resume - q;
                let _ = ring.skip_to(entry, resume);
                q = resume;
            }
        }
    }
    (seen, lost, q)
}

fn model(capacity: usize, items: u64, mode: Mode, abort_at: Option<u64>) {
    crate::loom_support::check(Some(2), move || {
        let m = Arc::new(Model::new(capacity, 2));
        // Both consumers attached before the first write.
        for pid in [10, 11] {
            m.ring().join(pid, 0, 0, Start::Oldest).unwrap();
        }
        let readers: Vec<_> = (0..2)
            .map(|me| {
                let m = m.clone();
                thread::spawn(move || reader(&m, me, items as usize + 1))
            })
            .collect();
        writer(&m, items, mode, abort_at);
        let written = m.commit.commit_seq.load(Relaxed);
        for r in readers {
            let (seen, lost, position) = r.join().unwrap();
            assert!(
                seen.windows(2).all(|w| w[0] < w[1]),
                "in order, never twice"
            );
            assert!(seen.iter().all(|&q| q < written));
            if mode == Mode::Block {
                assert_eq!(lost, 0, "lossless");
                assert_eq!(seen, (0..seen.len() as u64).collect::<Vec<_>>(), "lossless");
            } else {
                assert_eq!(
                    seen.len() as u64 + lost,
                    position,
                    "every item read or counted lost"
                );
            }
        }
    });
}

#[test]
fn loom_block_capacity_1_two_readers() {
    model(1, 2, Mode::Block, None);
}

#[test]
fn loom_block_capacity_2_wraps_around() {
    model(2, 3, Mode::Block, None);
}

#[test]
fn loom_overwrite_capacity_1_never_tears() {
    model(1, 3, Mode::Overwrite, None);
}

#[test]
fn loom_overwrite_capacity_2_wraps_around() {
    model(2, 3, Mode::Overwrite, None);
}

#[test]
fn loom_aborted_write_is_never_seen() {
    model(2, 2, Mode::Block, Some(1));
}

#[test]
fn loom_aborted_overwrite_is_never_seen() {
    model(1, 2, Mode::Overwrite, Some(1));
}

/// What a sleeper does with a futex word: `Some(seen)` when it would call
/// FUTEX_WAIT expecting `seen`, `None` when its re-check found progress.
/// It sleeps only while the word still equals `seen`, until a wake: so it
/// is never left asleep if, after both threads are done, the word moved
/// and the other side said a wake system call is due.
fn assert_woken(slept_on: Option<u32>, word_now: u32, wake_called: bool) {
    if let Some(seen) = slept_on {
        assert!(
            word_now != seen && wake_called,
            "lost wake-up: asleep on {seen}, word {word_now}, wake called: {wake_called}"
        );
    }
}

#[test]
fn loom_a_producer_waiting_for_room_is_never_left_asleep() {
    loom::model(|| {
        let m = Arc::new(Model::new(1, 1));
        let ring = m.ring();
        let (entry, _) = ring.join(10, 0, 0, Start::Oldest).unwrap();
        // Item 0 committed: with capacity 1, item 1 needs it read.
        let previous = ring.claim(0, 1);
        assert_eq!(previous, SLOT_FREE);
        ring.check_marks(0).unwrap();
        let _ = ring.commit(0, 16, 0);
        let reader = {
            let m = m.clone();
            thread::spawn(move || {
                let ring = m.ring();
                let me = &ring.consumers[entry];
                assert!(matches!(ring.try_read(me, 0), ReadAttempt::Ready));
                ring.finish_read(me, 0)
            })
        };
        let slept_on = if ring.check_room(1).is_ok() {
            None
        } else {
            let seen = ring.prepare_writer_wait();
            if ring.check_room(1).is_ok() {
                ring.end_writer_wait();
                None
            } else {
                // Sleeps (end_writer_wait only after waking).
                Some(seen)
            }
        };
        let wake_called = reader.join().unwrap();
        assert_woken(slept_on, m.write.read_futex.load(Relaxed), wake_called);
    });
}

#[test]
fn loom_a_consumer_waiting_for_an_item_is_never_left_asleep() {
    loom::model(|| {
        let m = Arc::new(Model::new(1, 1));
        let (entry, _) = m.ring().join(10, 0, 0, Start::Oldest).unwrap();
        let writer = {
            let m = m.clone();
            thread::spawn(move || {
                let ring = m.ring();
                ring.claim(0, 1);
                ring.check_marks(0).unwrap();
                ring.commit(0, 16, 0)
            })
        };
        let ring = m.ring();
        let me = &ring.consumers[entry];
        let ready = |ring: &Ring<'_>| matches!(ring.try_read(me, 0), ReadAttempt::Ready);
        let slept_on = if ready(&ring) {
            None
        } else {
            let seen = ring.prepare_wait();
            if ready(&ring) {
                ring.end_wait();
                None
            } else {
                Some(seen)
            }
        };
        let wake_called = writer.join().unwrap();
        assert_woken(slept_on, m.commit.futex.load(Relaxed), wake_called);
    });
}

/// Writes and commits item `q`, which no reader can be reading (none has
/// seen its slot's previous item, or none runs yet).
fn publish_unread(m: &Model, q: u64) {
    let ring = m.ring();
    ring.claim(q, 1);
    ring.check_marks(q).unwrap();
    // SAFETY: check_marks succeeded, and the caller knows no reader reads
    // this slot.
    m.payload[ring.slot_index(q)].with_mut(|p| unsafe { *p = item(q) });
    let _ = ring.commit(q, 16, 0);
}

/// The mark hand-off alone, without a preemption bound: one reader reads
/// item 0 in place while the writer tries to overwrite its slot with item
/// 1. Either the writer sees the mark (and gives up) or the reader's read
/// happens before the overwrite.
#[test]
fn loom_a_cleared_mark_orders_the_read_before_the_overwrite() {
    loom::model(|| {
        let m = Arc::new(Model::new(1, 1));
        let (entry, _) = m.ring().join(10, 0, 0, Start::Oldest).unwrap();
        let ring = m.ring();
        // No reader runs yet.
        publish_unread(&m, 0);
        let reader = {
            let m = m.clone();
            thread::spawn(move || {
                let ring = m.ring();
                let me = &ring.consumers[entry];
                if ring.try_read(me, 0) == ReadAttempt::Ready {
                    // SAFETY: Ready: our mark protects the slot.
                    let value = m.payload[0].with(|p| unsafe { *p });
                    assert_eq!(value, item(0), "torn read of item 0");
                    let _ = ring.finish_read(me, 0);
                }
            })
        };
        let previous = ring.claim(1, 1);
        if ring.check_marks(1).is_ok() {
            // SAFETY: check_marks succeeded: no reader reads this slot.
            m.payload[0].with_mut(|p| unsafe { *p = item(1) });
            let _ = ring.commit(1, 16, 0);
        } else {
            let _ = ring.cancel_claim(1, previous);
        }
        reader.join().unwrap();
    });
}

/// A writer that gives up an overwrite (a reader's mark holds the slot)
/// restores the item it had claimed, readable again: a reader that finds
/// the restored item reads what the first commit published. Without a
/// preemption bound.
#[test]
fn loom_a_cancelled_overwrite_leaves_the_item_readable() {
    loom::model(|| {
        let m = Arc::new(Model::new(1, 1));
        let (entry, _) = m.ring().join(10, 0, 0, Start::Oldest).unwrap();
        let writer = {
            let m = m.clone();
            thread::spawn(move || {
                let ring = m.ring();
                // No reader has seen item 0 committed yet.
                publish_unread(&m, 0);
                let previous = ring.claim(1, 1);
                if ring.check_marks(1).is_ok() {
                    // SAFETY: check_marks succeeded: no reader reads it.
                    m.payload[0].with_mut(|p| unsafe { *p = item(1) });
                    let _ = ring.commit(1, 16, 0);
                } else {
                    let _ = ring.cancel_claim(1, previous);
                }
            })
        };
        let ring = m.ring();
        let me = &ring.consumers[entry];
        for _ in 0..2 {
            match ring.try_read(me, 0) {
                ReadAttempt::Ready => {
                    // SAFETY: Ready: our mark protects the slot.
                    let value = m.payload[0].with(|p| unsafe { *p });
                    assert_eq!(value, item(0), "torn read of item 0");
                    let _ = ring.finish_read(me, 0);
                    break;
                }
                ReadAttempt::Lost { .. } => break,
                ReadAttempt::NotYet | ReadAttempt::Busy => thread::yield_now(),
            }
        }
        writer.join().unwrap();
    });
}
