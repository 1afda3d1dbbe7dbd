//! Producer and consumer handles over real shared memory, in one process
//! (threads); the multi-process tests spawn real processes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use datahub::{
    AttachOptions, ChannelConfig, ChecksumPolicy, Consumer, DataHubSlot, ErrorKind, Overflow,
    Producer, Start,
};

/// A frame whose every field is derived from its sequence number, so a
/// torn or stale read shows.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Frame {
    seq: u64,
    check: u64,
    samples: [f32; 14],
}

impl Frame {
    fn fill(&mut self, seq: u64) {
        self.seq = seq;
        self.check = !seq;
        for (i, s) in self.samples.iter_mut().enumerate() {
            *s = (seq as f32) + i as f32;
        }
    }

    fn assert_whole(&self) {
        assert_eq!(self.check, !self.seq, "torn frame {}", self.seq);
        for (i, s) in self.samples.iter().enumerate() {
            assert_eq!(*s, (self.seq as f32) + i as f32, "torn frame {}", self.seq);
        }
    }
}

/// A unique channel name, its segment removed when dropped.
pub(crate) struct Name(pub(crate) String);

impl Name {
    pub(crate) fn new(tag: &str) -> Self {
        let name = format!("it-{tag}-{}", std::process::id());
        let _ = std::fs::remove_file(format!("/dev/shm/datahub.{name}"));
        Self(name)
    }
}

/// Whatever the test left under the name (a segment, or the FIFO or
/// directory a hostile-input test made) goes with it, passed or failed.
impl Drop for Name {
    fn drop(&mut self) {
        let path = format!("/dev/shm/datahub.{}", self.0);
        let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir(&path));
    }
}

impl Name {
    /// The u64 at `offset` of the channel's segment file (a header word,
    /// docs/layout.md).
    pub(crate) fn header_word(&self, offset: usize) -> u64 {
        let bytes = std::fs::read(format!("/dev/shm/datahub.{}", self.0)).unwrap();
        u64::from_le_bytes(bytes[offset..offset + 8].try_into().unwrap())
    }

    /// Writes `bytes` at `offset` of the channel's segment file, behind
    /// the protocol's back, as a stray or hostile writer would.
    pub(crate) fn poke(&self, offset: u64, bytes: &[u8]) {
        use std::os::unix::fs::FileExt;
        std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/dev/shm/datahub.{}", self.0))
            .unwrap()
            .write_all_at(bytes, offset)
            .unwrap();
    }
}

pub(crate) const SECOND: Duration = Duration::from_secs(1);

#[test]
fn lossless_channel_delivers_every_item_in_order_to_every_consumer() {
    let name = Name::new("lossless");
    let mut producer = Producer::<Frame>::create(&ChannelConfig::new(&name.0).capacity(4)).unwrap();
    const ITEMS: u64 = 20_000;
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let c = Consumer::<Frame>::attach(&name.0).unwrap();
            thread::spawn(move || {
                for expected in 0..ITEMS {
                    let item = c.next(10 * SECOND).unwrap();
                    assert_eq!((item.seq(), item.seq), (expected, expected));
                    item.assert_whole();
                }
                c.lost()
            })
        })
        .collect();
    assert_eq!(producer.consumer_count(), 2);
    for seq in 0..ITEMS {
        producer.write_with(10 * SECOND, |f| f.fill(seq)).unwrap();
    }
    for c in consumers {
        assert_eq!(c.join().unwrap(), 0, "nothing lost in Block mode");
    }
}

#[test]
fn an_overwriting_producer_never_waits_and_a_slow_consumer_learns_its_loss() {
    let name = Name::new("overwrite");
    let config = ChannelConfig::new(&name.0)
        .capacity(4)
        .overflow(Overflow::Overwrite);
    let mut producer = Producer::<Frame>::create(&config).unwrap();
    let slow = Consumer::<Frame>::attach(&name.0).unwrap();
    for seq in 0..100 {
        producer.write_with(SECOND, |f| f.fill(seq)).unwrap();
    }
    let first = slow.next(SECOND).unwrap();
    assert_eq!(first.seq(), 96, "the oldest item still held");
    assert_eq!(first.lost_before(), 96);
    first.assert_whole();
    drop(first);
    assert_eq!(slow.lost(), 96);
    for seq in 97..100 {
        assert_eq!(slow.next(SECOND).unwrap().seq(), seq);
    }
}

