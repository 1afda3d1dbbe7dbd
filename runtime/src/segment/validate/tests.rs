//! Validation accepts exactly what the plan produces, and no corruption of
//! a header, however made, leads to a region outside the file.

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::*;

fn blueprint(params: Params, zones: usize) -> Blueprint<'static> {
    const NAMES: [&str; MAX_ZONES] = [
        "z0", "z1", "z2", "z3", "z4", "z5", "z6", "z7", "z8", "z9", "z10", "z11", "z12", "z13",
        "z14", "z15",
    ];
    let checksum = if params.checksums { 2 } else { 0 };
    Blueprint {
        channel: "sensor",
        params,
        policy: 2,
        overflow: 0,
        checksum,
        slot_kind: 0,
        zones: (0..zones)
            .map(|i| (NAMES[i], i % 2 == 1, [i as u8; 32]))
            .collect(),
        channel_hash: [1; 32],
        slot_hash: [2; 32],
        secret: None,
        nonce: [0; 32],
        mode: 0o600,
        created_ns: 123,
        stall_timeout_ns: 1_000_000_000,
    }
}

fn sensor_params() -> Params {
    Params {
        capacity: 8,
        max_consumers: 8,
        slot_size: 4112,
        checksums: true,
        schema_len: 300,
        zone_sizes: vec![16, 192],
    }
}

fn sensor() -> (Identity, Regions) {
    blueprint(sensor_params(), 2).identity().unwrap()
}

fn config(cases: u32) -> Config {
    crate::fuzzing::config("header validation", cases, file!())
}

/// The security property: whatever is accepted lies inside the file, in
/// order, aligned, without overlap.
fn assert_inside(r: &Regions, file_len: u64) {
    let mut regions: Vec<&Range<u64>> = vec![
        &r.schema,
        &r.slot_states,
        &r.consumers,
        &r.zones_region,
        &r.slots,
    ];
    regions.extend(&r.checksums);
    for z in &r.zones {
        assert!(z.start >= r.zones_region.start && z.end <= r.zones_region.end);
        assert_eq!(z.start % 64, 0);
    }
    regions.sort_by_key(|r| r.start);
    let mut end = HEADER_SIZE;
    for region in regions {
        assert!(
            region.start >= end && region.start <= region.end,
            "{region:?} overlaps"
        );
        end = region.end;
    }
    assert!(end <= file_len && r.total_size == file_len);
    assert_eq!(r.slots.start % SLOTS_ALIGN, 0);
}

#[test]
fn the_sensor_channel_is_laid_out_as_documented() {
    let (id, r) = sensor();
    assert_eq!(r.schema, 4096..4396);
    assert_eq!(r.slot_states, 4416..4928);
    assert_eq!(r.checksums, Some(4928..5440));
    assert_eq!(r.consumers, 5440..6464);
    assert_eq!(r.zones, vec![6464..6480, 6528..6720]);
    assert_eq!(r.zones_region, 6464..6720);
    assert_eq!(r.slot_stride, 4160);
    assert_eq!(r.slots, 8192..8192 + 8 * 4160);
    assert_eq!(r.total_size, 45056);
    assert_eq!(validate(&id, r.total_size), Ok(r.clone()));
    assert_inside(&r, r.total_size);
    // The bytes round-trip.
    assert_eq!(Identity::from_bytes(&id.to_bytes()), id);
}

/// The schema checker refuses a channel whose segment would exceed
/// [`MAX_SEGMENT_SIZE`] with its own copy of this plan's arithmetic
/// (`datahub_schema::Channel::segment_size`): the two agree.
#[test]
fn the_schema_crate_computes_the_segment_size_of_this_plan() {
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let mut sources: Vec<String> = std::fs::read_dir(&schemas)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    // Odd sizes, every checksum policy, several zones, the largest ring.
    sources.push(
        "format = 1\n[structs.Z]\nfields = [{ name = \"n\", type = \"[atomic_u8; 3]\" }]\n\
         [structs.L]\nfields = [{ name = \"v\", type = \"[u8; 65]\" }]\n\
         [channels.a]\nslot = \"bytes\"\nslot_size = 4097\ncapacity = 1048576\nmax_consumers = 3\nchecksum = \"enforced\"\n\
         zones = [{ name = \"z\", type = \"Z\" }, { name = \"l\", type = \"L\", locked = true }, { name = \"m\", type = \"Z\" }]\n\
         [channels.b]\nslot = \"L\"\npolicy = \"single\"\nmax_consumers = 64\nchecksum = \"manual\"\n"
            .to_owned(),
    );
    let mut channels = 0;
    for source in &sources {
        let schema = datahub_schema::Schema::parse(source, "t.toml").unwrap();
        for c in schema.channels() {
            let slot_size = match &c.slot {
                datahub_schema::SlotType::Bytes { size } => *size,
                datahub_schema::SlotType::Struct(s) => schema.struct_def(s).unwrap().layout.size,
                other => panic!("{other:?}"),
            };
            let params = Params {
                capacity: u64::from(c.capacity),
                max_consumers: u64::from(c.max_consumers),
                slot_size,
                checksums: c.checksum != datahub_schema::ChecksumPolicy::None,
                schema_len: std::iter::once(c.slot_canonical())
                    .chain(c.zone_canonicals().iter().map(String::as_str))
                    .map(|s| 4 + s.len() as u64)
                    .sum(),
                zone_sizes: c
                    .zones
                    .iter()
                    .map(|z| schema.struct_def(&z.ty).unwrap().layout.size)
                    .collect(),
            };
            assert_eq!(
                plan(&params).unwrap().total_size,
                c.segment_size(),
                "{}",
                c.name
            );
            channels += 1;
        }
    }
    assert!(channels >= 5);
}

