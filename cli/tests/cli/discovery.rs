//! Producers registering and consumers discovering through a real
//! `datahub broker` process: attach by name and hash, mismatches found at
//! the broker, a producer killed -9 forgotten within 2 s, `datahub list
//! --broker`, and everything working without a broker.

use std::thread;
use std::time::{Duration, Instant};

use datahub::{AttachOptions, Consumer, DataHubSlot, ErrorKind, Producer, SchemaHash};
use datahub_broker::{HubOptions, MessageHub, Registration};
use serde_json::json;

use crate::broker::{BrokerProcess, Wire};
use crate::children::Holder;
use crate::{Frame, SECOND, config, datahub_json, datahub_ok, unique};

/// A slot type other than `Frame`.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Other {
    value: f64,
}

/// Asks until `channel` is no longer discoverable; how long it took.
fn until_forgotten(hub: &MessageHub, channel: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match hub
            .discover(channel, None)
            .map_err(datahub::Error::into_kind)
        {
            Err(ErrorKind::NotDiscovered { .. }) => return start.elapsed(),
            Ok(_) if start.elapsed() < limit => thread::sleep(Duration::from_millis(10)),
            Ok(found) => panic!("still discoverable after {limit:?}: {found:?}"),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn a_registered_producer_is_discovered_attached_and_read_and_withdrawn_when_dropped() {
    let broker = BrokerProcess::start("discover");
    let hub = MessageHub::connect(broker.endpoint()).unwrap();
    let name = unique("discover");
    let mut producer = Producer::<Frame>::create(&config(&name)).unwrap();
    producer.register(&hub).unwrap();
    producer.write_with(SECOND, |f| f.seq = 41).unwrap();

    let found = hub.discover(&name, Some(producer.channel_hash())).unwrap();
    assert_eq!(found.producer_pid, std::process::id());
    assert_eq!(found.shm_name, format!("/datahub.{name}"));
    assert!(found.local);
    let consumer = Consumer::<Frame>::discover(&hub, &name).unwrap();
    assert_eq!(consumer.next(SECOND).unwrap().seq, 41);

    // Another slot type is refused by the broker, before any attach.
    let wrong = Consumer::<Other>::discover(&hub, &name).unwrap_err();
    assert!(
        matches!(wrong.kind(), ErrorKind::SchemaMismatch { part, .. } if part.contains("at the broker")),
        "{wrong}"
    );
    // And so is another channel hash (other zones), given one.
    let other_zones = AttachOptions::default().channel_hash(SchemaHash::digest(b"other"));
    let wrong = Consumer::<Frame>::discover_with(&hub, &name, &other_zones).unwrap_err();
    assert!(
        wrong.to_string().contains("channel hash, at the broker"),
        "{wrong}"
    );
    assert_eq!(wrong.code(), "DH207");

    drop(consumer);
    drop(producer);
    until_forgotten(&hub, &name, Duration::from_secs(2));
}

#[test]
fn a_producer_holding_the_last_handle_of_its_hub_still_withdraws_its_registration() {
    let broker = BrokerProcess::start("lasthub");
    let watcher = MessageHub::connect(broker.endpoint()).unwrap();
    let name = unique("lasthub");
    {
        let hub = MessageHub::connect(broker.endpoint()).unwrap();
        let mut producer = Producer::<Frame>::create(&config(&name)).unwrap();
        producer.register(&hub).unwrap();
        drop(hub);
        watcher.discover(&name, None).unwrap();
        // The hub's I/O thread sends the deregistration before it stops.
    }
    let took = until_forgotten(&watcher, &name, Duration::from_secs(2));
    // Well within the broker's sweep (our process is alive: only the
    // deregistration can have removed it).
    assert!(took < Duration::from_millis(500), "{took:?}");
}

/// `register_with` puts the producer's ZeroMQ endpoint in the broker's
/// table; registering again replaces the registration without the old
/// one's withdrawal undoing the new one; dropping the producer withdraws it.
#[test]
fn register_with_announces_the_zmq_endpoint_and_registering_again_keeps_the_channel() {
    let broker = BrokerProcess::start("regwith");
    let hub = MessageHub::connect(broker.endpoint()).unwrap();
    let name = unique("regwith");
    let mut producer = Producer::<Frame>::create(&config(&name)).unwrap();
    producer.register(&hub).unwrap();
    let zmq_endpoint = "tcp://127.0.0.1:5999";
    producer.register_with(&hub, Some(zmq_endpoint)).unwrap();

    // Past a renewal (every second), so a late withdrawal would show.
    thread::sleep(Duration::from_millis(1500));
    let record = hub.discover(&name, Some(producer.channel_hash())).unwrap();
    assert_eq!(record.channel, name);
    assert_eq!(record.zmq_endpoint.as_deref(), Some(zmq_endpoint));
    assert_eq!(record.producer_pid, std::process::id());
    assert!(record.local, "{record:?}");
    let consumer = Consumer::<Frame>::discover(&hub, &name).unwrap();
    producer.write_with(SECOND, |f| f.seq = 7).unwrap();
    assert_eq!(consumer.next(SECOND).unwrap().seq, 7);

    drop(producer);
    until_forgotten(&hub, &name, Duration::from_secs(2));
}

#[test]
fn a_producer_process_killed_with_sigkill_is_not_discoverable_within_two_seconds() {
    let broker = BrokerProcess::start("killed");
    let hub = MessageHub::connect(broker.endpoint()).unwrap();
    let name = unique("killed");
    let producer = Holder::start_with(
        "registered",
        &name,
        &[("DATAHUB_BROKER", broker.endpoint())],
    );
    let found = hub.discover(&name, None).unwrap();
    assert_eq!(found.producer_pid, producer.pid());
    producer.kill();
    let took = until_forgotten(&hub, &name, Duration::from_secs(2));
    assert!(took < Duration::from_secs(2), "{took:?}");
    eprintln!("a producer killed with SIGKILL was forgotten after {took:?}");
    // The dead producer's segment is for `cleanup`.
    datahub_ok(&["cleanup", &name], 0);
}

#[test]
fn a_second_live_producer_of_a_registered_name_is_refused_by_the_broker() {
    let broker = BrokerProcess::start("exists");
    let hub = MessageHub::connect(broker.endpoint()).unwrap();
    let name = unique("exists");
    let holder = Holder::start_with(
        "registered",
        &name,
        &[("DATAHUB_BROKER", broker.endpoint())],
    );
    let refused = hub
        .register(&Registration::new(
            &name,
            SchemaHash::digest(b"x"),
            std::process::id(),
        ))
        .unwrap_err();
    assert!(
        matches!(refused.kind(), ErrorKind::ChannelExists { holder: Some(pid), .. } if *pid == holder.pid()),
        "{refused}"
    );
    holder.kill();
    datahub_ok(&["cleanup", &name], 0);
}

#[test]
fn a_channel_produced_on_another_host_is_discovered_but_not_attached() {
    let broker = BrokerProcess::start("remote");
    let wire = Wire::connect(broker.endpoint());
    let reply = wire.ask(json!({"type": "REG_REQ", "request_id": "1", "channel": "faraway",
        "shm_name": "/datahub.faraway", "channel_hash": SchemaHash::digest(b"f").to_string(),
        "slot_hash": <Frame as datahub::DataHubType>::SCHEMA_HASH.to_string(),
        "producer_pid": 4_000_000, "boot_id": "another-host", "zmq_endpoint": "tcp://10.0.0.2:5555"}));
    assert_eq!(reply["status"], "OK", "{reply}");
    let hub = MessageHub::connect(broker.endpoint()).unwrap();
    let found = hub.discover("faraway", None).unwrap();
    assert!(!found.local);
    let err = Consumer::<Frame>::discover(&hub, "faraway").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::RemoteChannel { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("tcp://10.0.0.2:5555"), "{err}");
}

#[test]
fn datahub_list_broker_shows_what_the_broker_knows() {
    let broker = BrokerProcess::start("list");
    let endpoint = broker.endpoint();
    let empty = datahub_ok(&["list", "--broker", endpoint], 0);
    assert!(empty.contains("knows no channels"), "{empty}");

    let hub = MessageHub::connect(endpoint).unwrap();
    let me = std::process::id();
    hub.register(&Registration::new("alpha", SchemaHash::digest(b"a"), me))
        .unwrap();
    hub.register(
        &Registration::new("beta", SchemaHash::digest(b"b"), me)
            .zmq_endpoint("tcp://127.0.0.1:6000"),
    )
    .unwrap();
    let text = datahub_ok(&["list", "--broker", endpoint], 0);
    let redacted = crate::redact(&text, endpoint, &[me]);
    insta::assert_snapshot!("list_broker", redacted);

    let json = datahub_json(&["list", "--broker", endpoint], 0);
    let channels = json.as_array().unwrap();
    assert_eq!(channels.len(), 2);
    assert_eq!(channels[0]["channel"], "alpha");
    assert_eq!(channels[1]["zmq_endpoint"], "tcp://127.0.0.1:6000");
    assert_eq!(channels[1]["producer_pid"], me);
}

#[test]
fn without_a_broker_calls_time_out_naming_the_endpoint_and_channels_work_as_ever() {
    let endpoint = format!(
        "ipc:///tmp/datahub-test-nobroker-{}.sock",
        std::process::id()
    );
    let hub = MessageHub::connect_with(
        &endpoint,
        HubOptions::default().timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let started = Instant::now();
    let err = hub.list().unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err.code(), "DH217");
    assert!(err.to_string().contains(&endpoint), "{err}");

    let name = unique("nobroker");
    let mut producer = Producer::<Frame>::create(&config(&name)).unwrap();
    let err = producer.register(&hub).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::BrokerTimeout { .. }),
        "{err}"
    );
    let consumer = Consumer::<Frame>::attach(&name).unwrap();
    producer.write_with(SECOND, |f| f.seq = 5).unwrap();
    assert_eq!(consumer.next(SECOND).unwrap().seq, 5);
    let snapshot = datahub::inspect(&name).unwrap();
    assert_eq!(snapshot.counters["broker_failures"], 1);
    assert_eq!(snapshot.counters["last_error_code"], 217);

    let out = datahub_ok(&["list", "--broker", &endpoint, "--timeout-ms", "200"], 3);
    assert!(out.is_empty());
}