#[test]
fn overwrite_under_concurrent_reads_is_never_torn_and_losses_add_up() {
    let name = Name::new("race");
    let config = ChannelConfig::new(&name.0)
        .capacity(2)
        .overflow(Overflow::Overwrite);
    let mut producer = Producer::<Frame>::create(&config).unwrap();
    let consumer = Consumer::<Frame>::attach(&name.0).unwrap();
    const ITEMS: u64 = 50_000;
    let reader = thread::spawn(move || {
        let (mut read, mut last) = (0u64, None);
        loop {
            match consumer
                .next(Duration::from_millis(200))
                .map_err(datahub::Error::into_kind)
            {
                Ok(item) => {
                    item.assert_whole();
                    assert!(last.is_none_or(|l| item.seq() > l), "in order");
                    last = Some(item.seq());
                    read += 1;
                    if item.seq() == ITEMS - 1 {
                        break;
                    }
                }
                Err(ErrorKind::Timeout { .. }) => break,
                Err(e) => panic!("{e}"),
            }
        }
        (read, consumer.lost(), last)
    });
    for seq in 0..ITEMS {
        // A reader may hold the slot to reuse: then the producer waits for it.
        producer.write_with(SECOND, |f| f.fill(seq)).unwrap();
    }
    let (read, lost, last) = reader.join().unwrap();
    assert_eq!(last, Some(ITEMS - 1));
    assert_eq!(read + lost, ITEMS, "every item read or counted lost");
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct SmallerFrame {
    seq: u64,
    check: u64,
    samples: [f32; 6],
}

#[test]
fn a_consumer_of_another_type_is_refused_with_the_differing_field() {
    let name = Name::new("mismatch");
    let _producer = Producer::<Frame>::create(&ChannelConfig::new(&name.0)).unwrap();
    let err = Consumer::<SmallerFrame>::attach(&name.0).err().unwrap();
    assert_eq!(err.code(), "DH207");
    let text = err.to_string();
    assert!(
        text.contains("field `samples`: the segment has `[f32;14]@16`, you expect `[f32;6]@16`"),
        "{text}"
    );
    assert!(matches!(err.kind(), ErrorKind::SchemaMismatch { .. }));
}

#[test]
fn attaching_is_refused_when_every_consumer_entry_is_taken_and_freed_on_drop() {
    let name = Name::new("full");
    let producer =
        Producer::<Frame>::create(&ChannelConfig::new(&name.0).max_consumers(1)).unwrap();
    let first = Consumer::<Frame>::attach(&name.0).unwrap();
    let err = Consumer::<Frame>::attach(&name.0).err().unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::ConsumersFull { max: 1, .. }),
        "{err}"
    );
    drop(first);
    assert_eq!(producer.consumer_count(), 0);
    assert!(Consumer::<Frame>::attach(&name.0).is_ok());
}

#[test]
fn latest_skips_to_the_newest_item_and_then_waits_for_a_newer_one() {
    let name = Name::new("latest");
    let mut producer = Producer::<Frame>::create(&ChannelConfig::new(&name.0).capacity(8)).unwrap();
    let opts = AttachOptions::default().start(Start::Newest);
    let consumer = Consumer::<Frame>::attach_with(&name.0, &opts).unwrap();
    for seq in 0..5 {
        producer.write_with(SECOND, |f| f.fill(seq)).unwrap();
    }
    assert_eq!(consumer.latest(SECOND).unwrap().seq(), 4);
    assert!(matches!(
        consumer
            .latest(Duration::from_millis(20))
            .map_err(datahub::Error::into_kind),
        Err(ErrorKind::Timeout { .. })
    ));
    assert!(consumer.try_next().unwrap().is_none());
    producer.write_with(SECOND, |f| f.fill(5)).unwrap();
    assert_eq!(consumer.try_next().unwrap().unwrap().seq(), 5);
}

#[test]
fn a_second_producer_and_a_missing_channel_are_typed_errors() {
    let name = Name::new("exists");
    let _producer = Producer::<Frame>::create(&ChannelConfig::new(&name.0)).unwrap();
    assert!(matches!(
        (Producer::<Frame>::create(&ChannelConfig::new(&name.0)))
            .map_err(datahub::Error::into_kind),
        Err(ErrorKind::ChannelExists { .. })
    ));
    let missing = Name::new("missing");
    assert!(matches!(
        (Consumer::<Frame>::attach(&missing.0)).map_err(datahub::Error::into_kind),
        Err(ErrorKind::NoSuchChannel { .. })
    ));
}

