//! Raw byte channels (`Producer::<Bytes>`): a length per item, checksums
//! over exactly those bytes, and the typed/raw distinction at attach.

use datahub::{
    Bytes, ChannelConfig, ChecksumPolicy, Consumer, Error, ErrorKind, Overflow, Producer,
};

use crate::channel::{Name, SECOND};

/// Item `seq`'s bytes: a length that varies with `seq`, and contents
/// derived from it, so a wrong length or a stale byte shows.
fn frame(seq: u64, max: usize) -> Vec<u8> {
    let len = (seq as usize * 37) % (max + 1);
    (0..len).map(|i| (seq as usize + i) as u8).collect()
}

#[test]
fn items_of_varying_length_arrive_with_exactly_their_bytes() {
    let name = Name::new("bytes");
    const MAX: usize = 300;
    let config = ChannelConfig::new(&name.0)
        .slot_size(MAX as u64)
        .capacity(4)
        .checksum(ChecksumPolicy::Enforced);
    let mut producer = Producer::<Bytes>::create(&config).unwrap();
    assert_eq!(producer.slot_size(), MAX);
    let consumer = Consumer::<Bytes>::attach(&name.0).unwrap();
    assert_eq!(consumer.slot_size(), MAX);
    let reader = std::thread::spawn(move || {
        for seq in 0..2_000u64 {
            let item = consumer.next(10 * SECOND).unwrap();
            assert_eq!(item.seq(), seq);
            assert_eq!(&*item, frame(seq, MAX).as_slice(), "item {seq}");
            assert!(item.verify_checksum());
        }
    });
    for seq in 0..2_000u64 {
        if seq % 2 == 0 {
            producer.write_bytes(10 * SECOND, &frame(seq, MAX)).unwrap();
        } else {
            // In place: write into the whole slot, then say how much is used.
            let bytes = frame(seq, MAX);
            let mut slot = producer.acquire(10 * SECOND).unwrap();
            assert_eq!(slot.len(), MAX, "the whole slot until set_len");
            slot.fill(0xEE);
            slot[..bytes.len()].copy_from_slice(&bytes);
            slot.set_len(bytes.len());
            slot.commit();
        }
    }
    reader.join().unwrap();
}

#[test]
fn a_payload_longer_than_the_slot_is_refused_and_nothing_is_sent() {
    let name = Name::new("bytes-long");
    let mut producer =
        Producer::<Bytes>::create(&ChannelConfig::new(&name.0).slot_size(16)).unwrap();
    let consumer = Consumer::<Bytes>::attach(&name.0).unwrap();
    let err = producer.write_bytes(SECOND, &[1; 17]).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::PayloadTooLarge {
                len: 17,
                max: 16,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.code(), "DH213");
    assert!(consumer.try_next().unwrap().is_none());
    assert_eq!(producer.next_seq(), 0);
    producer.write_bytes(SECOND, &[]).unwrap();
    assert!(
        consumer.next(SECOND).unwrap().is_empty(),
        "an empty item is an item"
    );
}

#[derive(Clone, Copy, datahub::DataHubSlot)]
#[repr(C)]
struct Sixteen {
    a: u64,
    b: u64,
}

#[test]
fn typed_and_raw_channels_do_not_attach_to_each_other_and_sizes_are_checked() {
    let raw = Name::new("bytes-kind");
    let _p = Producer::<Bytes>::create(&ChannelConfig::new(&raw.0).slot_size(16)).unwrap();
    let err = Consumer::<Sixteen>::attach(&raw.0).err().unwrap();
    assert!(
        matches!(err.kind(), ErrorKind::SchemaMismatch { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("attach with `Consumer::<Bytes>`"),
        "{err}"
    );
    // A byte array of the same size has the same hash, but not the kind.
    assert!(Consumer::<[u8; 16]>::attach(&raw.0).is_err());

    let typed = Name::new("typed-kind");
    let _q = Producer::<Sixteen>::create(&ChannelConfig::new(&typed.0)).unwrap();
    let err = Consumer::<Bytes>::attach(&typed.0).err().unwrap();
    assert!(
        err.to_string().contains("the segment's slots are typed"),
        "{err}"
    );

    let problem = |r: Result<(), Error>| match r.map_err(datahub::Error::into_kind) {
        Err(ErrorKind::InvalidConfig { problem }) => problem,
        other => panic!("expected InvalidConfig, got {other:?}"),
    };
    let other = Name::new("bytes-config");
    let typed_with_size = Producer::<Sixteen>::create(&ChannelConfig::new(&other.0).slot_size(8));
    assert!(problem(typed_with_size.map(drop)).contains("remove `.slot_size(..)`"));
    let raw_without_size = Producer::<Bytes>::create(&ChannelConfig::new(&other.0));
    assert!(problem(raw_without_size.map(drop)).contains("add `.slot_size(BYTES)`"));
    let raw_zero = Producer::<Bytes>::create(&ChannelConfig::new(&other.0).slot_size(0));
    assert!(problem(raw_zero.map(drop)).contains("slot_size 0"));
}

#[test]
fn a_forged_payload_length_is_a_corrupt_segment_not_a_read_past_the_slot() {
    let name = Name::new("bytes-forged");
    let config = ChannelConfig::new(&name.0)
        .slot_size(64)
        .overflow(Overflow::Overwrite);
    let mut producer = Producer::<Bytes>::create(&config).unwrap();
    let consumer = Consumer::<Bytes>::attach(&name.0).unwrap();
    producer.write_bytes(SECOND, b"abc").unwrap();
    producer.write_bytes(SECOND, b"def").unwrap();
    // Item 0's slot state: payload_len at +16 (docs/layout.md).
    let states = name.header_word(352);
    name.poke(states + 16, &u64::MAX.to_le_bytes());
    let err = consumer.next(SECOND).err().unwrap();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::CorruptSegment {
                field: "slot_states[].payload_len",
                ..
            }
        ),
        "{err}"
    );
    // The mark was released and the item passed: the next one reads normally.
    assert_eq!(&*consumer.next(SECOND).unwrap(), b"def");
}
