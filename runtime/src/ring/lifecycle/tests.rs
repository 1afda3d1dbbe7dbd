//! Sequential tests of the lifecycle's steps (the concurrent ones are the
//! loom models beside this file).

use super::*;
use crate::ring::fixture::Fixture;
use crate::segment::header::INIT_READY;

/// Owner words of a dead producer and of two claimers.
const DEAD: u64 = (7 << 22) | 100;
const FIRST: u64 = (8 << 22) | 200;
const SECOND: u64 = (9 << 22) | 300;

#[test]
fn the_first_claim_of_a_dead_owners_word_wins_and_the_second_is_told_who_won() {
    let f = Fixture::new(1, 1);
    f.owner.store(DEAD, Relaxed);
    let lifecycle = f.lifecycle();
    let _claim = lifecycle.claim(DEAD, FIRST).expect("the first claim wins");
    assert_eq!(lifecycle.claim(DEAD, SECOND).unwrap_err(), FIRST);
    assert_eq!(f.owner.load(Relaxed), FIRST);
}

#[test]
fn a_claim_of_a_word_that_changed_since_it_was_judged_dead_fails() {
    let f = Fixture::new(1, 1);
    // The owner judged dead was replaced by another (live) producer.
    f.owner.store(FIRST, Relaxed);
    assert_eq!(f.lifecycle().claim(DEAD, SECOND).unwrap_err(), FIRST);
    assert_eq!(f.owner.load(Relaxed), FIRST, "left untouched");
}

#[test]
fn a_claim_handed_back_can_be_claimed_again() {
    let f = Fixture::new(1, 1);
    f.owner.store(DEAD, Relaxed);
    let lifecycle = f.lifecycle();
    let claim = lifecycle.claim(DEAD, FIRST).unwrap();
    assert!(lifecycle.hand_back(claim));
    assert_eq!(f.owner.load(Relaxed), DEAD, "the dead owner's word again");
    let _claim = lifecycle.claim(DEAD, SECOND).expect("claimable again");
    assert_eq!(f.owner.load(Relaxed), SECOND);
}

#[test]
fn a_segment_without_an_owner_is_claimed_from_zero() {
    let f = Fixture::new(1, 1);
    let _claim = f.lifecycle().claim(0, FIRST).unwrap();
    assert_eq!(f.owner.load(Relaxed), FIRST);
}

#[test]
fn closing_stores_closed_and_moves_the_commit_futex() {
    let f = Fixture::new(1, 1);
    let lifecycle = f.lifecycle();
    assert!(!lifecycle.closed(), "a ready channel is open");
    let before = f.commit.futex.load(Relaxed);
    let wake = lifecycle.close();
    assert!(
        std::ptr::eq(wake.futex(), &f.commit.futex),
        "wakes commit sleepers"
    );
    assert!(lifecycle.closed());
    assert_eq!(f.commit.futex.load(Relaxed), before.wrapping_add(1));
}

#[test]
fn waking_the_sleepers_moves_the_futex_and_leaves_the_channel_open() {
    let f = Fixture::new(1, 1);
    let lifecycle = f.lifecycle();
    f.commit.futex.store(u32::MAX, Relaxed);
    let _wake = lifecycle.wake_sleepers();
    assert_eq!(f.commit.futex.load(Relaxed), 0, "wraps around");
    assert_eq!(f.init_state.load(Relaxed), INIT_READY);
    assert!(!lifecycle.closed());
}

#[test]
fn a_reader_that_saw_closed_still_finds_the_last_commit_on_its_next_look() {
    // The look-once-more rule, sequentially: the item committed between
    // the reader's empty look and the close is read after it sees CLOSED.
    let f = Fixture::new(2, 1);
    let ring = f.ring();
    let (me, q) = ring.join(10, 0, 0, crate::ring::Start::Oldest).unwrap();
    let me = &f.consumers[me];
    assert_eq!(
        ring.try_read(me, q),
        crate::ring::protocol::ReadAttempt::NotYet
    );
    ring.claim(q, 1);
    ring.check_marks(q).unwrap();
    let _ = ring.commit(q, 8, 0);
    let _wake = f.lifecycle().close();
    assert!(f.lifecycle().closed());
    assert_eq!(
        ring.try_read(me, q),
        crate::ring::protocol::ReadAttempt::Ready
    );
}
