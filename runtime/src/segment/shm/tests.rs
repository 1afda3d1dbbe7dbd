//! Creating and attaching real segments in /dev/shm, including corrupted,
//! truncated and half-initialized ones.

use std::io::{Seek, SeekFrom, Write};

use super::*;
use crate::ring::protocol::{ReadAttempt, Start};
use crate::segment::header::{INIT_CLOSED, INIT_INITIALIZING};
use crate::segment::validate::Params;
use std::time::Instant;

/// A channel name unique to this test process and `tag`; removed on drop.
struct TestChannel(String);

impl TestChannel {
    fn new(tag: &str) -> Self {
        let name = format!("test-shm-{tag}-{}", std::process::id());
        let _ = os::unlink(&name);
        Self(name)
    }
}

impl Drop for TestChannel {
    fn drop(&mut self) {
        let _ = os::unlink(&self.0);
    }
}

fn blueprint(channel: &str) -> Blueprint<'_> {
    Blueprint {
        channel,
        params: Params {
            capacity: 4,
            max_consumers: 2,
            slot_size: 24,
            checksums: false,
            schema_len: 0,
            zone_sizes: vec![16],
        },
        policy: 2,
        overflow: 0,
        checksum: 0,
        slot_kind: 0,
        zones: vec![("telemetry", false, [7; 32])],
        channel_hash: [1; 32],
        slot_hash: [2; 32],
        secret: None,
        nonce: [3; 32],
        mode: 0o600,
        created_ns: 1,
        stall_timeout_ns: 1_000_000_000,
    }
}

fn schema() -> SchemaStrings {
    SchemaStrings {
        slot: "{24/8:t:u64@0,v:[f32;4]@8}".into(),
        zones: vec!["{16/8:n:atomic_u64@0,m:atomic_u64@8}".into()],
    }
}

#[test]
fn a_created_segment_is_attached_with_the_same_identity_regions_and_schema() {
    let ch = TestChannel::new("roundtrip");
    let me = os::current_process();
    let created = Segment::create(&blueprint(&ch.0), &schema(), me).unwrap();
    for attached in [
        Segment::attach(&ch.0, Duration::ZERO).unwrap(),
        Segment::attach_own(&ch.0, Duration::ZERO).unwrap(),
        Segment::read_copy(&ch.0, Duration::ZERO).unwrap(),
    ] {
        assert_eq!(attached.identity(), created.identity());
        assert_eq!(attached.identity().nonce, [3; 32]);
        assert_eq!(attached.regions(), created.regions());
        assert_eq!(attached.schema(), &schema());
        assert_eq!(attached.channel(), ch.0);
        assert_eq!(attached.live().producer.pid.load(Relaxed), me.pid);
        assert_eq!(attached.ring().slots.len(), 4);
        assert_eq!(attached.ring().consumers.len(), 2);
        assert_eq!(attached.zone_len(0), 16);
    }
}

#[test]
fn an_item_goes_through_the_ring_in_shared_memory() {
    let ch = TestChannel::new("ring");
    let producer = Segment::create(&blueprint(&ch.0), &schema(), os::current_process()).unwrap();
    let consumer = Segment::attach(&ch.0, Duration::ZERO).unwrap();
    let (me, _) = consumer.ring().join(1, 1, 0, Start::Oldest).unwrap();

    let ring = producer.ring();
    ring.check_room(0).unwrap();
    ring.claim(0, 1);
    ring.check_marks(0).unwrap();
    // SAFETY: slot 0 is 24 bytes inside the mapping, claimed, no reader.
    unsafe { producer.slot_ptr(0).cast::<[u64; 3]>().write([1, 2, 3]) };
    ring.commit(0, 24, 0);

    let ring = consumer.ring();
    assert_eq!(ring.try_read(&ring.consumers[me], 0), ReadAttempt::Ready);
    // SAFETY: Ready: committed and protected by our mark.
    let value = unsafe { consumer.slot_ptr(0).cast::<[u64; 3]>().read() };
    assert_eq!(value, [1, 2, 3]);
    assert!(
        !ring.finish_read(&ring.consumers[me], 0),
        "no producer waits"
    );
}

#[test]
fn a_missing_or_duplicate_channel_is_a_typed_error() {
    let ch = TestChannel::new("exists");
    assert!(matches!(
        Segment::read_copy(&ch.0, Duration::ZERO),
        Err(SegmentError::NotFound { .. })
    ));
    let _first = Segment::create(&blueprint(&ch.0), &schema(), os::current_process()).unwrap();
    assert!(matches!(
        Segment::create(&blueprint(&ch.0), &schema(), os::current_process()),
        Err(SegmentError::AlreadyExists { .. })
    ));
}

