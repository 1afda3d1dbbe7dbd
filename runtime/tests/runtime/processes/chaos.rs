//! Chaos: a producer process and consumer processes killed with SIGKILL at
//! random moments, 200 times, each replaced by a new process, while a
//! witness consumer in this process reads on throughout. After every round
//! the stream must flow again within the stall timeout plus the restart,
//! no slot may be left stuck, and at the end every item the witness saw is
//! whole and in order and the counters add up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use datahub::{ChannelConfig, Consumer, ErrorKind, Producer};
use serde_json::{Value, json};

use super::Record;
use super::spawn::ChildProcess;
use crate::channel::Name;

const ROUNDS: usize = 200;
/// Short, so that a consumer process stopped by the machine's load is
/// passed over quickly (and the test exercises that path too).
const STALL: Duration = Duration::from_millis(300);
/// Added to the bound for scheduling noise on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(3);
/// Children give up by themselves after this, should the parent vanish.
const CHILD_LIFETIME: Duration = Duration::from_secs(300);
/// Consumer processes running at any time.
const READERS: usize = 3;

fn config(name: &str) -> ChannelConfig {
    ChannelConfig::new(name)
        .capacity(8)
        .max_consumers(8)
        .stall_timeout(STALL)
}

/// A small deterministic generator (xorshift64*), seeded per run so a
/// failure can be replayed with `DATAHUB_CHAOS_SEED`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// The channel's snapshot, once it exists.
fn snapshot(name: &str) -> Option<datahub::ChannelSnapshot> {
    datahub::inspect(name).ok()
}

/// Fails the test with its output if a child exited by itself (a panic
/// on a torn item, a write that timed out).
fn check_running(children: &mut [&mut ChildProcess]) {
    for child in children {
        child.assert_running();
    }
}

#[test]
fn chaos_random_kills_and_restarts_never_hang_tear_or_leave_stuck_slots() {
    let seed = std::env::var("DATAHUB_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_CAFE_F00D_u64 ^ u64::from(std::process::id()));
    eprintln!("chaos seed {seed} (replay with DATAHUB_CHAOS_SEED={seed})");
    let mut rng = Rng(seed | 1);
    let name = Name::new("mp-chaos");

    let mut producer = ChildProcess::spawn(&["stream", &name.0]);
    let mut producer_pid = producer.pid();
    wait_until(
        "the first producer commits",
        Duration::from_secs(60),
        || {
            check_running(&mut [&mut producer]);
            snapshot(&name.0).is_some_and(|s| s.committed > 0)
        },
    );

    let stop = Arc::new(AtomicBool::new(false));
    let witness = {
        let (name, stop) = (name.0.clone(), stop.clone());
        thread::spawn(move || witness(&name, &stop))
    };
    let mut readers: Vec<ChildProcess> = (0..READERS)
        .map(|_| ChildProcess::spawn(&["chaos-reader", &name.0]))
        .collect();

    let (mut producer_kills, mut reader_kills) = (0u64, 0u64);
    let mut worst = Duration::ZERO;
    for round in 0..ROUNDS {
        thread::sleep(Duration::from_micros(rng.below(15_000)));
        let before = snapshot(&name.0).expect("the channel").committed;
        let action = rng.below(3);
        let killed_at = Instant::now();
        if action != 1 {
            // Kill the producer wherever it is: between commits, mid-write,
            // blocked on a full ring; then start its successor.
            // (Killed and reaped before its successor starts: a restart.)
            let killed = producer.kill();
            producer = ChildProcess::spawn(&["stream", &name.0]);
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&killed.status),
                Some(9),
                "round {round}: the producer had exited by itself\n{killed}"
            );
            producer_kills += 1;
            producer_pid = producer.pid();
        }
        if action != 0 {
            let victim = rng.below(READERS as u64) as usize;
            let fresh = ChildProcess::spawn(&["chaos-reader", &name.0]);
            let killed = std::mem::replace(&mut readers[victim], fresh).kill();
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&killed.status),
                Some(9),
                "round {round}: a consumer had exited by itself\n{killed}"
            );
            reader_kills += 1;
        }
        // The restart is done when the segment names the new producer
        // (taking the segment over is the last step of its create).
        let restarted = wait_until(
            "the new producer takes over",
            Duration::from_secs(60),
            || {
                check_running(&mut [&mut producer]);
                snapshot(&name.0).is_some_and(|s| s.producer.pid == Some(producer_pid))
            },
        );
        let flowing = wait_until("items flow again", STALL + SLACK, || {
            check_running(&mut [&mut producer]);
            readers.iter_mut().for_each(ChildProcess::assert_running);
            snapshot(&name.0).is_some_and(|s| s.committed > before + 2)
        });
        worst = worst.max(flowing);
        let _ = (killed_at, restarted);
        let s = snapshot(&name.0).expect("the channel");
        let stuck: Vec<_> = s
            .diagnose()
            .into_iter()
            .filter(|f| matches!(f.code, "stuck-slot" | "invalid-state" | "producer-dead"))
            .collect();
        assert!(stuck.is_empty(), "round {round}: {stuck:?}");
    }

    // The end: everyone dies; the witness stops.
    let last_producer = producer.kill();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&last_producer.status),
        Some(9),
        "{last_producer}"
    );
    for reader in readers {
        reader.kill();
    }
    stop.store(true, Ordering::Relaxed);
    let seen = witness.join().expect("the witness consumer");
    let s = snapshot(&name.0).expect("the channel");
    let committed = s.committed;
    let counter = |n: &str| s.counters[n];
    eprintln!(
        "chaos: {ROUNDS} rounds, {producer_kills} producer and {reader_kills} consumer kills, \
         {committed} items, witness {seen}, worst recovery after restart {worst:?}, counters {:?}",
        s.counters
    );
    // Every item the witness saw was whole and in order (checked as it
    // read); it saw or was told of every item from its start to the end.
    assert_eq!(
        seen["first"].as_u64().unwrap()
            + seen["read"].as_u64().unwrap()
            + seen["lost"].as_u64().unwrap(),
        committed,
        "the witness read or was told of every item: {seen}"
    );
    // Every successor recounted what its predecessor committed but did not
    // count; the last producer has no successor, and may have been killed
    // between its last commit and counting it (a futex wake lies between).
    let uncounted = committed
        .checked_sub(counter("items_committed"))
        .unwrap_or_else(|| panic!("more counted than committed: {:?}", s.counters));
    assert!(
        uncounted <= 1,
        "{uncounted} commits uncounted: {:?}",
        s.counters
    );
    assert_eq!(
        counter("producer_takeovers"),
        producer_kills,
        "each restart took over"
    );
    assert!(counter("slots_recovered") <= producer_kills);
    // Killed readers are replaced at once, and a replacement may itself be
    // killed before it attaches: only some of them attach. At least the
    // first readers and the witness did, and some later ones.
    assert!(
        counter("consumers_attached") > 1 + READERS as u64,
        "{:?}",
        s.counters
    );
    // Reclaim the entries of the dead consumers: then the table is empty
    // and every attach is matched by a detach or a removal.
    let recovery = datahub::recover(&name.0, false).unwrap();
    let s = snapshot(&name.0).expect("the channel");
    assert!(s.consumers.is_empty(), "{:?}", s.consumers);
    assert_eq!(
        s.counters["consumers_attached"],
        s.counters["consumers_detached"] + s.counters["consumers_evicted"],
        "{:?} after {recovery:?}",
        s.counters
    );
    let verdict = datahub::cleanup(std::slice::from_ref(&name.0), false).unwrap();
    assert_eq!(
        verdict[0].verdict,
        datahub::CleanupVerdict::Removed,
        "{verdict:?}"
    );
}

