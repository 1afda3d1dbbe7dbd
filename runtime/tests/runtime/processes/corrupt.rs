//! Damaged copies of a valid segment, each with what an attaching process
//! must get: fixed patterns for each kind of damage the header validation
//! knows, and seeded random ones (the seed is in the label, so a failure
//! reproduces).

/// What a process attaching to a damaged segment must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expect {
    /// It attaches and reads item 0 (the faithful copy).
    Attached,
    /// A typed error with this code whose message contains this text.
    Error(&'static str, &'static str),
    /// Anything but a crash: a typed error or an attach.
    NoCrash,
}

/// One damaged segment: a label, the file's bytes, the expectation.
pub(super) struct Damage {
    pub(super) label: String,
    pub(super) bytes: Vec<u8>,
    pub(super) expect: Expect,
}

// Offsets of header fields (docs/layout.md).
const MAGIC: usize = 0;
const LAYOUT_VERSION: usize = 8;
const TOTAL_SIZE: usize = 16;
const INIT_STATE: usize = 24;
const CHANNEL_NAME: usize = 72;
const SLOT_HASH: usize = 168;
const CAPACITY: usize = 232;
const MAX_CONSUMERS: usize = 236;
const SLOT_SIZE: usize = 240;
const ZONE_COUNT: usize = 272;
const SCHEMA_OFFSET: usize = 336;
const SCHEMA_LEN: usize = 344;
const SLOT_STATES_OFFSET: usize = 352;
const CONSUMERS_OFFSET: usize = 368;
const SLOTS_OFFSET: usize = 392;
const IDENTITY_SIZE: usize = 2048;
const HEADER_SIZE: usize = 4096;

const INIT_READY: u32 = 2;

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Sets the channel name field of a segment image.
fn rename(image: &mut [u8], channel: &str) {
    let field = &mut image[CHANNEL_NAME..CHANNEL_NAME + 64];
    field.fill(0);
    field[..channel.len()].copy_from_slice(channel.as_bytes());
}

/// SplitMix64: a seeded generator, so every random pattern reproduces.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// What attaching to a header whose `init_state` word is `state` gives,
/// when everything in the identity but the magic and layout version is
/// random.
fn expect_for_random_identity(state: u32) -> Expect {
    match state {
        // Waited for up to the ready timeout: the creator may be alive.
        0 | 1 => Expect::Error("DH205", "still being created"),
        3 => Expect::Error("DH206", "closed"),
        // Random fields: the first that validation checks is refused.
        INIT_READY => Expect::Error("DH204", "header field `header_size`"),
        _ => Expect::Error("DH204", "header field `init_state`"),
    }
}

