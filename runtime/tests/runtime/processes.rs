//! Producer and consumers in separate processes. The test binary re-runs
//! itself as each child (`spawn.rs`): the `child` test below, ignored in a
//! normal run, reads its role from `DATAHUB_TEST_CHILD`, does its part and
//! prints one result line that the parent asserts on. Every wait is
//! bounded; a child that overstays is killed and fails its test.

mod chaos;
mod checksums;
mod corrupt;
mod faults;
mod hostile;
mod spawn;
mod stalls;
mod zones_only;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use datahub::{
    AttachOptions, ChannelConfig, ChecksumPolicy, Consumer, DataHubSlot, ErrorKind, Overflow,
    Producer,
};
use serde_json::{Value, json};

use crate::channel::Name;
use corrupt::Expect;
use spawn::{CHILD_ENV, ChildProcess, RESULT_MARK, wait_for_consumers};

/// 256 bytes whose every word is derived from the sequence number, so a
/// torn, stale or misplaced item shows.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Record {
    seq: u64,
    words: [u64; 31],
}

impl Record {
    fn word(seq: u64, i: usize) -> u64 {
        (seq ^ ((i as u64) << 56)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq
    }

    fn fill(&mut self, seq: u64) {
        self.seq = seq;
        for (i, w) in self.words.iter_mut().enumerate() {
            *w = Self::word(seq, i);
        }
    }

    /// Panics unless every field is item `seq`'s.
    fn assert_is(&self, seq: u64) {
        assert_eq!(self.seq, seq, "item {seq} holds the seq field of another");
        for (i, w) in self.words.iter().enumerate() {
            assert_eq!(*w, Self::word(seq, i), "item {seq} torn at word {i}");
        }
    }

    /// Folds this item into an order-sensitive digest of a stream.
    fn fold_into(&self, digest: u64) -> u64 {
        let item = self.words.iter().fold(self.seq, |acc, w| acc ^ w);
        digest.rotate_left(7) ^ item
    }
}

/// The same head as `Record` with half the words: another slot type.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct NarrowRecord {
    seq: u64,
    words: [u64; 15],
}

/// How long a blocked read or write may wait before the test calls the
/// other side stuck (generous: CI machines are loaded).
const STUCK: Duration = Duration::from_secs(30);
/// How long children may take from start to attach.
const START: Duration = Duration::from_secs(30);

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(90)
}

#[test]
fn four_consumer_processes_read_a_million_items_whole_in_order_without_loss() {
    deliver_losslessly("mp-lossless", 256, 4, 1_000_000);
}

#[test]
fn a_single_buffer_hands_every_item_to_each_consumer_process_in_turn() {
    deliver_losslessly("mp-single", 1, 2, 20_000);
}

/// This process writes `items` items into a lossless ring of `capacity`
/// slots read by `consumers` child processes; each must report every item,
/// whole and in order, then the close.
fn deliver_losslessly(tag: &str, capacity: u32, consumers: usize, items: u64) {
    let name = Name::new(tag);
    // A consumer descheduled for a while must not be dropped from the
    // lossless set: the stall timeout is far beyond any scheduling delay.
    let config = ChannelConfig::new(&name.0)
        .capacity(capacity)
        .stall_timeout(Duration::from_secs(600));
    let mut producer = Producer::<Record>::create(&config).unwrap();
    let mut children: Vec<_> = (0..consumers)
        .map(|_| ChildProcess::spawn(&["lossless", &name.0]))
        .collect();
    wait_for_consumers(
        || producer.consumer_count(),
        consumers,
        &mut children,
        START,
    );
    for seq in 0..items {
        if let Err(e) = producer.write_with(STUCK, |r| r.fill(seq)) {
            panic!("writing item {seq}: {e}");
        }
    }
    drop(producer);

    let mut scratch = Record {
        seq: 0,
        words: [0; 31],
    };
    let expected_digest = (0..items).fold(0, |digest, seq| {
        scratch.fill(seq);
        scratch.fold_into(digest)
    });
    let deadline = deadline();
    for child in children {
        let result = child.finish(deadline).result();
        assert_eq!(
            result,
            json!({
                "first": 0,
                "count": items,
                "seq_sum": items * (items - 1) / 2,
                "digest": expected_digest,
                "lost": 0,
                "end": "DH206",
            })
        );
    }
}

