//! Issue 14, defect 1: a lossless channel must not lose items from
//! consumers that are alive and keeping up. A consumer waiting in `next()`
//! for items that have not come is not stalled, however long ago it last
//! read; only one that has had an item to read for the stall timeout
//! without reading it may be passed over.
//!
//! Each test runs the producer here, consumer processes that fail on the
//! first lost item (`read_every_item`), and a busy process that keeps a
//! core loaded, as the probe that found the defect did.

use std::time::{Duration, Instant};

use datahub::{ChannelConfig, Producer};
use serde_json::json;

use super::spawn::{ChildProcess, wait_for_consumers};
use super::{Record, START, STUCK, deadline};
use crate::channel::Name;

/// Child: spins until killed, so the consumers and the producer share the
/// two cores with a busy process.
pub(super) fn spin() -> ! {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// Writes `count` items from `next`, returning the next sequence number.
fn write_burst(producer: &mut Producer<Record>, next: u64, count: u64) -> u64 {
    for seq in next..next + count {
        if let Err(e) = producer.write_with(STUCK, |r| r.fill(seq)) {
            panic!("writing item {seq}: {e}");
        }
    }
    next + count
}

/// On each of `channels` channels at once, `rounds` times: pause for
/// longer than the stall timeout (the channel's two consumers wait in
/// `next()`, their last read older than the timeout), then write `burst`
/// items as fast as the ring allows. Every consumer must read every item:
/// none may be passed over for having waited. (The channels run side by
/// side so that many rounds fit in a short test while the stall timeout
/// stays far above any scheduling delay of a loaded machine: a consumer
/// that is not scheduled for the whole stall timeout, with an item to
/// read, may rightly be passed over.)
fn idle_then_burst(
    tag: &str,
    channels: usize,
    rounds: u64,
    stall: Duration,
    pause: Duration,
    burst: u64,
) {
    let names: Vec<_> = (0..channels)
        .map(|i| Name::new(&format!("{tag}-{i}")))
        .collect();
    let _busy = ChildProcess::spawn(&["spin"]);
    let mut producers = Vec::new();
    let mut children = Vec::new();
    for name in &names {
        let config = ChannelConfig::new(&name.0).capacity(8).stall_timeout(stall);
        let producer = Producer::<Record>::create(&config).unwrap();
        let mut consumers: Vec<_> = (0..2)
            .map(|_| ChildProcess::spawn(&["lossless", &name.0]))
            .collect();
        wait_for_consumers(|| producer.consumer_count(), 2, &mut consumers, START);
        producers.push(producer);
        children.extend(consumers);
    }
    // Each channel's counters as its producer ends: on a failure they say
    // whether a consumer was passed over as stalled or removed as dead.
    let counters: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> = producers
            .into_iter()
            .map(|mut producer| {
                s.spawn(move || {
                    let mut next = 0;
                    for _ in 0..rounds {
                        std::thread::sleep(pause);
                        next = write_burst(&mut producer, next, burst);
                    }
                    datahub::inspect(producer.channel()).unwrap().counters
                })
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    for child in children {
        let finished = child.finish(deadline());
        assert!(
            finished.status.success(),
            "a consumer that waited through each pause lost items; the channels' counters: \
             {counters:?}\n{finished}"
        );
        let result = finished.result();
        assert_eq!(
            (&result["count"], &result["lost"], &result["end"]),
            (&json!(rounds * burst), &json!(0), &json!("DH206")),
            "{result}"
        );
    }
}

/// The probe's pattern: 20,000 items, a pause of 1.5 stall timeouts, then
/// 20,000 more as fast as possible (scaled down: 2,000 and 0.75 s against
/// 0.5 s), four rounds. Before the fix one consumer lost items in every
/// round: the producer filled the ring before the consumer was scheduled,
/// found its last read older than the stall timeout, and passed it over.
#[test]
fn consumers_waiting_through_a_pause_longer_than_the_stall_timeout_lose_nothing() {
    let name = Name::new("stall-pause");
    let config = ChannelConfig::new(&name.0)
        .capacity(8)
        .stall_timeout(Duration::from_millis(500));
    let mut producer = Producer::<Record>::create(&config).unwrap();
    let _busy = ChildProcess::spawn(&["spin"]);
    let mut children: Vec<_> = (0..2)
        .map(|_| ChildProcess::spawn(&["lossless", &name.0]))
        .collect();
    wait_for_consumers(|| producer.consumer_count(), 2, &mut children, START);
    let mut next = 0;
    for _ in 0..4 {
        next = write_burst(&mut producer, next, 2_000);
        std::thread::sleep(Duration::from_millis(750));
        next = write_burst(&mut producer, next, 2_000);
    }
    drop(producer);
    for child in children {
        let result = child.finish(deadline()).result();
        assert_eq!(result["count"], json!(next), "{result}");
        assert_eq!(result["lost"], json!(0), "{result}");
    }
}

/// Defect 1's stress test: 1,000 rounds of idle-then-burst (4 channels of
/// 250 rounds, side by side) under a busy process, zero items lost on any
/// of the 8 lossless consumers. About 70 s; `DATAHUB_STRESS_ROUNDS` sets
/// another total.
#[test]
fn a_thousand_idle_then_burst_rounds_under_load_lose_no_item() {
    let rounds: u64 = std::env::var("DATAHUB_STRESS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000);
    idle_then_burst(
        "stall-stress",
        4,
        rounds.div_ceil(4),
        Duration::from_millis(250),
        Duration::from_millis(260),
        32,
    );
}

/// One consumer process is stopped (SIGSTOP) with items to read: after the
/// stall timeout the producer passes it over and goes on. The other
/// consumer, healthy, must lose nothing; the stopped one, continued, learns
/// exactly what it lost. (The probe saw the healthy one lose 258 items.)
#[test]
fn a_healthy_consumer_loses_nothing_while_another_is_stopped() {
    const ITEMS: u64 = 6_000;
    let name = Name::new("stall-stopped");
    let config = ChannelConfig::new(&name.0)
        .capacity(8)
        .stall_timeout(Duration::from_millis(500));
    let mut producer = Producer::<Record>::create(&config).unwrap();
    let mut children = vec![
        ChildProcess::spawn(&["lossless", &name.0]),
        ChildProcess::spawn(&["slow", &name.0, "0"]),
    ];
    wait_for_consumers(|| producer.consumer_count(), 2, &mut children, START);
    let mut next = write_burst(&mut producer, 0, 1_000);
    // Stopped while waiting, not while reading an item in place (a held
    // item is never torn: the producer would wait for it, not pass it).
    let pid = children[1].pid();
    let caught_up = Instant::now() + START;
    while !datahub::inspect(&name.0)
        .unwrap()
        .consumers
        .iter()
        .any(|c| c.pid == pid && c.position == next && c.reading.is_none())
    {
        assert!(Instant::now() < caught_up, "the consumer never caught up");
        std::thread::sleep(Duration::from_millis(1));
    }
    let stopped = pid.to_string();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &stopped])
            .status()
            .unwrap();
        assert!(status.success(), "kill {sig} {stopped}");
    };
    signal("-STOP");
    // Pauses longer than the stall timeout between bursts: the healthy
    // consumer waits through them, the stopped one has items to read.
    let started = Instant::now();
    while next < ITEMS - 1_000 {
        next = write_burst(&mut producer, next, 500);
        std::thread::sleep(Duration::from_millis(600));
    }
    assert!(started.elapsed() < Duration::from_secs(60), "held back");
    signal("-CONT");
    write_burst(&mut producer, next, 1_000);
    drop(producer);
    let healthy = children.remove(0).finish(deadline()).result();
    assert_eq!(
        (&healthy["count"], &healthy["lost"]),
        (&json!(ITEMS), &json!(0)),
        "the healthy consumer lost items: {healthy}"
    );
    let slow = children.remove(0).finish(deadline()).result();
    let field = |key: &str| slow[key].as_u64().unwrap_or_else(|| panic!("{slow}"));
    assert!(
        field("lost") > 0,
        "the stopped consumer was passed over: {slow}"
    );
    assert_eq!(field("read") + field("lost"), ITEMS, "{slow}");
    assert_eq!(field("lost_before_sum"), field("lost"), "{slow}");
}
