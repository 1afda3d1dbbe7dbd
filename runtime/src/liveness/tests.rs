//! The producer's verdicts on the consumers that block it, on a ring in
//! ordinary memory: a consumer is "dead" here when its recorded start time
//! is not its process's (a reused pid, as the OS would show it), and this
//! test process stands for a live one.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::*;
use crate::ring::fixture::Fixture;
use crate::ring::protocol::Start;
use crate::segment::layout::CONSUMER_FREE;

const SECOND: u64 = 1_000_000_000;

fn metrics() -> MetricsBlock {
    MetricsBlock {
        words: std::array::from_fn(|_| AtomicU64::new(0)),
    }
}

fn live() -> ProcessId {
    let me = os::current_process();
    assert_ne!(me.start_time, 0, "this process reads its own start time");
    me
}

/// This process's pid with another start time: dead to the OS check.
fn dead() -> ProcessId {
    ProcessId {
        start_time: live().start_time + 1,
        ..live()
    }
}

fn join(ring: &Ring<'_>, who: ProcessId) -> usize {
    ring.join(who.pid, who.start_time, os::monotonic_ns(), Start::Oldest)
        .unwrap()
        .0
}

/// Fills a ring of `capacity` from item 0, each committed at `commit_ns`.
fn fill(ring: &Ring<'_>, capacity: u64, commit_ns: u64) {
    for q in 0..capacity {
        ring.claim(q, 1);
        ring.commit(q, 8, commit_ns);
    }
}

fn behind(consumer: usize) -> WriteBlocked {
    WriteBlocked::Behind {
        consumer,
        read_pos: 0,
        needed: 1,
    }
}

#[test]
fn reaping_removes_the_dead_consumers_only_and_counts_them() {
    let f = Fixture::new(2, 4);
    let ring = f.ring();
    let m = metrics();
    let a = join(&ring, live());
    let b = join(&ring, dead());
    let c = join(&ring, dead());
    assert_eq!(
        dead_consumers(&ring),
        vec![(b, dead()), (c, dead())],
        "free entries and live processes are not listed"
    );
    assert_eq!(reap_dead(&ring, &m), vec![(b, dead()), (c, dead())]);
    assert_eq!(m.get(Counter::ConsumersEvicted), 2);
    for (index, state) in [(a, false), (b, true), (c, true)] {
        assert_eq!(
            f.consumers[index].state.load(Relaxed) == CONSUMER_FREE,
            state,
            "entry {index}"
        );
    }
    // Nothing left to reap: no count, no change.
    assert_eq!(reap_dead(&ring, &m), vec![]);
    assert_eq!(m.get(Counter::ConsumersEvicted), 2);
    assert_eq!(dead_consumers(&ring), vec![]);
}

#[test]
fn reaping_wakes_a_producer_sleeping_for_room() {
    let f = Fixture::new(1, 1);
    let ring = f.ring();
    let m = metrics();
    join(&ring, dead());
    std::thread::scope(|s| {
        let seen = ring.prepare_writer_wait();
        let word = &f.write.read_futex;
        let sleeper = s.spawn(move || os::futex_wait(word, seen, Duration::from_secs(60)));
        // Let it fall asleep; a wake before the sleep leaves the word as it
        // was, so this only makes the test meaningful, not pass.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(reap_dead(&ring, &m).len(), 1);
        // Woken, or it sleeps the full minute and this says so.
        assert!(matches!(sleeper.join().unwrap(), os::FutexWait::Returned));
    });
}

#[test]
fn a_blocking_consumer_whose_process_died_is_removed_at_once() {
    let f = Fixture::new(2, 2);
    let ring = f.ring();
    let m = metrics();
    let a = join(&ring, dead());
    fill(&ring, 2, os::monotonic_ns());
    let mut pace = None;
    let mut watch = Watch::new(&ring, &m, 60 * SECOND, &mut pace);
    assert!(watch.blocked(behind(a)), "changed: the caller re-checks");
    assert_eq!(f.consumers[a].state.load(Relaxed), CONSUMER_FREE);
    assert_eq!(m.get(Counter::ConsumersEvicted), 1);
    assert_eq!(ring.check_room(2), Ok(()));

    // Holding a mark, the same.
    let b = join(&ring, dead());
    let mut pace = None;
    let mut watch = Watch::new(&ring, &m, 60 * SECOND, &mut pace);
    let marked = WriteBlocked::Marked {
        consumer: b,
        seq: 1,
    };
    assert!(watch.blocked(marked));
    assert_eq!(f.consumers[b].state.load(Relaxed), CONSUMER_FREE);
    assert_eq!(m.get(Counter::ConsumersEvicted), 2);
    assert_eq!(m.get(Counter::ConsumersStalled), 0);
}

