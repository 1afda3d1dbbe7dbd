//! Public calls of the handles that change nothing a reader of items can
//! see, tested by what they change elsewhere (issue 15): heartbeats move
//! the ages `datahub inspect` shows, a wait strategy decides whether a
//! blocked producer sleeps, and `register_with` hands a registry the
//! producer, with its ZeroMQ endpoint, and withdraws it first on drop
//! (the broker's own tests, in `cli/tests/cli/discovery.rs`, do the same
//! through a real broker).

use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use datahub::{
    ChannelConfig, Consumer, DataHubSlot, Error, ErrorKind, Producer, Registered, Registration,
    Registry, WaitStrategy,
};

use crate::channel::Name;

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Tick {
    seq: u64,
}

/// Long enough that an age not refreshed is plainly older than one just
/// refreshed, on a loaded machine.
const IDLE: Duration = Duration::from_secs(1);
const STUCK: Duration = Duration::from_secs(30);

/// `heartbeat_age_ms` just after a heartbeat is at most the time since
/// the call began: `since` is read before the heartbeat, `age` after the
/// snapshot.
fn assert_fresh(age_ms: u64, since: Instant, stale_ms: u64) {
    let bound = since.elapsed().as_millis() as u64;
    assert!(
        age_ms <= bound,
        "{age_ms} ms old, after a heartbeat {bound} ms ago (before it: {stale_ms} ms)"
    );
}

#[test]
fn a_producer_heartbeat_without_a_commit_refreshes_the_age_inspect_shows() {
    let name = Name::new("heartbeat-producer");
    let producer = Producer::<Tick>::create(&ChannelConfig::new(&name.0)).unwrap();
    thread::sleep(IDLE);
    let stale = datahub::inspect(&name.0).unwrap().producer.heartbeat_age_ms;
    assert!(stale >= IDLE.as_millis() as u64, "{stale} ms");
    let since = Instant::now();
    producer.heartbeat();
    let age = datahub::inspect(&name.0).unwrap().producer.heartbeat_age_ms;
    assert_fresh(age, since, stale);
}

#[test]
fn a_consumer_heartbeat_without_a_read_refreshes_the_age_inspect_shows() {
    let name = Name::new("heartbeat-consumer");
    let _producer = Producer::<Tick>::create(&ChannelConfig::new(&name.0)).unwrap();
    let consumer = Consumer::<Tick>::attach(&name.0).unwrap();
    let consumer_age = || {
        let snapshot = datahub::inspect(&name.0).unwrap();
        assert_eq!(snapshot.consumers.len(), 1);
        snapshot.consumers[0].heartbeat_age_ms
    };
    thread::sleep(IDLE);
    let stale = consumer_age();
    assert!(stale >= IDLE.as_millis() as u64, "{stale} ms");
    let since = Instant::now();
    consumer.heartbeat();
    assert_fresh(consumer_age(), since, stale);
}

/// The live word `writer_waiting` (docs/layout.md: 2048 + 12), 1 while
/// the producer sleeps, or is about to, waiting for a consumer.
fn writer_waiting(name: &Name) -> u32 {
    let file = std::fs::File::open(format!("/dev/shm/datahub.{}", name.0)).unwrap();
    let mut word = [0; 4];
    file.read_exact_at(&mut word, 2048 + 12).unwrap();
    u32::from_le_bytes(word)
}

/// A lossless producer blocked by a consumer that does not read: set to
/// busy-poll, it never registers as a sleeper through a whole timed-out
/// write; set back to the default, it does. Either way a read releases
/// its blocked write.
#[test]
fn set_wait_strategy_decides_whether_a_blocked_producer_sleeps() {
    let name = Name::new("wait-strategy");
    let config = ChannelConfig::new(&name.0)
        .capacity(2)
        .stall_timeout(Duration::from_secs(600));
    let mut producer = Producer::<Tick>::create(&config).unwrap();
    let mut consumer = Consumer::<Tick>::attach(&name.0).unwrap();
    for seq in 0..2 {
        producer.write_with(STUCK, |t| t.seq = seq).unwrap();
    }

    producer.set_wait_strategy(WaitStrategy::busy_poll());
    // The ring is full: the write waits its whole timeout, watched from
    // before it starts until it has returned.
    let (outcome, seen_sleeping) = thread::scope(|s| {
        let writer = s.spawn(|| {
            producer
                .write_with(Duration::from_secs(1), |_| {})
                .map_err(|e| e.code())
        });
        let mut seen = false;
        while !writer.is_finished() {
            seen |= writer_waiting(&name) == 1;
            thread::sleep(Duration::from_micros(200));
        }
        (writer.join().unwrap(), seen)
    });
    assert_eq!(outcome, Err("DH209"), "the full ring timed the write out");
    assert!(
        !seen_sleeping,
        "a busy-polling producer registered to sleep"
    );
    read_one_to_release_a_blocked_write(&name, &mut producer, &mut consumer, false);

    producer.set_wait_strategy(WaitStrategy::default());
    read_one_to_release_a_blocked_write(&name, &mut producer, &mut consumer, true);
}

