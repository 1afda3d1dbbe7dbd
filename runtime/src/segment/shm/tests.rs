//! Creating and attaching real segments in /dev/shm, including corrupted,
//! truncated and half-initialized ones.

use std::io::{Seek, SeekFrom, Write};

use super::*;
use crate::ring::protocol::{ReadAttempt, Start};
use crate::segment::header::{INIT_CLOSED, INIT_INITIALIZING};
use crate::segment::validate::Params;
use proptest::prelude::*;
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

// ----- fuzz: damaged segment files ------------------------------------

/// A header field the fuzz may damage: name, offset in the file, width.
fn fields() -> Vec<(&'static str, usize, usize)> {
    use crate::segment::header::{Identity, ZoneEntry};
    use std::mem::{offset_of, size_of};
    let zone = |i: usize, at: usize| offset_of!(Identity, zones) + i * size_of::<ZoneEntry>() + at;
    vec![
        ("layout_version", offset_of!(Identity, layout_version), 4),
        ("header_size", offset_of!(Identity, header_size), 4),
        ("total_size", offset_of!(Identity, total_size), 8),
        ("live_offset", offset_of!(Identity, live_offset), 8),
        ("channel_name", offset_of!(Identity, channel_name), 8),
        ("capacity", offset_of!(Identity, capacity), 4),
        ("max_consumers", offset_of!(Identity, max_consumers), 4),
        ("slot_size", offset_of!(Identity, slot_size), 8),
        ("slot_stride", offset_of!(Identity, slot_stride), 8),
        ("policy", offset_of!(Identity, policy), 1),
        ("overflow", offset_of!(Identity, overflow), 1),
        ("checksum", offset_of!(Identity, checksum), 1),
        ("has_secret", offset_of!(Identity, has_secret), 1),
        ("slot_kind", offset_of!(Identity, slot_kind), 1),
        ("zone_count", offset_of!(Identity, zone_count), 4),
        ("schema_offset", offset_of!(Identity, schema_offset), 8),
        ("schema_len", offset_of!(Identity, schema_len), 8),
        (
            "slot_states_offset",
            offset_of!(Identity, slot_states_offset),
            8,
        ),
        (
            "checksums_offset",
            offset_of!(Identity, checksums_offset),
            8,
        ),
        (
            "consumers_offset",
            offset_of!(Identity, consumers_offset),
            8,
        ),
        ("zones_offset", offset_of!(Identity, zones_offset), 8),
        ("zones_len", offset_of!(Identity, zones_len), 8),
        ("slots_offset", offset_of!(Identity, slots_offset), 8),
        ("zones[0].name", zone(0, offset_of!(ZoneEntry, name)), 8),
        ("zones[0].offset", zone(0, offset_of!(ZoneEntry, offset)), 8),
        ("zones[0].size", zone(0, offset_of!(ZoneEntry, size)), 8),
        ("zones[0].locked", zone(0, offset_of!(ZoneEntry, locked)), 1),
        ("zones[1].size", zone(1, offset_of!(ZoneEntry, size)), 8),
        ("zones[1].offset", zone(1, offset_of!(ZoneEntry, offset)), 8),
    ]
}

/// One way to damage a segment file.
#[derive(Debug, Clone)]
enum Damage {
    /// Header field `.0` (an index into [`fields`]) set to a value.
    Set(usize, u64),
    /// Header field `.0` moved by a small amount, as a bit flip or an
    /// off-by-one would.
    Nudge(usize, i64),
    /// A byte of the schema strings' region overwritten (offset from its start).
    SchemaByte(u64, u8),
}

/// What the file's length becomes after the damage.
#[derive(Debug, Clone)]
enum Length {
    /// The `total_size` the (damaged) header claims, so that validation goes
    /// past its size check (when that is below 64 MiB).
    AsClaimed,
    /// As it was.
    Unchanged,
    /// Any length up to the original one plus 8 KiB.
    Other(u64),
}

fn damage() -> impl Strategy<Value = Damage> {
    let field = 0..fields().len();
    let value = prop_oneof![
        Just(0u64),
        Just(1),
        0u64..256,
        Just(64),
        Just(4096),
        Just(u64::from(u32::MAX)),
        Just(u64::MAX),
        Just(1 << 40),
        any::<u64>(),
    ];
    let nudge = prop_oneof![
        Just(1i64),
        Just(-1),
        Just(64),
        Just(-64),
        Just(4096),
        Just(-4096),
        -300i64..300,
    ];
    prop_oneof![
        4 => (field.clone(), value).prop_map(|(f, v)| Damage::Set(f, v)),
        4 => (field, nudge).prop_map(|(f, d)| Damage::Nudge(f, d)),
        1 => (0u64..200, any::<u8>()).prop_map(|(at, b)| Damage::SchemaByte(at, b)),
    ]
}

/// Parameters a real channel might have (small, so the files are quick to make).
fn params() -> impl Strategy<Value = Params> {
    (
        1u64..=16,
        1u64..=8,
        1u64..=600,
        any::<bool>(),
        prop::collection::vec(1u64..=300, 0..=3),
    )
        .prop_map(
            |(capacity, max_consumers, slot_size, checksums, zone_sizes)| Params {
                capacity,
                max_consumers,
                slot_size,
                checksums,
                schema_len: 0,
                zone_sizes,
            },
        )
}

