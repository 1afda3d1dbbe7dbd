//! Slots and zones described at run time (`Described`, `SlotLayout`,
//! `ChannelConfig::from_schema`, `DescribedZone`, `DescribedLockedZone`)
//! and slots detached from their handles: what the Python and C bindings
//! are built on.

use std::time::Duration;

use datahub::{
    AttachOptions, Bytes, ChannelConfig, Consumer, DataHubSlot, Described, ErrorKind, Producer,
    SlotKind, SlotLayout, Value,
};

use crate::channel::Name;

const SECOND: Duration = Duration::from_secs(1);
const SENSOR: &str = "../schemas/sensor.toml";

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct SensorFrame {
    timestamp_ns: u64,
    seq: u32,
    _pad0: [u8; 4],
    samples: [f32; 1024],
}

fn sensor(name: &Name) -> ChannelConfig {
    ChannelConfig::from_schema_file(SENSOR, "sensor")
        .unwrap()
        .with_name(&name.0)
}

#[test]
fn a_schema_described_producer_makes_the_channel_its_typed_peers_expect() {
    let name = Name::new("described-typed");
    let cfg = sensor(&name);
    let mut p = Producer::<Described>::create(&cfg).unwrap();
    assert_eq!(p.slot_layout(), &SlotLayout::of::<SensorFrame>());
    // The same channel hash as the schema's, zones included.
    let schema = datahub_schema::Schema::load(SENSOR).unwrap();
    assert_eq!(p.channel_hash(), schema.channel("sensor").unwrap().hash());
    let typed = Consumer::<SensorFrame>::attach_with(
        &name.0,
        &AttachOptions::default().channel_hash(schema.channel("sensor").unwrap().hash()),
    )
    .unwrap();
    let described = Consumer::<Described>::attach(&name.0).unwrap();
    assert_eq!(described.slot_layout(), p.slot_layout());
    let mut w = p.acquire(SECOND).unwrap();
    assert_eq!(w.len(), 4112);
    w[8..12].copy_from_slice(&7u32.to_ne_bytes());
    w.commit();
    assert_eq!(typed.next(SECOND).unwrap().seq, 7);
    let item = described.next(SECOND).unwrap();
    assert_eq!((item.len(), &item[8..12]), (4112, &7u32.to_ne_bytes()[..]));
}

#[test]
fn a_typed_producer_refuses_a_schema_of_another_layout_and_a_described_one_needs_a_layout() {
    let name = Name::new("described-refused");
    let cfg = ChannelConfig::from_schema_file("../schemas/tracker.toml", "tracker")
        .unwrap()
        .with_name(&name.0);
    let err = Producer::<SensorFrame>::create(&cfg).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidConfig { problem } if problem.contains("is not the configured one")),
        "{err}"
    );
    let err = Producer::<Described>::create(&ChannelConfig::new(&name.0)).unwrap_err();
    assert!(err.to_string().contains("need their layout"), "{err}");
    let err = ChannelConfig::from_schema_file("../schemas/nope.toml", "x").unwrap_err();
    assert_eq!(err.code(), "DH201");
}

#[test]
fn a_described_consumer_with_a_schema_is_refused_a_channel_of_another_layout_naming_the_field() {
    let name = Name::new("described-mismatch");
    let _p = Producer::<Described>::create(&sensor(&name)).unwrap();
    let mut frame = datahub_schema::Schema::load(SENSOR)
        .unwrap()
        .channel("sensor")
        .unwrap()
        .slot_canonical()
        .to_owned();
    frame = frame.replace("seq:u32@8", "seq:i32@8");
    let expected = SlotLayout::typed(&frame).unwrap();
    let err = Consumer::<Described>::attach_with(
        &name.0,
        &AttachOptions::default().slot_layout(expected),
    )
    .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::SchemaMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("field `seq`"), "{err}");
    let err = Consumer::<Described>::attach_with(
        &name.0,
        &AttachOptions::default().slot_layout(SlotLayout::bytes(4112)),
    )
    .unwrap_err();
    assert!(err.to_string().contains("slot kind"), "{err}");
}

#[test]
fn described_raw_bytes_items_carry_their_own_length_and_typed_ones_the_whole_slot() {
    let name = Name::new("described-bytes");
    let mut p = Producer::<Described>::create(
        &ChannelConfig::new(&name.0).slot_layout(SlotLayout::bytes(64)),
    )
    .unwrap();
    let bytes = Consumer::<Bytes>::attach(&name.0).unwrap();
    let described = Consumer::<Described>::attach(&name.0).unwrap();
    assert_eq!(described.slot_layout().kind(), SlotKind::Bytes);
    let mut w = p.acquire(SECOND).unwrap();
    w[..3].copy_from_slice(b"abc");
    w.set_len(3).unwrap();
    let err = w.set_len(65).unwrap_err();
    assert_eq!(err.code(), "DH213", "{err}");
    w.commit();
    assert_eq!(&*bytes.next(SECOND).unwrap(), b"abc");
    assert_eq!(&*described.next(SECOND).unwrap(), b"abc");

    let typed = Name::new("described-typed-len");
    let mut p = Producer::<Described>::create(&sensor(&typed)).unwrap();
    let mut w = p.acquire(SECOND).unwrap();
    assert!(w.set_len(4112).is_ok());
    let err = w.set_len(10).unwrap_err();
    assert_eq!(err.code(), "DH229", "{err}");
}

