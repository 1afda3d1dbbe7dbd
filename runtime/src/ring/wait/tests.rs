//! What a wait promises, on a ring in ordinary memory: it ends when its
//! poll or its periodic check finds something, or at its timeout; an idle
//! wait sleeps (a bounded number of polls) and registers as a sleeper on
//! the right word, and unregisters when it ends; a busy-polling wait never
//! sleeps. No assertion here depends on how fast the machine is: times
//! are lower bounds, counts upper bounds.

use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;

use super::*;
use crate::ring::fixture::Fixture;

const LONG: Duration = Duration::from_secs(20);

#[test]
fn a_wait_the_first_poll_ends_reads_no_clock_and_runs_no_check() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    let checks = Cell::new(0);
    let w = wait_until(
        WaitStrategy::default(),
        LONG,
        SleepOn::Commits(&ring),
        || Some(7),
        || {
            checks.set(checks.get() + 1);
            None::<i32>
        },
    );
    assert_eq!(
        (w.found, w.since.is_none(), w.waited()),
        (Some(7), true, Duration::ZERO)
    );
    assert_eq!(checks.get(), 0);
}

#[test]
fn a_wait_that_finds_nothing_ends_at_its_timeout_having_slept() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    let polls = Cell::new(0u64);
    let timeout = Duration::from_millis(200);
    let w = wait_until(
        WaitStrategy::default(),
        timeout,
        SleepOn::Commits(&ring),
        || {
            polls.set(polls.get() + 1);
            None::<()>
        },
        || None,
    );
    assert!(w.found.is_none());
    assert!(w.waited() >= timeout, "{:?}", w.waited());
    // 200 spins, 20 yields, then two polls per sleep of at most 40 ms:
    // about 230 polls, where a wait that never slept would make millions,
    // and one that spun between its sleeps (sleeping only when its clock
    // is read, every 64th round) about 550.
    assert!(polls.get() < 400, "{} polls: it did not sleep", polls.get());
    assert_eq!(f.commit.waiters.load(Relaxed), 0, "unregistered");
}

#[test]
fn the_periodic_check_ends_a_wait_and_runs_at_most_once_a_period() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    for strategy in [WaitStrategy::default(), WaitStrategy::busy_poll()] {
        // A check that finds something ends the wait (a dead producer).
        let w = wait_until(
            strategy,
            LONG,
            SleepOn::Commits(&ring),
            || None,
            || Some("gone"),
        );
        assert_eq!(w.found, Some("gone"), "{strategy:?}");
        assert!(
            w.waited() >= CHECK_EVERY,
            "{strategy:?}: not before a period"
        );
        assert!(w.waited() < LONG, "{strategy:?}");

        // One that finds nothing runs at most once per period.
        let checks = Cell::new(0u32);
        let timeout = Duration::from_millis(300);
        let w = wait_until(
            strategy,
            timeout,
            SleepOn::Commits(&ring),
            || None::<()>,
            || {
                checks.set(checks.get() + 1);
                None
            },
        );
        assert!(w.found.is_none());
        let most = (timeout.as_millis() / CHECK_EVERY.as_millis()) as u32;
        assert!(
            checks.get() <= most,
            "{strategy:?}: {} checks",
            checks.get()
        );
    }
}

#[test]
fn an_idle_wait_registers_on_its_own_word_before_sleeping_and_unregisters() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    // The poll ends the wait when it sees the waiter registered: only the
    // re-check between registering and sleeping can see that.
    let w = wait_until(
        WaitStrategy::default(),
        Duration::from_secs(2),
        SleepOn::Commits(&ring),
        || (f.commit.waiters.load(Relaxed) == 1).then_some("consumer registered"),
        || None,
    );
    assert_eq!(w.found, Some("consumer registered"));
    assert_eq!(f.commit.waiters.load(Relaxed), 0);
    assert_eq!(f.write.writer_waiting.load(Relaxed), 0);

    let w = wait_until(
        WaitStrategy::default(),
        Duration::from_secs(2),
        SleepOn::Reads(&ring),
        || (f.write.writer_waiting.load(Relaxed) == 1).then_some("producer registered"),
        || None,
    );
    assert_eq!(w.found, Some("producer registered"));
    assert_eq!(f.write.writer_waiting.load(Relaxed), 0);
    assert_eq!(f.commit.waiters.load(Relaxed), 0);
}

#[test]
fn a_sleeping_wait_is_woken_by_a_commit() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            wait_until(
                WaitStrategy::default(),
                LONG,
                SleepOn::Commits(&ring),
                || (ring.commit_seq() > 0).then_some(()),
                || None,
            )
        });
        // Commit once the waiter sleeps (registered), and wake it.
        while f.commit.waiters.load(Relaxed) == 0 {
            std::thread::yield_now();
        }
        ring.claim(0, 1);
        assert!(ring.commit(0, 8, 0), "a sleeper is registered");
        os::futex_wake_all(&f.commit.futex);
        assert_eq!(waiter.join().unwrap().found, Some(()));
    });
}

#[test]
fn a_busy_polling_wait_never_sleeps() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    let strategies = [
        WaitStrategy::busy_poll(),
        WaitStrategy {
            spins: 10,
            yields: 10,
            sleep: false,
        },
    ];
    for strategy in strategies {
        let registered = Cell::new(false);
        let timeout = Duration::from_millis(100);
        let w = wait_until(
            strategy,
            timeout,
            SleepOn::Commits(&ring),
            || {
                registered.set(registered.get() || f.commit.waiters.load(Relaxed) != 0);
                None::<()>
            },
            || None,
        );
        assert!(w.found.is_none() && w.waited() >= timeout, "{strategy:?}");
        assert!(!registered.get(), "{strategy:?} slept");
    }
}