#[test]
fn a_full_lossless_ring_times_out_naming_the_slow_consumer() {
    let name = Name::new("blocked");
    let mut producer = Producer::<Frame>::create(&ChannelConfig::new(&name.0).capacity(2)).unwrap();
    let _idle = Consumer::<Frame>::attach(&name.0).unwrap();
    for seq in 0..2 {
        producer.write_with(SECOND, |f| f.fill(seq)).unwrap();
    }
    let err = producer.acquire(Duration::from_millis(30)).err().unwrap();
    assert!(
        err.to_string().contains("the ring is full: consumer 0"),
        "{err}"
    );
}

/// CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime (fields 14 and 15), in clock ticks (100 per second).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

#[test]
fn an_idle_consumer_sleeps_without_cpu_and_wakes_on_the_next_commit() {
    let name = Name::new("idle");
    let mut producer = Producer::<Frame>::create(&ChannelConfig::new(&name.0)).unwrap();
    let consumer = Consumer::<Frame>::attach(&name.0).unwrap();
    let started = Arc::new(Barrier::new(2));
    let woke = Arc::new(AtomicBool::new(false));
    let reader = {
        let (started, woke) = (started.clone(), woke.clone());
        thread::spawn(move || {
            started.wait();
            let cpu = thread_cpu_time();
            let wall = Instant::now();
            let item = consumer.next(10 * SECOND).unwrap();
            woke.store(true, Ordering::SeqCst);
            (item.seq(), wall.elapsed(), thread_cpu_time() - cpu)
        })
    };
    started.wait();
    thread::sleep(Duration::from_millis(1500));
    assert!(!woke.load(Ordering::SeqCst));
    producer.write_with(SECOND, |f| f.fill(0)).unwrap();
    let (seq, waited, cpu) = reader.join().unwrap();
    assert_eq!(seq, 0);
    assert!(
        waited >= Duration::from_millis(1400),
        "it waited for the commit ({waited:?})"
    );
    // 1.5 s blocked: a spinning wait would burn ~1.5 s of CPU.
    assert!(
        cpu <= Duration::from_millis(100),
        "an idle consumer used {cpu:?} of CPU in {waited:?}"
    );
}

#[test]
fn an_enforced_checksum_catches_a_slot_corrupted_behind_the_protocol() {
    let name = Name::new("checksum");
    let config = ChannelConfig::new(&name.0).checksum(ChecksumPolicy::Enforced);
    let mut producer = Producer::<Frame>::create(&config).unwrap();
    let consumer = Consumer::<Frame>::attach(&name.0).unwrap();
    producer.write_with(SECOND, |f| f.fill(0)).unwrap();
    producer.write_with(SECOND, |f| f.fill(1)).unwrap();
    assert!(consumer.next(SECOND).unwrap().verify_checksum());
    // Flip a byte of item 1's slot through the file, as a stray writer would.
    let (slots, stride) = (name.header_word(392), name.header_word(248));
    name.poke(slots + stride + 20, &[0xAB]);
    let err = consumer.next(SECOND).err().unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::ChecksumMismatch { seq: 1, .. }),
        "{err}"
    );
    let c = datahub::inspect(&name.0).unwrap().counters;
    assert_eq!(
        (c["checksum_failures"], c["errors"], c["last_error_code"]),
        (1, 1, 211)
    );
}

#[test]
fn dropping_the_producer_closes_the_channel_after_its_items_are_read() {
    let name = Name::new("closed");
    let mut producer = Producer::<Frame>::create(&ChannelConfig::new(&name.0)).unwrap();
    let consumer = Consumer::<Frame>::attach(&name.0).unwrap();
    producer.write_with(SECOND, |f| f.fill(0)).unwrap();
    let sleeper = thread::spawn(move || {
        assert_eq!(
            consumer.next(SECOND).unwrap().seq(),
            0,
            "committed items are read first"
        );
        let started = Instant::now();
        let err = consumer.next(10 * SECOND).err().unwrap();
        (err, started.elapsed())
    });
    thread::sleep(Duration::from_millis(100));
    drop(producer);
    let (err, waited) = sleeper.join().unwrap();
    assert!(matches!(err.kind(), ErrorKind::Closed { .. }), "{err}");
    assert!(
        waited < 5 * SECOND,
        "woken by the close, not the timeout ({waited:?})"
    );
    assert!(
        !std::path::Path::new(&format!("/dev/shm/datahub.{}", name.0)).exists(),
        "the name is removed: a new producer can create the channel"
    );
    assert!(Producer::<Frame>::create(&ChannelConfig::new(&name.0)).is_ok());
}