/// The channel's file, opened read-write behind the segment's back.
fn open_file(channel: &str) -> File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(os::shm_path(channel))
        .unwrap()
}

/// Rewrites bytes of the channel's file behind the segment's back.
fn poke(channel: &str, offset: u64, bytes: &[u8]) {
    let mut f = open_file(channel);
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

fn corrupt_field(result: Result<Segment, SegmentError>) -> &'static str {
    match result {
        Err(SegmentError::Corrupt { corrupt, .. }) => corrupt.field,
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("expected Corrupt, the segment was accepted"),
    }
}

#[test]
fn truncated_and_repointed_segments_are_refused_never_mapped_out_of_bounds() {
    let ch = TestChannel::new("corrupt");
    let seg = Segment::create(&blueprint(&ch.0), &schema(), os::current_process()).unwrap();
    let total = seg.regions().total_size;

    // Offsets past the end.
    poke(&ch.0, 392, &u64::MAX.to_le_bytes());
    assert_eq!(
        corrupt_field(Segment::read_copy(&ch.0, Duration::ZERO)),
        "slots_offset"
    );
    poke(&ch.0, 392, &seg.identity().slots_offset.to_le_bytes());
    assert!(Segment::read_copy(&ch.0, Duration::ZERO).is_ok());

    // Schema strings that do not parse.
    poke(&ch.0, seg.regions().schema.start, &u32::MAX.to_le_bytes());
    assert_eq!(
        corrupt_field(Segment::read_copy(&ch.0, Duration::ZERO)),
        "schema strings"
    );

    // A truncated file.
    open_file(&ch.0).set_len(total - 4096).unwrap();
    assert_eq!(
        corrupt_field(Segment::read_copy(&ch.0, Duration::ZERO)),
        "total_size"
    );
    open_file(&ch.0).set_len(100).unwrap();
    for short in [
        Segment::read_copy(&ch.0, Duration::ZERO),
        Segment::attach(&ch.0, Duration::ZERO),
    ] {
        match short {
            Err(SegmentError::NotAFile { found, .. }) => {
                assert!(found.contains("a file of 100 bytes"), "{found}")
            }
            Err(other) => panic!("expected NotAFile, got {other}"),
            Ok(_) => panic!("a 100-byte file was accepted"),
        }
    }
}

#[test]
fn a_segment_still_initializing_is_waited_for_then_refused() {
    let ch = TestChannel::new("init");
    let seg = Segment::create(&blueprint(&ch.0), &schema(), os::current_process()).unwrap();
    seg.init_state().store(INIT_INITIALIZING, Relaxed);
    let started = Instant::now();
    let err = Segment::attach(&ch.0, Duration::from_millis(30))
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            SegmentError::NotReady {
                state: INIT_INITIALIZING,
                ..
            }
        ),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_millis(30));
    seg.init_state().store(INIT_CLOSED, Relaxed);
    assert!(matches!(
        Segment::read_copy(&ch.0, Duration::ZERO),
        Err(SegmentError::Closed { .. })
    ));
    seg.init_state().store(77, Relaxed);
    assert_eq!(
        corrupt_field(Segment::read_copy(&ch.0, Duration::ZERO)),
        "init_state"
    );
}

#[test]
fn random_bytes_in_a_segment_file_give_errors_never_a_crash() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    let ch = TestChannel::new("random");
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let seg = Segment::create(&blueprint(&ch.0), &schema(), os::current_process()).unwrap();
    let total = seg.regions().total_size as usize;
    drop(seg);
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..64),
        0usize..4096,
        0usize..total + 8192,
    );
    for _ in 0..300 {
        let (bytes, at, len) = strategy.new_tree(&mut runner).unwrap().current();
        // Start from a valid segment, then corrupt it: overwrite bytes in
        // the header (READY kept so validation runs), and resize.
        let _ = os::unlink(&ch.0);
        let seg = Segment::create(&blueprint(&ch.0), &schema(), os::current_process()).unwrap();
        drop(seg);
        let end = (at + bytes.len()).min(4096);
        let keep_ready = |o: usize| !(INIT_STATE_OFFSET..INIT_STATE_OFFSET + 4).contains(&o);
        for (o, b) in (at..end).zip(&bytes) {
            if keep_ready(o) {
                poke(&ch.0, o as u64, &[*b]);
            }
        }
        open_file(&ch.0).set_len(len as u64).unwrap();
        if let Ok(seg) = Segment::read_copy(&ch.0, Duration::ZERO) {
            assert!(seg.regions().slots.end <= len as u64);
        }
    }
}