#[test]
fn a_detached_write_slot_is_the_only_one_out_and_is_taken_back_once() {
    let name = Name::new("described-detached-write");
    let mut p = Producer::<u64>::create(&ChannelConfig::new(&name.0)).unwrap();
    let c = Consumer::<u64>::attach(&name.0).unwrap();
    let held = p.acquire(SECOND).unwrap().detach();
    assert_eq!(held.seq(), 0);
    let err = p.acquire(Duration::ZERO).unwrap_err();
    assert_eq!(err.code(), "DH227", "{err}");
    // A forged copy of the slot (what a C caller can make) is refused
    // after the real one went back.
    // SAFETY: the slot is claimed and out: 8 bytes nobody else touches.
    unsafe { held.as_ptr().cast::<u64>().write(9) };
    let other = Name::new("described-detached-other");
    let mut q = Producer::<u64>::create(&ChannelConfig::new(&other.0)).unwrap();
    let theirs = q.acquire(SECOND).unwrap().detach();
    let err = p.reattach(theirs).unwrap_err();
    assert!(err.to_string().contains("another producer"), "{err}");
    p.reattach(held.clone()).unwrap().commit();
    assert_eq!(*c.next(SECOND).unwrap(), 9);
    let err = p.reattach(held).unwrap_err();
    assert!(err.to_string().contains("committed or aborted"), "{err}");
    // Dropping a producer with a slot out aborts it: the consumer sees
    // the close, not a half-written item.
    let held = p.acquire(SECOND).unwrap().detach();
    assert_eq!(held.seq(), 1);
    drop(p);
    let err = c.next(SECOND).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Closed { .. }), "{err}");
}

#[test]
fn a_detached_item_is_released_once_whichever_copy_comes_back() {
    let name = Name::new("described-detached-read");
    let mut p = Producer::<u64>::create(&ChannelConfig::new(&name.0)).unwrap();
    let c = Consumer::<u64>::attach(&name.0).unwrap();
    let d = Consumer::<u64>::attach(&name.0).unwrap();
    p.send(1).unwrap();
    p.send(2).unwrap();
    let held = c.next(SECOND).unwrap().detach();
    assert_eq!((held.seq(), held.len()), (0, 8));
    // Still held: the consumer reads one item at a time.
    assert_eq!(c.try_next().unwrap_err().code(), "DH225");
    let theirs = d.next(SECOND).unwrap().detach();
    let err = c.reattach(theirs).unwrap_err();
    assert!(err.to_string().contains("another consumer"), "{err}");
    drop(c.reattach(held.clone()).unwrap());
    let err = c.reattach(held).unwrap_err();
    assert!(err.to_string().contains("it was released"), "{err}");
    assert_eq!(*c.next(SECOND).unwrap(), 2);
}

#[test]
fn described_zones_are_read_and_written_by_field_name_with_their_types_checked() {
    let name = Name::new("described-zones");
    let p = Producer::<Described>::create(&sensor(&name)).unwrap();
    let c = Consumer::<Described>::attach(&name.0).unwrap();
    let tel = p.described_zone("telemetry").unwrap();
    assert_eq!(tel.fields(), ["frame_count", "fps", "state"]);
    let theirs = c.described_zone("telemetry").unwrap();
    tel.store("state", Value::UInt(4)).unwrap();
    assert_eq!(theirs.load("state").unwrap(), Value::UInt(4));
    assert_eq!(
        theirs.fetch_add("state", Value::Int(-1)).unwrap(),
        Value::UInt(4)
    );
    assert_eq!(tel.load("state").unwrap(), Value::UInt(3));
    tel.fetch_add("fps", Value::Float(0.5)).unwrap();
    assert_eq!(theirs.load("fps").unwrap(), Value::Float(0.5));
    for (value, field) in [
        (Value::UInt(1 << 32), "state"),
        (Value::Int(-1), "state"),
        (Value::Float(1.5), "frame_count"),
    ] {
        let err = tel.store(field, value).unwrap_err();
        assert_eq!(err.code(), "DH229", "{err}");
    }
    let err = tel.fetch_add("state", Value::UInt(1 << 32)).unwrap_err();
    assert_eq!(err.code(), "DH229", "{err}");
    let err = tel.load("samples").unwrap_err();
    assert!(err.to_string().contains("frame_count, fps, state"), "{err}");
    // A locked zone is not opened as a lock-free one, nor the reverse.
    assert_eq!(p.described_zone("calibration").unwrap_err().code(), "DH212");
    assert_eq!(
        p.described_locked_zone("telemetry").unwrap_err().code(),
        "DH212"
    );
}

#[test]
fn a_described_locked_zone_is_shared_under_its_lock_and_a_detached_lock_goes_back_once() {
    let name = Name::new("described-locked");
    let p = Producer::<Described>::create(&sensor(&name)).unwrap();
    let c = Consumer::<Described>::attach(&name.0).unwrap();
    let mine = p.described_locked_zone("calibration").unwrap();
    let theirs = c.described_locked_zone("calibration").unwrap();
    assert_eq!(mine.len(), 192);
    let held = mine.lock(SECOND).unwrap().detach();
    // SAFETY: the lock is held: the zone's 192 bytes are ours.
    unsafe { held.as_ptr().cast::<f64>().write(2.5) };
    // Held: another handle waits it out.
    assert_eq!(
        theirs.lock(Duration::from_millis(20)).unwrap_err().code(),
        "DH209"
    );
    let err = theirs.reattach(held.clone()).unwrap_err();
    assert!(err.to_string().contains("another handle"), "{err}");
    drop(mine.reattach(held.clone()).unwrap());
    // A handle dropped with its lock detached releases it.
    let other = p.described_locked_zone("calibration").unwrap();
    let kept = other.lock(SECOND).unwrap().detach();
    drop(other);
    drop(kept);
    assert!(mine.lock(Duration::from_millis(100)).is_ok());
    let err = mine.reattach(held).unwrap_err();
    assert!(err.to_string().contains("it was unlocked"), "{err}");
    assert_eq!(theirs.lock(SECOND).unwrap()[..8], 2.5f64.to_ne_bytes());
}