fn read_field(channel: &str, at: usize, width: usize) -> u64 {
    use std::io::Read;
    let mut f = open_file(channel);
    f.seek(SeekFrom::Start(at as u64)).unwrap();
    let mut b = [0u8; 8];
    f.read_exact(&mut b[..width]).unwrap();
    u64::from_le_bytes(b)
}

/// Segment files of real channels, damaged in their header fields and
/// schema strings, most of them with the length their header claims (so
/// validation runs past its size check into the plan and the strings): every
/// opener returns a segment whose regions lie in the file, or a typed error;
/// and an attached one can be read through without a fault. The outcomes
/// are counted, and the fuzz fails if too few cases get past the size check.
#[test]
fn damaged_segment_files_give_typed_errors_or_sound_segments() {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    let ch = TestChannel::new("fuzz");
    let fields = fields();
    // Outcome -> cases; an error outcome is the field validation named.
    let outcomes: Mutex<BTreeMap<String, u32>> = Mutex::default();
    let strategy = (
        params(),
        prop::collection::vec(damage(), 1..=3),
        prop_oneof![
            8 => Just(Length::AsClaimed),
            1 => Just(Length::Unchanged),
            1 => (0u64..1 << 20).prop_map(Length::Other),
        ],
    );
    let config = crate::fuzzing::config("segment files", 3_000, file!());
    let cases = config.cases;
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&strategy, |(params, damages, length)| {
        let _ = os::unlink(&ch.0);
        let zone_names = ["za", "zb", "zc"];
        let mut bp = blueprint(&ch.0);
        bp.zones = (0..params.zone_sizes.len())
            .map(|i| (zone_names[i], i % 2 == 1, [7; 32]))
            .collect();
        bp.checksum = u8::from(params.checksums) * 2;
        let strings = SchemaStrings {
            slot: schema().slot,
            zones: vec![schema().zones[0].clone(); params.zone_sizes.len()],
        };
        bp.params = params;
        let seg = Segment::create(&bp, &strings, os::current_process()).unwrap();
        let original_len = seg.regions().total_size;
        let schema_start = seg.regions().schema.start;
        drop(seg);
        for d in &damages {
            match *d {
                Damage::Set(f, value) => {
                    let (_, at, width) = fields[f];
                    poke(&ch.0, at as u64, &value.to_le_bytes()[..width]);
                }
                Damage::Nudge(f, delta) => {
                    let (_, at, width) = fields[f];
                    let value = read_field(&ch.0, at, width).wrapping_add_signed(delta);
                    poke(&ch.0, at as u64, &value.to_le_bytes()[..width]);
                }
                Damage::SchemaByte(at, b) => poke(&ch.0, schema_start + at, &[b]),
            }
        }
        let claimed = read_field(
            &ch.0,
            std::mem::offset_of!(crate::segment::header::Identity, total_size),
            8,
        );
        let len = match length {
            Length::AsClaimed if claimed <= 64 << 20 => claimed,
            Length::AsClaimed | Length::Unchanged => original_len,
            Length::Other(len) => len,
        };
        open_file(&ch.0).set_len(len).unwrap();

        let outcome = match Segment::read_copy(&ch.0, Duration::ZERO) {
            Ok(seg) => {
                prop_assert!(seg.regions().total_size == len);
                prop_assert!(seg.regions().slots.end <= len);
                "accepted".to_owned()
            }
            Err(SegmentError::Corrupt { corrupt, .. }) => corrupt.field.to_owned(),
            Err(SegmentError::NotAFile { .. }) => "too short for a header".to_owned(),
            Err(other) => return Err(TestCaseError::fail(format!("unexpected error: {other}"))),
        };
        // Mapping it for real: the same verdict, and an accepted segment is
        // read through its ring and zones without a fault.
        match Segment::attach(&ch.0, Duration::ZERO) {
            Ok(seg) => {
                prop_assert_eq!(&outcome, "accepted");
                let ring = seg.ring();
                if let Some((me, first)) = ring.join(1, 1, 0, Start::Oldest) {
                    let _ = ring.try_read(&ring.consumers[me], first);
                    let _ = ring.finish_read(&ring.consumers[me], first);
                }
                for z in 0..seg.regions().zones.len() {
                    prop_assert!(seg.zone_len(z) >= 1);
                }
            }
            Err(SegmentError::Corrupt { corrupt, .. }) => prop_assert_eq!(&outcome, corrupt.field),
            Err(SegmentError::NotAFile { .. }) => {}
            Err(other) => return Err(TestCaseError::fail(format!("unexpected error: {other}"))),
        }
        *outcomes.lock().unwrap().entry(outcome).or_default() += 1;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let outcomes = outcomes.into_inner().unwrap();
    eprintln!("segment files: outcomes of {cases} cases: {outcomes:?}");
    let at_size_check: u32 = ["total_size", "file size", "too short for a header"]
        .iter()
        .filter_map(|k| outcomes.get(*k))
        .sum();
    let total: u32 = outcomes.values().sum();
    assert!(
        at_size_check * 2 < total,
        "most cases stop at the size check ({at_size_check} of {total}): the fuzz does not reach validation"
    );
    assert!(
        outcomes.get("accepted").copied().unwrap_or(0) * 20 >= total,
        "under 5% of damaged files accepted ({outcomes:?}): the harmless damage is not exercised"
    );
    assert!(
        outcomes.len() >= 15,
        "only {} distinct outcomes: {outcomes:?}",
        outcomes.len()
    );
}