#[test]
fn a_consumer_polling_while_its_producer_commits_and_closes_still_reads_every_item() {
    // The close follows the last commit closely: a consumer that looked
    // for the item just before the commit and for the close just after
    // it must look for the item once more before it reports `Closed`.
    // The window is a few instructions wide: many rounds, the consumer
    // already polling when the producer commits.
    let mut missed = 0;
    for round in 0..3000 {
        let name = Name::new(&format!("close-race-{round}"));
        let mut producer = Producer::<Frame>::create(&ChannelConfig::new(&name.0)).unwrap();
        let options = AttachOptions::default().wait_strategy(datahub::WaitStrategy::busy_poll());
        let consumer = Consumer::<Frame>::attach_with(&name.0, &options).unwrap();
        let polling = Arc::new(AtomicBool::new(false));
        let reader = thread::spawn({
            let polling = Arc::clone(&polling);
            move || {
                polling.store(true, Ordering::Release);
                match consumer
                    .next(10 * SECOND)
                    .map_err(datahub::Error::into_kind)
                {
                    Ok(frame) => Some(frame.seq),
                    Err(ErrorKind::Closed { .. }) => None,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        while !polling.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        producer.write_with(SECOND, |f| f.fill(7)).unwrap();
        drop(producer);
        match reader.join().unwrap() {
            Some(seq) => assert_eq!(seq, 7),
            None => missed += 1,
        }
    }
    assert_eq!(
        missed, 0,
        "rounds whose committed item was reported `Closed`"
    );
}

#[test]
fn a_channel_with_a_secret_admits_only_consumers_with_that_secret() {
    use datahub::Secret;
    let name = Name::new("secret");
    let key = Secret::from_bytes([0x5A; 32]);
    let config = ChannelConfig::new(&name.0)
        .secret(key.clone())
        .checksum(ChecksumPolicy::Enforced);
    let mut producer = Producer::<Frame>::create(&config).unwrap();
    let denied = |opts: AttachOptions| match (Consumer::<Frame>::attach_with(&name.0, &opts))
        .map_err(datahub::Error::into_kind)
    {
        Err(e @ ErrorKind::AccessDenied { .. }) => e.to_string(),
        Err(e) => panic!("expected AccessDenied, got {e}"),
        Ok(_) => panic!("attached"),
    };
    assert!(denied(AttachOptions::default()).contains("the channel has a secret"));
    let wrong = Secret::from_bytes([0x5B; 32]);
    assert!(denied(AttachOptions::default().secret(wrong)).contains("differs"));
    let consumer =
        Consumer::<Frame>::attach_with(&name.0, &AttachOptions::default().secret(key.clone()))
            .unwrap();
    producer.write_with(SECOND, |f| f.fill(0)).unwrap();
    let item = consumer.next(SECOND).unwrap();
    item.assert_whole();
    assert!(item.verify_checksum(), "keyed digests verify with the key");
    drop(item);
    // The key is not in the segment: only its tag.
    let bytes = std::fs::read(format!("/dev/shm/datahub.{}", name.0)).unwrap();
    assert!(!bytes.windows(32).any(|w| w == [0x5A; 32]));

    let open = Name::new("no-secret");
    let _p = Producer::<Frame>::create(&ChannelConfig::new(&open.0)).unwrap();
    let err = Consumer::<Frame>::attach_with(&open.0, &AttachOptions::default().secret(key))
        .err()
        .unwrap();
    assert_eq!(err.code(), "DH214");
    assert!(
        err.to_string().contains("the channel has no secret"),
        "{err}"
    );
}

#[test]
fn a_producer_blocked_on_a_full_ring_sleeps_without_cpu_and_wakes_on_the_read() {
    let name = Name::new("idle-producer");
    // A consumer idle for 1.5 s would be passed over after the default
    // 1 s stall timeout: this test is about the wait, so a longer one.
    let config = ChannelConfig::new(&name.0)
        .capacity(2)
        .stall_timeout(Duration::from_secs(60));
    let mut producer = Producer::<Frame>::create(&config).unwrap();
    let consumer = Consumer::<Frame>::attach(&name.0).unwrap();
    for seq in 0..2 {
        producer.write_with(SECOND, |f| f.fill(seq)).unwrap();
    }
    let started = Arc::new(Barrier::new(2));
    let writer = {
        let started = started.clone();
        thread::spawn(move || {
            started.wait();
            let cpu = thread_cpu_time();
            let wall = Instant::now();
            producer.write_with(10 * SECOND, |f| f.fill(2)).unwrap();
            (wall.elapsed(), thread_cpu_time() - cpu, producer)
        })
    };
    started.wait();
    thread::sleep(Duration::from_millis(1500));
    let read_at = Instant::now();
    assert_eq!(consumer.next(SECOND).unwrap().seq(), 0);
    let (waited, cpu, _producer) = writer.join().unwrap();
    assert!(
        waited >= Duration::from_millis(1400),
        "it waited for the read ({waited:?})"
    );
    assert!(
        read_at.elapsed() < Duration::from_millis(500),
        "woken by the read, promptly"
    );
    // 1.5 s blocked: a spinning (or napping) wait would burn far more.
    assert!(
        cpu <= Duration::from_millis(100),
        "a blocked producer used {cpu:?} of CPU in {waited:?}"
    );
}

#[test]
fn a_live_consumer_stalled_past_the_timeout_stops_holding_back_the_producer_and_learns_its_loss() {
    let name = Name::new("stalled");
    let config = ChannelConfig::new(&name.0)
        .capacity(2)
        .stall_timeout(Duration::from_millis(200));
    let mut producer = Producer::<Frame>::create(&config).unwrap();
    let stalled = Consumer::<Frame>::attach(&name.0).unwrap();
    let started = Instant::now();
    for seq in 0..10 {
        producer.write_with(10 * SECOND, |f| f.fill(seq)).unwrap();
    }
    let held = started.elapsed();
    assert!(
        held >= Duration::from_millis(200) && held < 3 * SECOND,
        "held back about the stall timeout once, not per item ({held:?})"
    );
    // Reading again: told what it missed, then waited for again.
    let item = stalled.next(SECOND).unwrap();
    assert_eq!((item.seq(), item.lost_before()), (8, 8));
    item.assert_whole();
    drop(item);
    assert_eq!(stalled.next(SECOND).unwrap().seq(), 9);
    for seq in 10..12 {
        producer.write_with(SECOND, |f| f.fill(seq)).unwrap();
    }
    let err = producer.acquire(Duration::from_millis(50)).err().unwrap();
    assert!(
        err.to_string().contains("the ring is full"),
        "a consumer that reads again holds a lossless producer back again: {err}"
    );
    assert_eq!(stalled.lost(), 8);
}

#[test]
fn inspect_reads_counters_that_add_up_and_every_consumer_without_writing() {
    let name = Name::new("inspect");
    let config = ChannelConfig::new(&name.0)
        .capacity(4)
        .stall_timeout(Duration::from_secs(60));
    let mut producer = Producer::<Frame>::create(&config).unwrap();
    let reader = Consumer::<Frame>::attach(&name.0).unwrap();
    let idle = Consumer::<Frame>::attach(&name.0).unwrap();
    for seq in 0..4 {
        producer.write_with(SECOND, |f| f.fill(seq)).unwrap();
    }
    let full = producer.acquire(Duration::from_millis(50)).err(); // the idle consumer holds it back
    assert!(matches!(
        full.as_ref().map(datahub::Error::kind),
        Some(ErrorKind::Timeout { .. })
    ));
    for _ in 0..3 {
        drop(reader.next(SECOND).unwrap());
    }
    drop(idle);
    let aborted = producer.acquire(SECOND).unwrap();
    drop(aborted);
    let path = format!("/dev/shm/datahub.{}", name.0);
    let before = std::fs::read(&path).unwrap();
    let snap = datahub::inspect(&name.0).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "inspect writes nothing"
    );
    let c = &snap.counters;
    assert_eq!(
        (c["items_committed"], c["bytes_committed"]),
        (4, 4 * size_of::<Frame>() as u64)
    );
    assert_eq!(
        (c["write_timeouts"], c["write_waits"], c["items_aborted"]),
        (1, 1, 1)
    );
    assert_eq!((c["consumers_attached"], c["consumers_detached"]), (2, 1));
    assert_eq!(c["peak_consumers"], 2);
    assert!(
        c["write_blocked_ns"] >= 50_000_000,
        "the 50 ms acquire that timed out: {c:?}"
    );
    // The time-out is the one error returned (the reads found items).
    assert_eq!((c["errors"], c["last_error_code"]), (1, 209));
    assert!(c["last_error_ns"] > 0);
    assert_eq!(snap.committed, 4);
    assert_eq!(snap.consumers.len(), 1, "the idle consumer detached");
    let r = &snap.consumers[0];
    assert_eq!(
        (r.position, r.lag, r.items_read, r.reading),
        (3, 1, 3, None)
    );
    assert!(r.alive && snap.producer.alive);
    assert_eq!(snap.producer.pid, Some(std::process::id()));
    assert_eq!(
        snap.slots.iter().filter(|s| s.state == "free").count(),
        1,
        "the aborted slot"
    );
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["counters"]["items_committed"], 4);
}