#[test]
fn a_live_consumer_is_passed_over_only_after_its_item_waited_the_stall_timeout() {
    let now = os::monotonic_ns();
    let long_ago = now - 10 * SECOND;
    // (last read, commit of its next item, stalled?)
    let cases = [
        (long_ago, long_ago, true),
        // It read recently: idle since its read.
        (now, long_ago, false),
        // Its item came just now, after a long pause (issue 14, defect 1).
        (long_ago, now, false),
    ];
    for (last_read, committed, stalled) in cases {
        let f = Fixture::new(2, 1);
        let ring = f.ring();
        let m = metrics();
        let a = join(&ring, live());
        fill(&ring, 2, committed);
        f.consumers[a].heartbeat_ns.store(last_read, Relaxed);
        let mut pace = None;
        let mut watch = Watch::new(&ring, &m, 5 * SECOND, &mut pace);
        let case = format!("last read {last_read}, committed {committed}");
        assert_eq!(watch.blocked(behind(a)), stalled, "{case}");
        assert_eq!(
            m.get(Counter::ConsumersStalled),
            u64::from(stalled),
            "{case}"
        );
        assert_eq!(
            f.consumers[a].stalled_since_ns.load(Relaxed) != 0,
            stalled,
            "{case}"
        );
        assert_eq!(m.get(Counter::ConsumersEvicted), 0, "alive: {case}");
        assert_ne!(f.consumers[a].state.load(Relaxed), CONSUMER_FREE);
    }
}

#[test]
fn a_live_consumer_holding_its_item_is_never_passed_over() {
    let f = Fixture::new(2, 1);
    let ring = f.ring();
    let m = metrics();
    let a = join(&ring, live());
    let long_ago = os::monotonic_ns() - 10 * SECOND;
    fill(&ring, 2, long_ago);
    f.consumers[a].heartbeat_ns.store(long_ago, Relaxed);
    let mut pace = None;
    let mut watch = Watch::new(&ring, &m, 0, &mut pace);
    let marked = WriteBlocked::Marked {
        consumer: a,
        seq: 0,
    };
    assert!(!watch.blocked(marked));
    assert_eq!(f.consumers[a].stalled_since_ns.load(Relaxed), 0);
    assert_eq!(m.get(Counter::ConsumersStalled), 0);
}

/// The producer keeps the pace across its `acquire` calls (a watch each):
/// a producer that finds the ring full on every call looks at /proc once
/// per `CHECK_EVERY`, not once per item, and still finds a dead consumer
/// within one period.
#[test]
fn the_checks_keep_their_pace_across_watches() {
    let f = Fixture::new(2, 2);
    let ring = f.ring();
    let m = metrics();
    let a = join(&ring, live());
    fill(&ring, 2, os::monotonic_ns());
    let mut next_check = None;
    // A live consumer: checked, nothing to change.
    let before = Instant::now();
    assert!(!Watch::new(&ring, &m, 60 * SECOND, &mut next_check).blocked(behind(a)));
    let paced_until = next_check.expect("the check set the next one");
    assert!(
        paced_until >= before + CHECK_EVERY,
        "due one period after it ran"
    );
    // It dies; a watch before the next check is due does not look (the due
    // time pushed out, so that a slow machine cannot skip this step).
    f.consumers[a]
        .pid_start_time
        .store(dead().start_time, Relaxed);
    next_check = Some(Instant::now() + Duration::from_secs(60));
    assert!(!Watch::new(&ring, &m, 60 * SECOND, &mut next_check).blocked(behind(a)));
    assert_eq!(m.get(Counter::ConsumersEvicted), 0, "not looked at yet");
    // Once it is due, the next watch does.
    next_check = Some(Instant::now());
    assert!(Watch::new(&ring, &m, 60 * SECOND, &mut next_check).blocked(behind(a)));
    assert_eq!(m.get(Counter::ConsumersEvicted), 1);
    assert_eq!(f.consumers[a].state.load(Relaxed), CONSUMER_FREE);
}