/// Child: reads every item until the channel closes, checking each is
/// whole and follows the previous one.
fn read_every_item(channel: &str) -> Value {
    let consumer = Consumer::<Record>::attach(channel).unwrap();
    let first = consumer.position();
    let (mut count, mut seq_sum, mut digest) = (0u64, 0u64, 0u64);
    let end = loop {
        let item = match consumer.next(STUCK).map_err(datahub::Error::into_kind) {
            Ok(item) => item,
            Err(e @ ErrorKind::Closed { .. }) => break e,
            Err(e) => panic!("after {count} items: {e}"),
        };
        assert_eq!(item.seq(), first + count, "in order, no gap, no duplicate");
        assert_eq!(item.lost_before(), 0, "item {}", item.seq());
        item.assert_is(item.seq());
        count += 1;
        seq_sum += item.seq;
        digest = item.fold_into(digest);
    };
    json!({
        "first": first,
        "count": count,
        "seq_sum": seq_sum,
        "digest": digest,
        "lost": consumer.lost(),
        "end": end.code(),
    })
}

#[test]
fn a_slow_consumer_process_counts_every_overwritten_item_and_never_reads_a_torn_one() {
    const ITEMS: u64 = 4_000;
    let name = Name::new("mp-overwrite");
    let config = ChannelConfig::new(&name.0)
        .capacity(4)
        .overflow(Overflow::Overwrite)
        .checksum(ChecksumPolicy::Enforced);
    let mut producer = Producer::<Record>::create(&config).unwrap();
    // The consumer naps 2 ms after each item; the producer writes one
    // every ~0.1 ms: it laps the consumer again and again.
    let mut children = vec![ChildProcess::spawn(&["slow", &name.0, "2000"])];
    wait_for_consumers(|| producer.consumer_count(), 1, &mut children, START);
    for seq in 0..ITEMS {
        producer.write_with(STUCK, |r| r.fill(seq)).unwrap();
        std::thread::sleep(Duration::from_micros(50));
    }
    drop(producer);

    let result = children.pop().unwrap().finish(deadline()).result();
    let field = |key: &str| {
        result[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {result}"))
    };
    assert_eq!(field("first"), 0, "{result}");
    assert_eq!(
        field("last"),
        ITEMS - 1,
        "the newest item is read: {result}"
    );
    assert!(field("lost") > 0, "a slow reader loses items: {result}");
    assert_eq!(
        field("read") + field("lost"),
        ITEMS,
        "every item read or counted lost: {result}"
    );
    assert_eq!(
        field("lost_before_sum"),
        field("lost"),
        "the losses reported with each item add up to the total: {result}"
    );
    assert_eq!(result["end"], "DH206", "{result}");
}

/// Child: reads slowly (napping `nap_us` after each item) until the
/// channel closes, checking each item is whole and newer than the last.
fn read_slowly(channel: &str, nap: Duration) -> Value {
    let consumer = Consumer::<Record>::attach(channel).unwrap();
    let first = consumer.position();
    let (mut read, mut lost_before_sum, mut last) = (0u64, 0u64, None::<u64>);
    let end = loop {
        let item = match consumer.next(STUCK).map_err(datahub::Error::into_kind) {
            Ok(item) => item,
            Err(e @ ErrorKind::Closed { .. }) => break e,
            Err(e) => panic!("after {read} items: {e}"),
        };
        let seq = item.seq();
        item.assert_is(seq);
        assert!(last.is_none_or(|l| seq > l), "{seq} after {last:?}");
        assert_eq!(
            seq,
            last.map_or(first, |l| l + 1) + item.lost_before(),
            "lost_before counts exactly the items skipped"
        );
        lost_before_sum += item.lost_before();
        last = Some(seq);
        read += 1;
        drop(item);
        std::thread::sleep(nap);
    };
    json!({
        "first": first,
        "last": last,
        "read": read,
        "lost": consumer.lost(),
        "lost_before_sum": lost_before_sum,
        "end": end.code(),
    })
}

#[test]
fn a_process_expecting_another_slot_type_is_refused_naming_the_differing_field() {
    let name = Name::new("mp-mismatch");
    let mut producer = Producer::<Record>::create(&ChannelConfig::new(&name.0)).unwrap();
    producer.write_with(STUCK, |r| r.fill(0)).unwrap();
    let deadline = deadline();

    let same = ChildProcess::spawn(&["attach", &name.0, "record"]).finish(deadline);
    assert_eq!(
        same.result(),
        json!({"attached": true, "first": 0}),
        "the same type attaches"
    );

    let other = ChildProcess::spawn(&["attach", &name.0, "narrow"]).finish(deadline);
    let result = other.result();
    assert_eq!(result["code"], "DH207", "{other}");
    let message = result["message"].as_str().unwrap();
    assert!(
        message.contains("field `words`: the segment has `[u64;31]@8`, you expect `[u64;15]@8`"),
        "{message}"
    );
    assert_eq!(producer.consumer_count(), 0);
}

#[test]
fn a_process_attaching_to_a_corrupted_segment_gets_a_typed_error_never_a_crash() {
    let name = Name::new("mp-corrupt");
    let path = format!("/dev/shm/datahub.{}", name.0);
    let image = {
        let config = ChannelConfig::new(&name.0).capacity(8);
        let mut producer = Producer::<Record>::create(&config).unwrap();
        for seq in 0..3 {
            producer.write_with(STUCK, |r| r.fill(seq)).unwrap();
        }
        std::fs::read(&path).unwrap()
        // Dropping the producer removes the segment; copies replace it.
    };
    let damages = corrupt::damages(&image);
    for damage in &damages {
        std::fs::write(&path, &damage.bytes).unwrap();
        let child = ChildProcess::spawn(&["attach", &name.0, "record"]).finish(deadline());
        let result = child.result();
        let label = &damage.label;
        match damage.expect {
            Expect::Attached => assert_eq!(
                result,
                json!({"attached": true, "first": 0}),
                "{label}\n{child}"
            ),
            Expect::Error(code, text) => {
                assert_eq!(result["code"], code, "{label}\n{child}");
                let message = result["message"].as_str().unwrap();
                assert!(message.contains(text), "{label}: {message}");
            }
            Expect::NoCrash => assert!(
                result["attached"] == true || result["code"].is_string(),
                "{label}\n{child}"
            ),
        }
    }
}

/// Child: attaches as a consumer of `slot_type` and reads the first item
/// if there is one; an error is a result too, not a failure.
fn attach(channel: &str, slot_type: &str) -> Value {
    let options = AttachOptions::default().ready_timeout(Duration::from_millis(200));
    let attached = match slot_type {
        "record" => Consumer::<Record>::attach_with(channel, &options).and_then(|c| {
            Ok(c.try_next()?.map(|item| {
                item.assert_is(item.seq());
                item.seq()
            }))
        }),
        "narrow" => Consumer::<NarrowRecord>::attach_with(channel, &options).map(|_| None),
        other => panic!("unknown slot type `{other}`"),
    };
    match attached {
        Ok(first) => json!({"attached": true, "first": first}),
        Err(e) => json!({"code": e.code(), "message": e.to_string()}),
    }
}

/// A consumer process killed with SIGKILL (no destructor runs, its entry
/// stays ACTIVE) is found dead by the blocked producer and removed at
/// once: the producer is held back for milliseconds, not the stall timeout.
#[test]
fn a_killed_consumer_process_stops_holding_back_a_lossless_producer() {
    let name = Name::new("mp-killed");
    let config = ChannelConfig::new(&name.0)
        .capacity(4)
        .stall_timeout(Duration::from_secs(60));
    let mut producer = Producer::<Record>::create(&config).unwrap();
    let mut children = vec![ChildProcess::spawn(&["lossless", &name.0])];
    wait_for_consumers(|| producer.consumer_count(), 1, &mut children, START);
    let killed = children.pop().unwrap().kill();
    assert_eq!(killed.status.signal(), Some(9), "{killed}");
    let started = Instant::now();
    for seq in 0..8 {
        if let Err(e) = producer.write_with(Duration::from_secs(5), |r| r.fill(seq)) {
            panic!("item {seq}: {e}");
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "held back {:?} by a dead consumer (its stall timeout is 60 s)",
        started.elapsed()
    );
    assert_eq!(
        producer.consumer_count(),
        0,
        "the dead consumer was removed"
    );
}

/// A consumer process killed while it reads an item in place (its read
/// mark on the slot the producer must reuse) is removed and its mark
/// cleared: the single-buffer producer goes on at once.
#[test]
fn a_consumer_killed_holding_a_read_does_not_pin_its_slot() {
    let name = Name::new("mp-holding");
    let config = ChannelConfig::new(&name.0)
        .capacity(1)
        .stall_timeout(Duration::from_secs(60));
    let mut producer = Producer::<Record>::create(&config).unwrap();
    let marker = std::env::temp_dir().join(format!("{}.holding", name.0));
    let _ = std::fs::remove_file(&marker);
    let mut children = vec![ChildProcess::spawn(&[
        "hold",
        &name.0,
        marker.to_str().unwrap(),
    ])];
    wait_for_consumers(|| producer.consumer_count(), 1, &mut children, START);
    producer.write_with(STUCK, |r| r.fill(0)).unwrap();
    let deadline = Instant::now() + START;
    while !marker.exists() {
        children[0].assert_running();
        assert!(Instant::now() < deadline, "the child never held item 0");
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = children.pop().unwrap().kill();
    assert_eq!(killed.status.signal(), Some(9), "{killed}");
    let _ = std::fs::remove_file(&marker);
    let started = Instant::now();
    producer
        .write_with(Duration::from_secs(5), |r| r.fill(1))
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the dead reader's mark pinned the slot for {:?}",
        started.elapsed()
    );
    assert_eq!(producer.consumer_count(), 0);
}

/// Child: reads item 0 and holds it (in place, its read mark set), tells
/// the parent through `marker`, and waits to be killed.
fn hold_a_read(channel: &str, marker: &str) -> Value {
    let consumer = Consumer::<Record>::attach(channel).unwrap();
    let item = consumer.next(STUCK).unwrap();
    item.assert_is(0);
    std::fs::write(marker, b"holding item 0").unwrap();
    std::thread::sleep(STUCK);
    panic!("not killed within {STUCK:?}");
}

/// The child processes' entry point, run only by the tests above (as
/// `<test binary> --exact processes::child --ignored`).
#[test]
#[ignore = "a child process of the tests of this module: they run it with DATAHUB_TEST_CHILD set"]
fn child() {
    let role = std::env::var(CHILD_ENV).unwrap_or_else(|_| {
        panic!("{CHILD_ENV} is not set: this test runs only as a child of the `processes` tests")
    });
    let result = match role.split(':').collect::<Vec<_>>()[..] {
        ["lossless", channel] => read_every_item(channel),
        ["slow", channel, nap_us] => {
            read_slowly(channel, Duration::from_micros(nap_us.parse().unwrap()))
        }
        ["attach", channel, slot_type] => attach(channel, slot_type),
        ["hold", channel, marker] => hold_a_read(channel, marker),
        ["produce", channel, committed, marker] => {
            produce_then_hang(channel, committed.parse().unwrap(), marker, true)
        }
        ["idle", channel, committed, marker] => {
            produce_then_hang(channel, committed.parse().unwrap(), marker, false)
        }
        ["stream", channel] => chaos::stream(channel),
        ["chaos-reader", channel] => chaos::read_on(channel),
        ["spin"] => stalls::spin(),
        ["produce-mode", channel, mode, marker] => {
            hostile::produce_with_mode(channel, mode, marker)
        }
        ["secret-producer", channel, marker] => hostile::produce_secretly(channel, marker),
        ["scribble", channel] => hostile::scribble(channel),
        ["small-shm"] => hostile::create_on_a_small_shm(),
        ["die-mid-write", channel, committed, marker] => {
            faults::die_mid_write(channel, committed.parse().unwrap(), marker)
        }
        ["zones-only", channel] => zones_only::visit(channel),
        ["verify", channel, slots, key] => checksums::read_and_verify(channel, slots, key),
        _ => panic!("unknown child role `{role}`"),
    };
    // On a line of its own: the test harness may have printed on this one.
    println!("\n{RESULT_MARK}{result}");
}

/// The configuration both the child producer and its successor use.
fn takeover_config(name: &str) -> ChannelConfig {
    ChannelConfig::new(name).capacity(8)
}

/// Child: creates the channel, commits items `0..committed`, then (when
/// `mid_write`) claims the next slot and half-writes it, tells the parent
/// through `marker`, and waits to be killed: mid-write, or between
/// commits, as a crash would leave it.
fn produce_then_hang(channel: &str, committed: u64, marker: &str, mid_write: bool) -> Value {
    let mut producer = Producer::<Record>::create(&takeover_config(channel)).unwrap();
    for seq in 0..committed {
        producer.write_with(STUCK, |r| r.fill(seq)).unwrap();
    }
    let _slot = mid_write.then(|| {
        let mut slot = producer.acquire(STUCK).unwrap();
        slot.seq = u64::MAX;
        slot.words[..8].fill(0xDEAD);
        slot
    });
    std::fs::write(marker, b"ready to die").unwrap();
    std::thread::sleep(STUCK);
    panic!("not killed within {STUCK:?}");
}

/// Starts a child producer that commits `committed` items and dies
/// mid-write (SIGKILL), with `consumer` attached meanwhile.
fn kill_a_producer_mid_write(name: &Name, committed: u64) -> Consumer<Record> {
    kill_a_producer(name, committed, "produce")
}

/// Starts a child producer in `role` (`produce`: dies mid-write; `idle`:
/// dies between commits) that commits `committed` items, with `consumer`
/// attached meanwhile, and kills it with SIGKILL.
fn kill_a_producer(name: &Name, committed: u64, role: &str) -> Consumer<Record> {
    let marker = std::env::temp_dir().join(format!("{}.{role}", name.0));
    let _ = std::fs::remove_file(&marker);
    let mut child = ChildProcess::spawn(&[
        role,
        &name.0,
        &committed.to_string(),
        marker.to_str().unwrap(),
    ]);
    let deadline = Instant::now() + START;
    let consumer = loop {
        match (Consumer::<Record>::attach(&name.0)).map_err(datahub::Error::into_kind) {
            Ok(c) => break c,
            Err(ErrorKind::NoSuchChannel { .. } | ErrorKind::NotReady { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        child.assert_running();
        assert!(
            Instant::now() < deadline,
            "the child never created the channel"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    while !marker.exists() {
        child.assert_running();
        assert!(
            Instant::now() < deadline,
            "the child never reached its write"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = child.kill();
    assert_eq!(killed.status.signal(), Some(9), "{killed}");
    let _ = std::fs::remove_file(&marker);
    consumer
}

#[test]
fn a_restarted_producer_takes_a_dead_ones_channel_over_and_consumers_carry_on() {
    let name = Name::new("mp-takeover");
    let consumer = kill_a_producer_mid_write(&name, 5);
    for seq in 0..5 {
        consumer.next(STUCK).unwrap().assert_is(seq);
    }
    // Nobody produces now: a waiting consumer learns it within its timeout.
    let err = consumer.next(Duration::from_millis(100)).err().unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::ProducerGone { .. }),
        "{err}"
    );
    assert_eq!(err.code(), "DH215");
    let mut successor = Producer::<Record>::create(&takeover_config(&name.0)).unwrap();
    assert_eq!(successor.next_seq(), 5, "sequence numbers continue");
    // The same consumer, never re-attached: every item, whole, in order;
    // the half-written slot was reset, never shown.
    for seq in 5..20 {
        successor.write_with(STUCK, |r| r.fill(seq)).unwrap();
        let item = consumer.next(STUCK).unwrap();
        assert_eq!(item.lost_before(), 0);
        item.assert_is(seq);
    }
    assert_eq!(consumer.lost(), 0);
}

/// Killed between commits (no slot WRITING): the successor resets nothing,
/// goes on from the next sequence number, and the consumer, waiting in
/// `next()` when the producer died, learns it within its timeout and then
/// reads every item once, whole, in order.
#[test]
fn a_producer_killed_between_commits_is_taken_over_with_nothing_lost_or_repeated() {
    let name = Name::new("mp-between");
    let consumer = kill_a_producer(&name, 6, "idle");
    for seq in 0..6 {
        consumer.next(STUCK).unwrap().assert_is(seq);
    }
    // A polling loop learns it too: its liveness check is spaced out, not
    // skipped.
    let polled = Instant::now();
    loop {
        match consumer.try_next() {
            Ok(None) => assert!(
                polled.elapsed() < Duration::from_secs(5),
                "try_next never reported the dead producer"
            ),
            Ok(Some(item)) => panic!("item {} from a dead producer", item.seq()),
            Err(e) => {
                assert!(matches!(e.kind(), ErrorKind::ProducerGone { .. }), "{e}");
                break;
            }
        }
    }
    let waited = Instant::now();
    let err = consumer.next(Duration::from_millis(200)).err().unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::ProducerGone { .. }),
        "{err}"
    );
    assert!(
        waited.elapsed() < Duration::from_secs(5),
        "told after {:?}",
        waited.elapsed()
    );
    let mut successor = Producer::<Record>::create(&takeover_config(&name.0)).unwrap();
    assert_eq!(successor.next_seq(), 6, "sequence numbers continue");
    let s = datahub::inspect(&name.0).unwrap();
    assert_eq!(s.counters["producer_takeovers"], 1);
    assert_eq!(
        s.counters["slots_recovered"], 0,
        "nothing was being written"
    );
    for seq in 6..40 {
        successor.write_with(STUCK, |r| r.fill(seq)).unwrap();
        let item = consumer.next(STUCK).unwrap();
        assert_eq!(item.lost_before(), 0);
        item.assert_is(seq);
    }
    assert!(consumer.try_next().unwrap().is_none(), "no duplicate");
    assert_eq!(consumer.lost(), 0);
}

/// Producers restarting at once on a dead producer's segment, taking it
/// over (same identity) or replacing it (another ring): exactly one goes
/// on, the others get `ChannelExists`; never two producers on one channel.
#[test]
fn of_producers_restarting_at_once_exactly_one_goes_on() {
    for (round, capacity) in [(0, 8), (1, 16), (2, 8), (3, 32)] {
        let name = Name::new(&format!("mp-race{round}"));
        let _orphan = kill_a_producer(&name, 2, "idle");
        let barrier = std::sync::Barrier::new(3);
        let outcomes: Vec<Result<u64, String>> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        Producer::<Record>::create(&takeover_config(&name.0).capacity(capacity))
                            .map(|p| {
                                let next = p.next_seq();
                                // Keep it until every racer is done.
                                std::mem::forget(p);
                                next
                            })
                            .map_err(|e| e.code().to_owned())
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let winners: Vec<_> = outcomes.iter().filter(|o| o.is_ok()).collect();
        assert_eq!(winners.len(), 1, "capacity {capacity}: {outcomes:?}");
        let expected_next = if capacity == 8 { 2 } else { 0 };
        assert_eq!(*winners[0], Ok(expected_next), "taken over, or replaced");
        assert!(
            outcomes
                .iter()
                .all(|o| o.is_ok() || *o == Err("DH202".to_owned())),
            "{outcomes:?}"
        );
        assert_eq!(
            datahub::inspect(&name.0).unwrap().producer.pid,
            Some(std::process::id())
        );
        // The winner was leaked on purpose: remove its segment by hand.
        let _ = std::fs::remove_file(format!("/dev/shm/datahub.{}", name.0));
    }
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct OtherRecord {
    seq: u64,
    words: [u32; 62],
}

#[test]
fn a_producer_restarted_with_another_schema_recreates_the_channel_and_old_consumers_are_told() {
    let name = Name::new("mp-changed");
    let orphan = kill_a_producer_mid_write(&name, 3);
    let _new = Producer::<OtherRecord>::create(&ChannelConfig::new(&name.0)).unwrap();
    for seq in 0..3 {
        orphan.next(STUCK).unwrap().assert_is(seq);
    }
    let err = orphan.next(Duration::from_millis(100)).err().unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::SchemaChanged { .. }),
        "{err}"
    );
    assert_eq!(err.code(), "DH216");
    // Same schema, another ring: recreated too; its consumers are told the
    // producer is gone.
    let other = Name::new("mp-regrown");
    let orphan = kill_a_producer_mid_write(&other, 2);
    let _bigger = Producer::<Record>::create(&takeover_config(&other.0).capacity(16)).unwrap();
    for seq in 0..2 {
        orphan.next(STUCK).unwrap().assert_is(seq);
    }
    let err = orphan.next(Duration::from_millis(100)).err().unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::ProducerGone { .. }),
        "{err}"
    );
    assert!(
        Consumer::<Record>::attach(&other.0).is_ok(),
        "the new segment"
    );
}