/// Starts a write into the full ring; when `sleeps`, waits (without a
/// time limit short of `STUCK`, the machine may be loaded) until the
/// producer registers to sleep; then reads one item, which must let the
/// write go on.
fn read_one_to_release_a_blocked_write(
    name: &Name,
    producer: &mut Producer<Tick>,
    consumer: &mut Consumer<Tick>,
    sleeps: bool,
) {
    let next = producer.next_seq();
    thread::scope(|s| {
        let writer = s.spawn(|| producer.write_with(STUCK, |t| t.seq = next));
        if sleeps {
            let deadline = Instant::now() + STUCK;
            while writer_waiting(name) != 1 {
                assert!(!writer.is_finished(), "the write ended before a read");
                assert!(Instant::now() < deadline, "the producer never slept");
                thread::sleep(Duration::from_micros(200));
            }
        } else {
            thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(consumer.next(STUCK).unwrap().seq, next - 2);
        assert_eq!(writer.join().unwrap().unwrap(), next, "sleeps: {sleeps}");
    });
}

/// A registry in this process that records what happens to its one
/// channel: the registration it got, and what the channel's segment said
/// when the registration was withdrawn.
#[derive(Default)]
struct Ledger {
    registered: Mutex<Option<Registration>>,
    /// Whether `inspect` still found the channel open at withdrawal.
    withdrawn_while_open: Arc<Mutex<Option<bool>>>,
}

impl Registry for Ledger {
    fn register(&self, registration: &Registration) -> Result<Registered, Error> {
        *self.registered.lock().unwrap() = Some(registration.clone());
        let channel = registration.channel.clone();
        let withdrawn = Arc::clone(&self.withdrawn_while_open);
        Ok(Registered::on_drop(move || {
            let open =
                datahub::inspect(&channel).is_ok_and(|s| s.state == datahub::ChannelState::Ready);
            *withdrawn.lock().unwrap() = Some(open);
        }))
    }

    fn source(&self) -> String {
        "a ledger".into()
    }
}

#[test]
fn register_with_announces_the_zmq_endpoint_and_dropping_the_producer_withdraws_it_first() {
    let name = Name::new("register-with");
    let ledger = Ledger::default();
    let mut producer = Producer::<Tick>::create(&ChannelConfig::new(&name.0)).unwrap();
    let zmq_endpoint = "tcp://127.0.0.1:5999";
    producer.register_with(&ledger, Some(zmq_endpoint)).unwrap();

    let registration = ledger.registered.lock().unwrap().clone().unwrap();
    assert_eq!(registration.channel, name.0);
    assert_eq!(registration.shm_name, datahub::host::shm_name(&name.0));
    assert_eq!(registration.channel_hash, producer.channel_hash());
    assert_eq!(
        registration.slot_hash,
        Some(<Tick as datahub::DataHubType>::SCHEMA_HASH)
    );
    assert_eq!(registration.zmq_endpoint.as_deref(), Some(zmq_endpoint));
    assert_eq!(registration.producer_pid, std::process::id());
    assert_eq!(*ledger.withdrawn_while_open.lock().unwrap(), None);

    drop(producer);
    assert_eq!(
        *ledger.withdrawn_while_open.lock().unwrap(),
        Some(true),
        "withdrawn before the channel closed"
    );
}

/// Refuses every registration as a broker that does not answer would.
struct Unanswered;

impl Registry for Unanswered {
    fn register(&self, _: &Registration) -> Result<Registered, Error> {
        Err(ErrorKind::BrokerTimeout {
            endpoint: self.source(),
            request: "REG_REQ",
            waited: Duration::from_millis(300),
        }
        .into())
    }

    fn source(&self) -> String {
        "tcp://127.0.0.1:9".into()
    }
}

/// With no broker answering, `register_with` fails and says so in the
/// channel's counters; the channel works all the same.
#[test]
fn register_with_no_broker_answering_fails_and_is_counted() {
    let name = Name::new("register-nobody");
    let mut producer = Producer::<Tick>::create(&ChannelConfig::new(&name.0)).unwrap();
    let err = producer
        .register_with(&Unanswered, Some("tcp://127.0.0.1:5999"))
        .expect_err("registered with nobody");
    assert_eq!(err.code(), "DH217", "{err}");
    let counters = datahub::inspect(&name.0).unwrap().counters;
    assert_eq!(
        (counters["broker_failures"], counters["last_error_code"]),
        (1, 217)
    );
    let consumer = Consumer::<Tick>::attach(&name.0).unwrap();
    producer.write_with(STUCK, |t| t.seq = 1).unwrap();
    assert_eq!(consumer.next(STUCK).unwrap().seq, 1);
}
