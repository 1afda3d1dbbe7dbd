//! Repairs after a process dies, each checked by what it must leave
//! behind (issue 15): a successor producer resets the slot its dead
//! predecessor was writing, so a consumer is told the old item is lost and
//! does not hold the successor back; a dead consumer's entry in a full
//! table is freed for the next consumer, or by `datahub::recover`.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use datahub::{ChannelConfig, Consumer, ErrorKind, Producer};
use serde_json::{Value, json};

use super::hostile::{marker, wait_for};
use super::spawn::{ChildProcess, wait_for_consumers};
use super::{Record, START, STUCK};
use crate::channel::Name;

/// The configuration of the producer that dies and of its successor: a
/// lossless ring of 8, and a stall timeout far beyond the test, so that a
/// consumer that cannot go on holds the producer back for good rather
/// than being passed over after a second.
fn outage_config(name: &str) -> ChannelConfig {
    ChannelConfig::new(name)
        .capacity(8)
        .stall_timeout(Duration::from_secs(600))
}

/// Items the dead producer commits: more than the ring holds, so the slot
/// it dies writing still holds an older item (10 % 8: slot 2, item 2).
const COMMITTED: u64 = 10;

/// Child: creates the channel, commits items `0..committed`, claims the
/// next slot and half-writes it, tells the parent through `marker`, and
/// waits to be killed with the slot acquired and not committed.
pub(super) fn die_mid_write(channel: &str, committed: u64, marker: &str) -> Value {
    let mut producer = Producer::<Record>::create(&outage_config(channel)).unwrap();
    for seq in 0..committed {
        producer.write_with(STUCK, |r| r.fill(seq)).unwrap();
    }
    let mut slot = producer.acquire(STUCK).unwrap();
    slot.seq = u64::MAX;
    slot.words.fill(0xDEAD);
    std::fs::write(marker, b"holding a write slot").unwrap();
    std::thread::sleep(STUCK);
    panic!("not killed within {STUCK:?}");
}

/// Runs `parts` as a child, waits until it writes `marker`, and kills it
/// (SIGKILL: no destructor runs).
fn kill_once_ready(parts: &[&str], marker: &std::path::Path) {
    let mut child = ChildProcess::spawn(parts);
    wait_for(marker, &mut child);
    let killed = child.kill();
    assert_eq!(killed.status.signal(), Some(9), "{killed}");
    let _ = std::fs::remove_file(marker);
}

/// A producer killed between `acquire` and `commit` leaves its slot
/// WRITING, over item 2. A consumer attaching during the outage starts at
/// the oldest item, 2. The successor resets that slot to FREE
/// (`slots_recovered == 1`): the consumer is told item 2 is lost (it
/// reads 3 next, `lost_before == 1`) and goes on, so the lossless
/// successor writes twice the ring and more while it reads. Were the slot
/// left WRITING, the consumer would wait for item 2 to be committed and
/// the successor for the consumer to pass item 2: neither would move.
#[test]
fn a_takeover_resets_the_half_written_slot_and_a_consumer_counts_its_item_lost() {
    let name = Name::new("mp-reset");
    let marker = marker(&name, "mid-write");
    kill_once_ready(
        &[
            "die-mid-write",
            &name.0,
            &COMMITTED.to_string(),
            marker.to_str().unwrap(),
        ],
        &marker,
    );
    let before = datahub::inspect(&name.0).unwrap();
    assert_eq!(before.committed, COMMITTED);
    assert_eq!(before.slots[2].state, "writing", "{:?}", before.slots);

    // Attached during the outage: at the oldest item still in the ring.
    let consumer = Consumer::<Record>::attach(&name.0).unwrap();
    assert_eq!(consumer.position(), COMMITTED - 8);

    let mut successor = Producer::<Record>::create(&outage_config(&name.0)).unwrap();
    assert_eq!(successor.next_seq(), COMMITTED, "sequence numbers continue");
    let after = datahub::inspect(&name.0).unwrap();
    assert_eq!(after.counters["producer_takeovers"], 1);
    assert_eq!(
        after.counters["slots_recovered"], 1,
        "the slot the dead producer was writing"
    );

    const WRITTEN: u64 = 2 * 8 + 4;
    let last = COMMITTED + WRITTEN - 1;
    let reader = std::thread::spawn(move || {
        let mut read = Vec::new();
        loop {
            let item = match consumer.next(STUCK) {
                Ok(item) => item,
                Err(e) => return Err(format!("after items {read:?}: {e}")),
            };
            item.assert_is(item.seq());
            read.push((item.seq(), item.lost_before()));
            let done = item.seq() == last;
            drop(item);
            if done {
                return Ok((read, consumer.lost()));
            }
        }
    });
    let started = Instant::now();
    for seq in COMMITTED..=last {
        if let Err(e) = successor.write_with(Duration::from_secs(10), |r| r.fill(seq)) {
            panic!(
                "the successor was held back at item {seq} after {:?}: {e}",
                started.elapsed()
            );
        }
    }
    let (read, lost) = reader.join().unwrap().unwrap();
    let expected: Vec<(u64, u64)> = (3..=last).map(|seq| (seq, u64::from(seq == 3))).collect();
    assert_eq!(read, expected, "item 2 lost, every other read in order");
    assert_eq!(lost, 1, "the half-written item, counted lost once");
    let end = datahub::inspect(&name.0).unwrap();
    assert_eq!(end.counters["items_lost"], 1);
    assert!(
        end.slots.iter().all(|s| s.state == "committed"),
        "{:?}",
        end.slots
    );
}