#[test]
fn a_header_is_refused_with_the_field_expected_and_found() {
    let (id, r) = sensor();
    let refuse = |mutate: &dyn Fn(&mut Identity), len: u64| {
        let mut bad = id;
        mutate(&mut bad);
        validate(&bad, len).unwrap_err()
    };
    assert_eq!(refuse(&|_| {}, 100).field, "file size");
    assert_eq!(refuse(&|i| i.magic[0] = b'X', r.total_size).field, "magic");
    let e = refuse(&|i| i.layout_version = 9, r.total_size);
    assert_eq!((e.field, e.found.as_str()), ("layout_version", "9"));
    let e = refuse(&|_| {}, r.total_size - 4096);
    assert_eq!(e.field, "total_size", "a truncated file");
    assert_eq!(
        refuse(&|i| i.capacity = 9, r.total_size).field,
        "total_size"
    );
    assert_eq!(
        refuse(&|i| i.slots_offset += 64, r.total_size).field,
        "slots_offset"
    );
    assert_eq!(
        refuse(&|i| i.zones[1].offset = 6480, r.total_size).field,
        "zones[].offset"
    );
    assert_eq!(
        refuse(&|i| i.zones[1].name = i.zones[0].name, r.total_size).field,
        "zones[].name"
    );
    assert_eq!(
        refuse(&|i| i.zone_count = 17, r.total_size).field,
        "zone_count"
    );
    assert_eq!(refuse(&|i| i.policy = 0, r.total_size).field, "capacity");
    assert_eq!(
        refuse(&|i| i.channel_name[0] = b'/', r.total_size).field,
        "channel_name"
    );
    let e = refuse(&|i| i.slot_size = u64::MAX - 10, r.total_size);
    assert_eq!(e.field, "sizes");
    assert!(e.to_string().contains("expected a segment of at most"));
}

