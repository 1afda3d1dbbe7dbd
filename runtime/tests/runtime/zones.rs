//! Zones over real shared memory: lock-free zones shared through `&Z`,
//! locked zones whose lock serialises threads and processes and is taken
//! over from a dead holder.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use datahub::{
    AtomicF64, ChannelConfig, Consumer, DataHubSlot, DataHubZone, ErrorKind, LockedZone, Producer,
};

use crate::channel::{Name, SECOND};

#[derive(DataHubZone)]
#[repr(C)]
struct Telemetry {
    frames: AtomicU64,
    fps: AtomicF64,
}

/// Two words that a torn update would leave unequal.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Calib {
    count: u64,
    copy: u64,
    gain: [f64; 6],
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct OtherCalib {
    count: u64,
    copy: u32,
    spare: u32,
    gain: [f64; 6],
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Tick {
    seq: u64,
}

fn config(name: &Name) -> ChannelConfig {
    ChannelConfig::new(&name.0)
        .capacity(16)
        .zone::<Telemetry>("telemetry")
        .locked_zone::<Calib>("calibration")
}

#[test]
fn a_lock_free_zone_is_shared_and_its_handle_outlives_the_borrow_of_the_producer() {
    let name = Name::new("zone");
    let mut producer = Producer::<Tick>::create(&config(&name)).unwrap();
    let telemetry = producer.zone::<Telemetry>("telemetry").unwrap();
    let consumer = Consumer::<Tick>::attach(&name.0).unwrap();
    let seen = consumer.zone::<Telemetry>("telemetry").unwrap();
    for seq in 0..10 {
        // The handle is held while the producer is borrowed mutably.
        let mut slot = producer.acquire(SECOND).unwrap();
        slot.seq = seq;
        telemetry.frames.fetch_add(1, Ordering::Relaxed);
        slot.commit();
    }
    telemetry.fps.store(29.97, Ordering::Relaxed);
    assert_eq!(consumer.next(SECOND).unwrap().seq, 0);
    assert_eq!(seen.frames.load(Ordering::Relaxed), 10);
    assert_eq!(seen.fps.load(Ordering::Relaxed), 29.97);
    // A clone on another thread, after the producer is gone.
    drop(producer);
    let moved = seen.clone();
    let frames = thread::spawn(move || moved.frames.load(Ordering::Relaxed));
    assert_eq!(frames.join().unwrap(), 10);
    assert_eq!(seen.name(), "telemetry");
}

#[test]
fn a_zone_of_another_name_kind_or_type_is_a_typed_error() {
    let name = Name::new("zone-errors");
    let producer = Producer::<Tick>::create(&config(&name)).unwrap();
    let err = producer.zone::<Telemetry>("telemtry").unwrap_err();
    assert_eq!(err.code(), "DH212");
    assert!(
        err.to_string()
            .contains("the channel's zones are `telemetry`, `calibration`"),
        "{err}"
    );
    let err = producer.zone::<Telemetry>("calibration").unwrap_err();
    assert!(err.to_string().contains("locked_zone::<T>()"), "{err}");
    let err = producer.locked_zone::<Calib>("telemetry").unwrap_err();
    assert!(err.to_string().contains("zone::<Z>()"), "{err}");
    let consumer = Consumer::<Tick>::attach(&name.0).unwrap();
    let err = consumer
        .locked_zone::<OtherCalib>("calibration")
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::SchemaMismatch { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("zone `calibration`")
            && err
                .to_string()
                .contains("field `copy`: the segment has `u64@8`, you expect `u32@8`"),
        "{err}"
    );
    let bare = Name::new("zone-none");
    let producer = Producer::<Tick>::create(&ChannelConfig::new(&bare.0)).unwrap();
    let err = producer.zone::<Telemetry>("telemetry").unwrap_err();
    assert!(
        err.to_string().contains("the channel has no zones"),
        "{err}"
    );
}

/// Adds 1 to both words of the zone `rounds` times, each under the lock,
/// with a yield in between so that a missing exclusion would show.
fn hammer(zone: &LockedZone<Calib>, rounds: u64) {
    for _ in 0..rounds {
        let mut guard = zone.lock(10 * SECOND).unwrap();
        let count = guard.count;
        assert_eq!(guard.copy, count, "torn zone: another holder was inside");
        if count.is_multiple_of(64) {
            thread::yield_now();
        }
        guard.count = count + 1;
        guard.copy = count + 1;
    }
}

#[test]
fn a_locked_zone_serialises_threads_and_two_mappings_of_one_process() {
    let name = Name::new("zone-lock");
    let producer = Producer::<Tick>::create(&config(&name)).unwrap();
    let consumer = Consumer::<Tick>::attach(&name.0).unwrap();
    let ours = Arc::new(producer.locked_zone::<Calib>("calibration").unwrap());
    // A second mapping of the same segment in this process.
    let theirs = Arc::new(consumer.locked_zone::<Calib>("calibration").unwrap());
    const ROUNDS: u64 = 5_000;
    let threads: Vec<_> = [&ours, &ours, &theirs, &theirs]
        .into_iter()
        .map(|zone| {
            let zone = Arc::clone(zone);
            thread::spawn(move || hammer(&zone, ROUNDS))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let end = theirs.read(SECOND).unwrap();
    assert_eq!((end.count, end.copy), (4 * ROUNDS, 4 * ROUNDS));
    assert_eq!(ours.holder(), None);
}

#[test]
fn a_held_lock_times_out_naming_its_holder_and_frees_on_drop() {
    let name = Name::new("zone-held");
    let producer = Producer::<Tick>::create(&config(&name)).unwrap();
    let zone = producer.locked_zone::<Calib>("calibration").unwrap();
    let guard = zone.lock(SECOND).unwrap();
    assert_eq!(zone.holder(), Some(std::process::id()));
    thread::scope(|s| {
        let waited = s
            .spawn(|| {
                let started = Instant::now();
                let err = zone.lock(Duration::from_millis(50)).err().unwrap();
                assert!(
                    err.to_string().contains("another thread of this process"),
                    "{err}"
                );
                started.elapsed()
            })
            .join()
            .unwrap();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
    });
    drop(guard);
    assert_eq!(zone.holder(), None);
    zone.write(
        SECOND,
        Calib {
            count: 3,
            copy: 3,
            gain: [0.5; 6],
        },
    )
    .unwrap();
    assert_eq!(zone.read(SECOND).unwrap().gain, [0.5; 6]);
}

/// The identity word of a process that has exited: `start_time << 22 | pid`.
fn dead_owner_word() -> u64 {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // Field 22 of stat, the 20th after the command name.
    let start_time: u64 = fields[19].parse().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    (start_time << 22) | u64::from(pid)
}

#[test]
fn a_lock_left_held_by_a_dead_process_is_taken_over_and_the_guard_says_so() {
    let name = Name::new("zone-dead");
    let producer = Producer::<Tick>::create(&config(&name)).unwrap();
    let zone = producer.locked_zone::<Calib>("calibration").unwrap();
    zone.write(
        SECOND,
        Calib {
            count: 1,
            copy: 1,
            gain: [1.0; 6],
        },
    )
    .unwrap();
    // Zone 1's spin lock (docs/layout.md): 2048 + 192 + 64 * 1, owner word first.
    name.poke(2048 + 192 + 64, &dead_owner_word().to_le_bytes());
    assert!(zone.holder().is_some_and(|pid| pid != std::process::id()));
    let started = Instant::now();
    let guard = zone.lock(10 * SECOND).unwrap();
    assert!(
        guard.recovered(),
        "the guard says the data may be half-written"
    );
    assert!(
        started.elapsed() < SECOND,
        "taken over at once, not after a timeout"
    );
    assert_eq!(guard.count, 1);
    drop(guard);
    let again = zone.lock(SECOND).unwrap();
    assert!(!again.recovered());
}
