//! A zones-only channel (capacity 0): no ring, state shared by processes
//! through its zones. Items are `NoRing` (DH226) on both sides; zones work
//! both ways between real processes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use datahub::{
    AttachOptions, Bytes, ChannelConfig, Consumer, DataHubSlot, DataHubZone, ErrorKind, Producer,
};
use serde_json::{Value, json};

use super::spawn::ChildProcess;
use crate::channel::Name;

#[derive(DataHubZone)]
#[repr(C)]
struct Counters {
    visits: AtomicU64,
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Setting {
    gain: f64,
    by_pid: u64,
}

const WAIT: Duration = Duration::from_secs(5);

fn config(name: &str) -> ChannelConfig {
    ChannelConfig::new(name)
        .capacity(0)
        .slot_size(8)
        .zone::<Counters>("counters")
        .locked_zone::<Setting>("setting")
}

#[test]
fn a_zones_only_channel_shares_its_zones_between_processes_and_has_no_items() {
    let name = Name::new("mp-zones-only");
    let mut producer = Producer::<Bytes>::create(&config(&name.0)).unwrap();
    let counters = producer.zone::<Counters>("counters").unwrap();
    let setting = producer.locked_zone::<Setting>("setting").unwrap();
    counters.visits.store(40, Ordering::Relaxed);
    setting
        .write(
            WAIT,
            Setting {
                gain: 1.5,
                by_pid: 0,
            },
        )
        .unwrap();
    let no_ring = producer.send_bytes(b"x").unwrap_err();
    assert!(
        matches!(
            no_ring.kind(),
            ErrorKind::NoRing {
                operation: "write",
                ..
            }
        ),
        "{no_ring}"
    );
    assert_eq!(no_ring.code(), "DH226");

    let children: Vec<ChildProcess> = (0..2)
        .map(|_| ChildProcess::spawn(&["zones-only", &name.0]))
        .collect();
    for child in children {
        let result = child.finish(std::time::Instant::now() + Duration::from_secs(30));
        let value = result.result();
        assert_eq!(value["read"], json!("DH226"), "{value}");
        assert_eq!(value["gain_seen"], json!(1.5), "{value}");
    }
    // Each child added one visit and wrote the setting with its pid.
    assert_eq!(counters.visits.load(Ordering::Relaxed), 42);
    let last = setting.read(WAIT).unwrap();
    assert_eq!(last.gain, 2.5);
    assert_ne!(last.by_pid, 0);
    let snapshot = datahub::inspect(&name.0).unwrap();
    assert_eq!(snapshot.capacity, 0);
    assert!(snapshot.slots.is_empty());
}

/// Child: attaches to the zones-only channel, tries to read an item (and
/// reports the code), bumps the shared counter, and writes the setting.
pub(super) fn visit(channel: &str) -> Value {
    let options = AttachOptions::default().ready_timeout(WAIT);
    let consumer = Consumer::<Bytes>::attach_with(channel, &options).unwrap();
    let read = match consumer.next(Duration::from_millis(10)) {
        Ok(_) => "an item".to_owned(),
        Err(e) => e.code().to_owned(),
    };
    let counters = consumer.zone::<Counters>("counters").unwrap();
    counters.visits.fetch_add(1, Ordering::Relaxed);
    let setting = consumer.locked_zone::<Setting>("setting").unwrap();
    let gain_seen = {
        let mut guard = setting.lock(WAIT).unwrap();
        let seen = guard.gain.min(1.5);
        *guard = Setting {
            gain: 2.5,
            by_pid: u64::from(std::process::id()),
        };
        seen
    };
    json!({"read": read, "gain_seen": gain_seen})
}
