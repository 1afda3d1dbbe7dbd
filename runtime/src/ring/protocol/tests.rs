//! Sequential tests of the protocol's decisions (the concurrent ones are
//! the loom models beside this file).

use super::*;
use crate::segment::layout::{CommitLine, ConsumerEntry, SlotState, WriteLine};

pub(super) struct Fixture {
    pub(super) write: WriteLine,
    pub(super) commit: CommitLine,
    pub(super) slots: Vec<SlotState>,
    pub(super) consumers: Vec<ConsumerEntry>,
}

impl Fixture {
    pub(super) fn new(capacity: usize, consumers: usize) -> Self {
        Self {
            write: WriteLine::new(),
            commit: CommitLine::new(),
            slots: (0..capacity).map(|_| SlotState::new()).collect(),
            consumers: (0..consumers).map(|_| ConsumerEntry::new()).collect(),
        }
    }

    pub(super) fn ring(&self) -> Ring<'_> {
        Ring {
            write: &self.write,
            commit: &self.commit,
            slots: &self.slots,
            consumers: &self.consumers,
        }
    }
}

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