/// The table of a `max_consumers(1)` channel is full; its one consumer
/// is a child process, killed with SIGKILL (its entry stays ACTIVE).
/// Returns the producer and the dead consumer's pid; nothing is written,
/// so the producer has no cause to remove it.
fn full_table_with_a_dead_consumer(name: &Name) -> (Producer<Record>, u32) {
    let config = ChannelConfig::new(&name.0)
        .max_consumers(1)
        .stall_timeout(Duration::from_secs(600));
    let producer = Producer::<Record>::create(&config).unwrap();
    let mut children = vec![ChildProcess::spawn(&["lossless", &name.0])];
    wait_for_consumers(|| producer.consumer_count(), 1, &mut children, START);
    let child = children.pop().unwrap();
    let pid = child.pid();
    let err = Consumer::<Record>::attach(&name.0).expect_err("a second consumer attached");
    assert!(
        matches!(err.kind(), ErrorKind::ConsumersFull { max: 1, .. }),
        "{err}"
    );
    let killed = child.kill();
    assert_eq!(killed.status.signal(), Some(9), "{killed}");
    let snapshot = datahub::inspect(&name.0).unwrap();
    assert_eq!(snapshot.consumers.len(), 1);
    assert!(!snapshot.consumers[0].alive, "{:?}", snapshot.consumers);
    assert_eq!(snapshot.counters["consumers_evicted"], 0);
    (producer, pid)
}

/// A consumer attaching to a full table frees the entries of dead
/// consumers and takes one.
#[test]
fn a_consumer_attaching_to_a_full_table_removes_a_dead_consumer_and_attaches() {
    let name = Name::new("mp-full");
    let (mut producer, _) = full_table_with_a_dead_consumer(&name);
    let consumer = Consumer::<Record>::attach(&name.0).expect("the dead entry was not freed");
    let snapshot = datahub::inspect(&name.0).unwrap();
    assert_eq!(snapshot.counters["consumers_evicted"], 1);
    assert_eq!(snapshot.consumers.len(), 1);
    assert_eq!(snapshot.consumers[0].pid, std::process::id());
    producer.write_with(STUCK, |r| r.fill(0)).unwrap();
    consumer.next(STUCK).unwrap().assert_is(0);
}

/// `datahub::recover` lists the dead consumer of a full table (a dry run
/// changing nothing), then frees its entry; a consumer attaches after.
#[test]
fn recover_removes_a_dead_consumer_from_a_full_table() {
    let name = Name::new("mp-recover");
    let (_producer, pid) = full_table_with_a_dead_consumer(&name);
    let removed = json!([{"action": "removed_consumer", "index": 0, "pid": pid}]);

    let dry = datahub::recover(&name.0, true).unwrap();
    assert!(dry.dry_run);
    assert_eq!(serde_json::to_value(&dry.actions).unwrap(), removed);
    let snapshot = datahub::inspect(&name.0).unwrap();
    assert_eq!(snapshot.consumers.len(), 1, "a dry run removes nothing");
    assert_eq!(snapshot.counters["consumers_evicted"], 0);

    let done = datahub::recover(&name.0, false).unwrap();
    assert!(!done.dry_run);
    assert_eq!(serde_json::to_value(&done.actions).unwrap(), removed);
    let snapshot = datahub::inspect(&name.0).unwrap();
    assert!(snapshot.consumers.is_empty(), "{:?}", snapshot.consumers);
    assert_eq!(snapshot.counters["consumers_evicted"], 1);
    let again = datahub::recover(&name.0, false).unwrap();
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    Consumer::<Record>::attach(&name.0).expect("the entry was freed");
}