/// Every damaged copy of `image` (a valid segment holding items 0.. of a
/// capacity-8 ring) that the test attaches to.
pub(super) fn damages(image: &[u8]) -> Vec<Damage> {
    let len = image.len() as u64;
    assert_eq!(get_u64(image, TOTAL_SIZE), len, "a valid image");
    let schema_offset = get_u64(image, SCHEMA_OFFSET) as usize;
    let mut out = Vec::new();
    let mut edit = |label: &str, expect: Expect, change: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = image.to_vec();
        change(&mut bytes);
        out.push(Damage {
            label: label.to_owned(),
            bytes,
            expect,
        });
    };
    let corrupt = |field: &'static str| Expect::Error("DH204", field);

    edit("faithful copy", Expect::Attached, &|_| {});
    edit("wrong magic", corrupt("header field `magic`"), &|b| {
        b[MAGIC..MAGIC + 8].copy_from_slice(b"DATAHUX\0");
    });
    edit(
        "future layout version",
        corrupt("header field `layout_version`"),
        &|b| put_u32(b, LAYOUT_VERSION, 3),
    );
    edit(
        "total_size beyond the file",
        corrupt("header field `total_size`"),
        &|b| put_u64(b, TOTAL_SIZE, 2 * len),
    );
    edit(
        "slots_offset past the end",
        corrupt("header field `slots_offset`"),
        &|b| put_u64(b, SLOTS_OFFSET, len + 4096),
    );
    edit(
        "slot_states_offset at u64::MAX",
        corrupt("header field `slot_states_offset`"),
        &|b| put_u64(b, SLOT_STATES_OFFSET, u64::MAX),
    );
    edit(
        "consumers_offset inside the file but wrong",
        corrupt("header field `consumers_offset`"),
        &|b| put_u64(b, CONSUMERS_OFFSET, len - 128),
    );
    edit(
        "capacity at u32::MAX",
        corrupt("header field `capacity`"),
        &|b| put_u32(b, CAPACITY, u32::MAX),
    );
    edit(
        "no consumer entries",
        corrupt("header field `max_consumers`"),
        &|b| put_u32(b, MAX_CONSUMERS, 0),
    );
    edit(
        "slot_size at u64::MAX",
        corrupt("header field `sizes`"),
        &|b| put_u64(b, SLOT_SIZE, u64::MAX),
    );
    edit(
        "schema_len of a petabyte",
        corrupt("header field `schema_len`"),
        &|b| put_u64(b, SCHEMA_LEN, 1 << 50),
    );
    edit(
        "zone_count past the table",
        corrupt("header field `zone_count`"),
        &|b| put_u32(b, ZONE_COUNT, 1000),
    );
    edit(
        "another channel's name",
        corrupt("header field `channel_name`"),
        &|b| rename(b, "another-channel"),
    );
    edit(
        "unknown init_state",
        corrupt("header field `init_state`"),
        &|b| put_u32(b, INIT_STATE, 7),
    );
    edit(
        "stuck initializing",
        Expect::Error("DH205", "still being created"),
        &|b| put_u32(b, INIT_STATE, 1),
    );
    edit("closed", Expect::Error("DH206", "closed"), &|b| {
        put_u32(b, INIT_STATE, 3)
    });
    // The hash is what attaching compares, so a damaged one is a mismatch.
    edit(
        "flipped slot hash",
        Expect::Error("DH207", "slot type"),
        &|b| {
            b[SLOT_HASH] ^= 1;
        },
    );
    edit(
        "schema strings with a 4 GiB length",
        corrupt("header field `schema strings`"),
        &|b| b[schema_offset..schema_offset + 4].fill(0xFF),
    );
    for (label, new_len) in [
        ("empty file", 0),
        ("truncated inside the identity", 100),
        (
            "truncated one byte short of a header",
            HEADER_SIZE as u64 - 1,
        ),
    ] {
        edit(
            label,
            Expect::Error("DH223", "shorter than any segment"),
            &|b| b.truncate(new_len as usize),
        );
    }
    for (label, new_len) in [
        ("truncated after the header", HEADER_SIZE as u64),
        ("truncated by one byte", len - 1),
        ("extended by a page", len + 4096),
    ] {
        edit(label, corrupt("header field `total_size`"), &|b| {
            b.resize(new_len as usize, 0)
        });
    }

    for seed in 1..=8u64 {
        let mut rng = SplitMix64(seed);
        let mut bytes = image.to_vec();
        rng.fill(&mut bytes[..HEADER_SIZE]);
        // Without the magic and version, the file is refused at once
        // (`wrong magic` above); with them, the rest is validated.
        bytes[MAGIC..MAGIC + 8].copy_from_slice(&image[MAGIC..MAGIC + 8]);
        bytes[LAYOUT_VERSION..LAYOUT_VERSION + 4]
            .copy_from_slice(&image[LAYOUT_VERSION..LAYOUT_VERSION + 4]);
        if seed % 2 == 0 {
            put_u32(&mut bytes, INIT_STATE, INIT_READY);
        }
        let state = u32::from_le_bytes(bytes[INIT_STATE..INIT_STATE + 4].try_into().unwrap());
        out.push(Damage {
            label: format!("random header, seed {seed}"),
            bytes,
            expect: expect_for_random_identity(state),
        });
    }
    // Random words over single identity fields (some not validated, such
    // as `created_ns` or `mode`): any typed outcome, never a crash.
    for seed in 101..=108u64 {
        let mut rng = SplitMix64(seed);
        let mut bytes = image.to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = 8 * rng.below(IDENTITY_SIZE as u64 / 8) as usize;
            if at != INIT_STATE {
                let word = rng.next();
                put_u64(&mut bytes, at, word);
            }
        }
        out.push(Damage {
            label: format!("random identity words, seed {seed}"),
            bytes,
            expect: Expect::NoCrash,
        });
    }
    // Random bytes behind a valid identity: the live words, the schema
    // strings, the slot states and the consumer table are not validated
    // at attach; the process must still never crash, attaching or reading.
    let regions = [
        (IDENTITY_SIZE, HEADER_SIZE),
        (schema_offset, get_u64(image, SLOT_STATES_OFFSET) as usize),
        (
            get_u64(image, SLOT_STATES_OFFSET) as usize,
            get_u64(image, CONSUMERS_OFFSET) as usize,
        ),
        (get_u64(image, CONSUMERS_OFFSET) as usize, len as usize),
    ];
    for seed in 201..=208u64 {
        let mut rng = SplitMix64(seed);
        let mut bytes = image.to_vec();
        let (from, to) = regions[seed as usize % regions.len()];
        rng.fill(&mut bytes[from..to]);
        out.push(Damage {
            label: format!("random bytes over {from}..{to}, seed {seed}"),
            bytes,
            expect: Expect::NoCrash,
        });
    }
    out
}