/// Each limit accepts its edge and refuses one past it, naming its own
/// field (these are the limits a mutation of `>` into `>=` or `==` would
/// move; `docs/testing.md`).
#[test]
fn each_limit_accepts_its_edge_and_refuses_one_past_it() {
    let (id, r) = sensor();
    let check = |mutate: &dyn Fn(&mut Identity)| {
        let mut i = id;
        mutate(&mut i);
        validate(&i, r.total_size).map(|_| ()).map_err(|e| e.field)
    };
    // A file as long as a header passes the size check and is refused for
    // what its header says.
    assert_eq!(validate(&id, HEADER_SIZE).unwrap_err().field, "total_size");

    // Channel names: 63 bytes, `_` and `-` are fine; 64 (no NUL left),
    // empty, or another character are not.
    fn name(text: &[u8]) -> impl Fn(&mut Identity) + '_ {
        move |i| {
            i.channel_name = [0; 64];
            i.channel_name[..text.len()].copy_from_slice(text);
        }
    }
    assert_eq!(check(&name(&[b'a'; 63])), Ok(()));
    assert_eq!(check(&name(b"a_b-c9")), Ok(()));
    assert_eq!(check(&name(&[b'a'; 64])), Err("channel_name"));
    assert_eq!(check(&name(b"")), Err("channel_name"));
    assert_eq!(check(&name(b"a.b")), Err("channel_name"));

    // Zone names: identifiers of 1 to 31 bytes, `_` allowed, not `-`, not
    // a leading digit.
    fn zone(text: &[u8]) -> impl Fn(&mut Identity) + '_ {
        move |i| {
            i.zones[0].name = [0; 32];
            i.zones[0].name[..text.len()].copy_from_slice(text);
        }
    }
    assert_eq!(check(&zone(&[b'z'; 31])), Ok(()));
    assert_eq!(check(&zone(b"_a_1")), Ok(()));
    assert_eq!(check(&zone(&[b'z'; 32])), Err("zones[].name"));
    assert_eq!(check(&zone(b"a-b")), Err("zones[].name"));
    assert_eq!(check(&zone(b"1a")), Err("zones[].name"));
    assert_eq!(check(&zone(b"")), Err("zones[].name"));

    // An unused zone entry is refused for any one of its fields.
    assert_eq!(check(&|i| i.zones[5].name[0] = b'a'), Err("zones"));
    assert_eq!(check(&|i| i.zones[5].size = 1), Err("zones"));
    assert_eq!(check(&|i| i.zones[5].offset = 64), Err("zones"));

    // A secret tag only with `has_secret`.
    assert_eq!(check(&|i| i.secret_tag[31] = 1), Err("secret_tag"));
    let mut keyed = blueprint(sensor_params(), 2);
    keyed.secret = Some([7; 32]);
    let (keyed, keyed_regions) = keyed.identity().unwrap();
    assert_eq!((keyed.has_secret, keyed.secret_tag == [0; 32]), (1, false));
    assert_eq!(
        validate(&keyed, keyed_regions.total_size),
        Ok(keyed_regions)
    );

    // Canonical strings: 17 strings (the slot type and 16 zones) of 1 MiB
    // with their 4-byte lengths, written out rather than taken from the
    // constant under test.
    let limit: u64 = 17 * (4 + 1_048_576);
    assert_eq!(MAX_SCHEMA_LEN, limit);
    let with_schema = |len: u64| {
        let mut params = sensor_params();
        params.schema_len = len;
        params
    };
    assert!(plan(&with_schema(limit)).is_some());
    assert_eq!(plan(&with_schema(limit + 1)), None);
    let (big, big_regions) = blueprint(with_schema(limit), 2).identity().unwrap();
    assert_eq!(
        validate(&big, big_regions.total_size),
        Ok(big_regions.clone())
    );
    let mut over = big;
    over.schema_len = limit + 1;
    assert_eq!(
        validate(&over, big_regions.total_size).unwrap_err().field,
        "schema_len"
    );
}

#[test]
fn every_single_byte_corruption_is_refused_or_harmless() {
    let (id, r) = sensor();
    let bytes = id.to_bytes();
    for pos in 0..IDENTITY_SIZE {
        for value in [0u8, 1, 0x7f, 0x80, 0xff, bytes[pos] ^ 1] {
            let mut b = bytes;
            b[pos] = value;
            if let Ok(regions) = validate(&Identity::from_bytes(&b), r.total_size) {
                assert_inside(&regions, r.total_size);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn every_planned_segment_validates_to_its_plan(
        capacity in 1u64..=64,
        max_consumers in 1u64..=64,
        slot_size in 1u64..=20_000,
        checksums: bool,
        schema_len in 0u64..=2_000,
        zone_sizes in prop::collection::vec(1u64..=5_000, 0..=MAX_ZONES),
    ) {
        let zones = zone_sizes.len();
        let params = Params { capacity, max_consumers, slot_size, checksums, schema_len, zone_sizes };
        let (id, r) = blueprint(params, zones).identity().unwrap();
        prop_assert_eq!(validate(&id, r.total_size), Ok(r.clone()));
        assert_inside(&r, r.total_size);
    }

    #[test]
    fn random_headers_never_panic_and_never_point_outside(
        bytes in prop::collection::vec(any::<u8>(), IDENTITY_SIZE),
        file_len in prop_oneof![Just(45056u64), 0u64..1 << 20, Just(u64::MAX)],
    ) {
        let id = Identity::from_bytes(&bytes.try_into().unwrap());
        if let Ok(r) = validate(&id, file_len) {
            assert_inside(&r, file_len);
        }
    }

    #[test]
    fn headers_with_random_fields_never_point_outside(
        capacity: u32, max_consumers: u32, slot_size: u64, slot_stride: u64,
        schema_len: u64, zone_count in 0u32..20, zone_size: u64, offsets: [u64; 8], total: u64,
    ) {
        let (mut id, _) = sensor();
        id.capacity = capacity;
        id.max_consumers = max_consumers;
        id.slot_size = slot_size;
        id.slot_stride = slot_stride;
        id.schema_len = schema_len;
        id.zone_count = zone_count;
        id.zones[0].size = zone_size;
        id.schema_offset = offsets[0];
        id.slot_states_offset = offsets[1];
        id.consumers_offset = offsets[2];
        id.slots_offset = offsets[3];
        id.total_size = total;
        if let Ok(r) = validate(&id, total) {
            assert_inside(&r, total);
        }
    }
}
