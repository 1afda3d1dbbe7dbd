//! Sequential tests of the protocol's decisions (the concurrent ones are
//! the loom models beside this file).

use super::*;
use crate::ring::fixture::Fixture;

fn write(ring: &Ring<'_>, q: u64) {
    ring.check_room(q).unwrap();
    ring.claim(q, 1);
    ring.check_marks(q).unwrap();
    ring.commit(q, 8, 0);
}

#[test]
fn a_lossless_writer_waits_for_the_slowest_active_consumer() {
    let f = Fixture::new(2, 2);
    let ring = f.ring();
    let (a, first) = ring.join(10, 0, 0, Start::Oldest).unwrap();
    assert_eq!(first, 0);
    write(&ring, 0);
    write(&ring, 1);
    // Item 2 overwrites item 0, which consumer `a` has not read.
    assert_eq!(
        ring.check_room(2),
        Err(WriteBlocked::Behind {
            consumer: a,
            read_pos: 0,
            needed: 1
        })
    );
    assert_eq!(ring.try_read(&f.consumers[a], 0), ReadAttempt::Ready);
    assert!(!ring.finish_read(&f.consumers[a], 0), "no producer waits");
    assert_eq!(ring.check_room(2), Ok(()));
    // A consumer that leaves no longer holds the writer back.
    assert!(!ring.leave(a), "no producer waits");
    assert_eq!(ring.check_room(3), Ok(()));
}

#[test]
fn a_read_mark_holds_off_the_writer_of_the_same_slot_only() {
    let f = Fixture::new(2, 1);
    let ring = f.ring();
    let (a, _) = ring.join(10, 0, 0, Start::Oldest).unwrap();
    write(&ring, 0);
    write(&ring, 1);
    assert_eq!(ring.try_read(&f.consumers[a], 1), ReadAttempt::Ready);
    // Overwrite mode does not call check_room; the mark still protects slot 1.
    let previous = ring.claim(3, 1);
    assert_eq!(
        ring.check_marks(3),
        Err(WriteBlocked::Marked {
            consumer: a,
            seq: 1
        })
    );
    // The writer gives up: item 1 is still readable.
    ring.cancel_claim(3, previous);
    ring.claim(2, 1);
    assert_eq!(ring.check_marks(2), Ok(()));
    assert!(!ring.finish_read(&f.consumers[a], 1), "no producer waits");
    assert_eq!(f.consumers[a].read_pos.load(Relaxed), 2);
}

#[test]
fn a_lapped_reader_is_told_where_to_resume() {
    let f = Fixture::new(2, 1);
    let ring = f.ring();
    let (a, _) = ring.join(10, 0, 0, Start::Oldest).unwrap();
    for q in 0..5 {
        ring.claim(q, 1);
        ring.check_marks(q).unwrap();
        ring.commit(q, 8, 0);
    }
    // Items 0..3 are gone; 3 and 4 are held.
    assert_eq!(
        ring.try_read(&f.consumers[a], 0),
        ReadAttempt::Lost { resume: 3 }
    );
    assert!(!ring.skip_to(&f.consumers[a], 3), "no producer waits");
    assert_eq!(f.consumers[a].read_pos.load(Relaxed), 3);
    assert_eq!(ring.try_read(&f.consumers[a], 3), ReadAttempt::Ready);
}

#[test]
fn a_reader_waits_while_its_slot_is_rewritten_and_learns_the_outcome() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    let (a, _) = ring.join(10, 0, 0, Start::Oldest).unwrap();
    write(&ring, 0);
    let previous = ring.claim(1, 1);
    assert_eq!(ring.try_read(&f.consumers[a], 0), ReadAttempt::Busy);
    assert_eq!(
        f.consumers[a].read_mark.load(Relaxed),
        0,
        "a busy reader holds no mark"
    );
    // Cancelled: item 0 is back.
    ring.cancel_claim(1, previous);
    assert_eq!(ring.try_read(&f.consumers[a], 0), ReadAttempt::Ready);
    assert!(!ring.finish_read(&f.consumers[a], 0), "no producer waits");
    // Aborted after writing: nothing readable until the next commit.
    write(&ring, 1);
    ring.claim(2, 1);
    ring.abort(2);
    assert_eq!(
        ring.try_read(&f.consumers[a], 1),
        ReadAttempt::Lost { resume: 2 }
    );
    assert_eq!(ring.try_read(&f.consumers[a], 2), ReadAttempt::NotYet);
}

#[test]
fn consumers_start_at_the_oldest_held_or_the_newest_item() {
    let f = Fixture::new(4, 3);
    let ring = f.ring();
    assert_eq!(
        ring.join(1, 0, 0, Start::Newest).unwrap().1,
        0,
        "nothing written: the first item"
    );
    for q in 0..10 {
        write(&ring, q);
        assert!(!ring.finish_read(&f.consumers[0], q), "no producer waits");
    }
    assert_eq!(ring.join(2, 0, 0, Start::Oldest).unwrap().1, 6);
    assert_eq!(ring.join(3, 0, 0, Start::Newest).unwrap().1, 9);
    assert_eq!(
        ring.join(4, 0, 0, Start::Oldest),
        None,
        "max_consumers entries, all taken"
    );
    assert_eq!(ring.consumer_count(), 3);
}

#[test]
fn every_commit_bumps_the_futex_word_and_reports_sleepers() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    ring.claim(0, 1);
    assert!(!ring.commit(0, 8, 0), "no sleeper, no wake system call");
    let seen = ring.prepare_wait();
    assert_eq!(ring.claim(1, 1), SLOT_COMMITTED);
    assert!(ring.commit(1, 8, 0), "a sleeper is woken");
    assert_ne!(f.commit.futex.load(Relaxed), seen);
    ring.end_wait();
}