/// Polls `done` every millisecond until it holds; fails the test after
/// `within`. Returns how long it took.
fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        thread::sleep(Duration::from_millis(1));
    }
    started.elapsed()
}

/// The witness: a consumer in the test process, never killed, checking
/// every item it reads. Returns where it started, how many items it read
/// and how many it was told it lost (it may be passed over as stalled when
/// the machine stops it for longer than the stall timeout).
fn witness(name: &str, stop: &AtomicBool) -> Value {
    let consumer = Consumer::<Record>::attach(name).expect("the witness attaches");
    let first = consumer.position();
    let (mut read, mut last) = (0u64, None::<u64>);
    while !stop.load(Ordering::Relaxed) {
        match consumer
            .next(Duration::from_millis(50))
            .map_err(datahub::Error::into_kind)
        {
            Ok(item) => {
                check_in_order(&item, &mut last);
                read += 1;
            }
            Err(ErrorKind::ProducerGone { .. } | ErrorKind::Timeout { .. }) => {}
            Err(e) => panic!("witness: {e}"),
        }
    }
    // Drain what the last producer committed.
    while let Ok(Some(item)) = consumer.try_next() {
        check_in_order(&item, &mut last);
        read += 1;
    }
    json!({"first": first, "read": read, "lost": consumer.lost(), "last": last})
}

/// Panics unless `item` comes after `last` and is whole; then it is `last`.
fn check_in_order(item: &datahub::ReadSlot<'_, Record>, last: &mut Option<u64>) {
    let seq = item.seq();
    assert!(last.is_none_or(|l| seq > l), "item {seq} after {last:?}");
    item.assert_is(seq);
    *last = Some(seq);
}

/// Child: the producer. Creates the channel, or takes a dead producer's
/// segment over, and writes items whose content follows their sequence
/// number until it is killed, lingering inside every other write. A write that cannot finish within 20 s (a
/// consumer holding it back past the stall timeout) fails the test.
pub(super) fn stream(channel: &str) -> Value {
    let mut producer = Producer::<Record>::create(&config(channel))
        .unwrap_or_else(|e| panic!("the producer restarts: {e}"));
    let started = Instant::now();
    while started.elapsed() < CHILD_LIFETIME {
        let seq = producer.next_seq();
        producer
            .write_with(Duration::from_secs(20), |r| {
                if seq.is_multiple_of(2) {
                    // Dwell mid-write, half the words old and half new, so
                    // that many kills land in a claimed slot.
                    r.words[..16].fill(0xDEAD);
                    thread::sleep(Duration::from_micros(200));
                }
                r.fill(seq);
            })
            .unwrap_or_else(|e| panic!("item {seq}: {e}"));
        if seq.is_multiple_of(64) {
            thread::yield_now();
        }
    }
    json!({"gave_up": true})
}

/// Child: a consumer reading and checking every item until it is killed.
pub(super) fn read_on(channel: &str) -> Value {
    let started = Instant::now();
    let consumer = loop {
        match Consumer::<Record>::attach(channel) {
            Ok(c) => break c,
            Err(e) if started.elapsed() > Duration::from_secs(60) => panic!("attach: {e}"),
            Err(_) => thread::sleep(Duration::from_millis(1)),
        }
    };
    let mut last = None::<u64>;
    while started.elapsed() < CHILD_LIFETIME {
        match consumer
            .next(Duration::from_millis(200))
            .map_err(datahub::Error::into_kind)
        {
            Ok(item) => check_in_order(&item, &mut last),
            Err(ErrorKind::ProducerGone { .. } | ErrorKind::Timeout { .. }) => {}
            Err(e) => panic!("consumer: {e}"),
        }
    }
    json!({"gave_up": true})
}