#[test]
fn evicting_removes_only_the_process_that_was_judged_dead() {
    let f = Fixture::new(2, 1);
    let ring = f.ring();
    let (i, _) = ring.join(10, 7, 0, Start::Oldest).unwrap();
    // The entry was freed and taken by another process (or another
    // incarnation of pid 10) since the caller judged it: left alone.
    assert_eq!(ring.evict(i, 11, 7), None);
    assert_eq!(ring.evict(i, 10, 8), None);
    assert_eq!(f.consumers[i].state.load(Relaxed), CONSUMER_ACTIVE);
    assert_eq!(ring.consumer_count(), 1);
    // The process judged dead: removed once, and its entry is free.
    f.consumers[i].read_mark.store(1, Relaxed);
    assert_eq!(ring.evict(i, 10, 7), Some(false), "no producer waits");
    assert_eq!(f.consumers[i].state.load(Relaxed), CONSUMER_FREE);
    assert_eq!(f.consumers[i].read_mark.load(Relaxed), 0);
    assert_eq!(ring.consumer_count(), 0);
    assert_eq!(ring.evict(i, 10, 7), None, "already removed");
}

#[test]
fn a_mark_holds_off_the_writer_of_its_own_slot_in_a_ring_of_four() {
    // With 4 slots the mark's slot (item 5: slot 1) differs from the
    // slots of its neighbours (items 4 and 6: slots 0 and 2).
    let f = Fixture::new(4, 1);
    let ring = f.ring();
    let (a, _) = ring.join(10, 0, 0, Start::Oldest).unwrap();
    // Overwrite mode: no check_room.
    for q in 0..6 {
        ring.claim(q, 1);
        ring.check_marks(q).unwrap();
        ring.commit(q, 8, 0);
    }
    assert_eq!(ring.try_read(&f.consumers[a], 5), ReadAttempt::Ready);
    ring.claim(9, 1);
    assert_eq!(
        ring.check_marks(9),
        Err(WriteBlocked::Marked {
            consumer: a,
            seq: 5
        })
    );
    for other in [6, 7, 8] {
        assert_eq!(ring.check_marks(other), Ok(()), "item {other}");
    }
}

#[test]
fn a_stalled_consumer_is_passed_over_until_it_reads_again() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    let (a, _) = ring.join(10, 0, 0, Start::Oldest).unwrap();
    let me = &f.consumers[a];
    write(&ring, 0);
    assert!(ring.check_room(1).is_err(), "item 0 not read");
    assert!(!ring.resume_after_stall(me), "not passed over yet");
    ring.mark_stalled(a, 0);
    assert_eq!(ring.check_room(1), Ok(()), "passed over");
    assert!(ring.resume_after_stall(me), "told once");
    assert!(!ring.resume_after_stall(me), "and only once");
    assert!(ring.check_room(1).is_err(), "waited for again");
}

#[test]
fn recovering_a_dead_writer_frees_the_slots_it_was_writing_and_goes_on_numbering() {
    let f = Fixture::new(4, 1);
    let ring = f.ring();
    for q in 0..5 {
        write(&ring, q);
    }
    // The dead writer had claimed item 5 (slot 1) and item 6 is untouched.
    ring.claim(5, 1);
    assert_eq!(ring.recover_writer(), (5, 1));
    assert_eq!(f.slots[1].state.load(Relaxed), SLOT_FREE);
    assert_eq!(f.slots[0].state.load(Relaxed), SLOT_COMMITTED);
    assert_eq!(f.write.write_seq.load(Relaxed), 5);
    // Nothing left to reset; numbers go on from the last commit.
    assert_eq!(ring.recover_writer(), (5, 0));
    let (a, _) = ring.join(10, 0, 0, Start::Oldest).unwrap();
    assert_eq!(
        ring.try_read(&f.consumers[a], 1),
        ReadAttempt::Lost { resume: 2 },
        "the item in the reset slot is lost"
    );
}

#[test]
fn a_waiting_producer_is_woken_by_a_read_and_only_while_it_waits() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    let (a, _) = ring.join(10, 0, 0, Start::Oldest).unwrap();
    let me = &f.consumers[a];
    write(&ring, 0);
    f.write.read_futex.store(41, Relaxed);
    assert_eq!(ring.prepare_writer_wait(), 41, "the value to sleep on");
    assert_eq!(ring.try_read(me, 0), ReadAttempt::Ready);
    assert!(ring.finish_read(me, 0), "the producer waits: wake it");
    assert_eq!(f.write.read_futex.load(Relaxed), 42, "the word moved");
    ring.end_writer_wait();
    write(&ring, 1);
    assert_eq!(ring.try_read(me, 1), ReadAttempt::Ready);
    assert!(!ring.finish_read(me, 1), "no longer waiting: no wake");
    assert_eq!(f.write.read_futex.load(Relaxed), 42);
}

#[test]
fn a_consumer_that_stopped_waiting_is_not_woken() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    ring.claim(0, 1);
    f.commit.futex.store(7, Relaxed);
    assert_eq!(ring.prepare_wait(), 7, "the value to sleep on");
    ring.end_wait();
    assert!(!ring.commit(0, 8, 0), "nobody sleeps: no wake system call");
    assert_eq!(f.commit.futex.load(Relaxed), 8, "the word still moves");
}
