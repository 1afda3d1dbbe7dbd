//! The segment header (the first 4096 bytes) and the plan of the regions
//! after it (`docs/layout.md`). `docs/layout.md` documents these bytes for C and
//! Python readers; the const asserts below keep code and document in step.
//!
//! The header has two parts:
//!
//! - the **identity** (bytes 0..2048): plain integers and byte arrays,
//!   written once by the creator before it publishes `init_state = READY`
//!   (Release). An attacher copies it into a private [`Identity`] with
//!   atomic loads and validates that copy (`validate.rs`), so a peer that
//!   rewrites the header afterwards cannot make it use an unchecked value.
//! - the **live** words (bytes 2048..4096): atomics only (the producer's and
//!   the consumers' hot lines, one spin lock per zone, the metrics block).

use crate::segment::layout::SpinLockState;
use crate::segment::layout::{CACHE_LINE, CommitLine, WriteLine};
use crate::sync::{AtomicU32, AtomicU64};

/// The first 8 bytes of every DataHub segment.
pub(crate) const MAGIC: [u8; 8] = *b"DATAHUB\0";
/// The version of this byte layout.
pub(crate) const LAYOUT_VERSION: u32 = 2;
/// Size of the header; the regions start after it.
pub(crate) const HEADER_SIZE: u64 = 4096;
/// Size of the identity part of the header.
pub(crate) const IDENTITY_SIZE: usize = 2048;
/// Alignment of the ring's slot region (a page: large slots map well).
pub(crate) const SLOTS_ALIGN: u64 = 4096;
/// Most zones in a channel.
pub(crate) const MAX_ZONES: usize = datahub_schema::MAX_ZONES;
/// Longest zone name, in bytes (the table stores it NUL-padded in 32).
pub(crate) const MAX_ZONE_NAME_LEN: usize = datahub_schema::MAX_ZONE_NAME_LEN;
/// Longest channel name, in bytes.
pub(crate) const MAX_CHANNEL_NAME_LEN: usize = 63;

/// `init_state`: the file exists but nothing is written yet.
pub(crate) const INIT_EMPTY: u32 = 0;
/// `init_state`: the creator is writing the header and regions.
pub(crate) const INIT_INITIALIZING: u32 = 1;
/// `init_state`: everything is written; attachers may use the segment.
pub(crate) const INIT_READY: u32 = 2;
/// `init_state`: the producer closed the channel for good.
pub(crate) const INIT_CLOSED: u32 = 3;

/// One zone of Table 1, as the header's zone table records it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ZoneEntry {
    /// The zone's name, NUL-padded.
    pub(crate) name: [u8; 32],
    /// Offset of the zone from the start of the segment (64-aligned).
    pub(crate) offset: u64,
    /// Size of the zone's type in bytes.
    pub(crate) size: u64,
    /// 1 for a locked zone (plain data under spin lock `index`), 0 for a
    /// lock-free zone (atomics only).
    pub(crate) locked: u8,
    pub(crate) _pad: [u8; 7],
    /// Type hash of the zone's type.
    pub(crate) type_hash: [u8; 32],
}

/// The identity part of the header: everything an attacher validates
/// before it touches another byte of the segment. Plain data: every bit
/// pattern is a value (validation decides which make sense).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    /// [`MAGIC`].
    pub(crate) magic: [u8; 8],
    /// [`LAYOUT_VERSION`].
    pub(crate) layout_version: u32,
    /// [`HEADER_SIZE`].
    pub(crate) header_size: u32,
    /// Size of the whole segment in bytes (the file's size).
    pub(crate) total_size: u64,
    /// Placeholder for the live `init_state` word at offset 24 (an atomic,
    /// read separately; the copy ignores this field).
    pub(crate) init_state_slot: u32,
    /// File mode the creator asked for (0o600 by default).
    pub(crate) mode: u32,
    /// CLOCK_MONOTONIC nanoseconds of the creation.
    pub(crate) created_ns: u64,
    /// Offset of the live part of the header (2048).
    pub(crate) live_offset: u64,
    pub(crate) _reserved0: [u64; 3],
    /// The channel's name, NUL-padded.
    pub(crate) channel_name: [u8; 64],
    /// The channel hash (`docs/schema.md`, "Canonical form and hashes").
    pub(crate) channel_hash: [u8; 32],
    /// The slot type's hash.
    pub(crate) slot_hash: [u8; 32],
    /// Keyed BLAKE2b tag of the channel name, or zeros without a secret.
    pub(crate) secret_tag: [u8; 32],
    /// Number of ring slots.
    pub(crate) capacity: u32,
    /// Number of consumer entries.
    pub(crate) max_consumers: u32,
    /// Bytes of payload per slot (the slot type's size, or `slot_size`).
    pub(crate) slot_size: u64,
    /// Distance between slots: `slot_size` rounded up to 64.
    pub(crate) slot_stride: u64,
    /// A live consumer that has not read for this long stops holding back
    /// a lossless producer (nanoseconds).
    pub(crate) stall_timeout_ns: u64,
    /// 0 single, 1 double, 2 ring.
    pub(crate) policy: u8,
    /// 0 block, 1 overwrite.
    pub(crate) overflow: u8,
    /// 0 none, 1 manual, 2 enforced.
    pub(crate) checksum: u8,
    /// 1 when the channel has a secret (and `secret_tag` is set).
    pub(crate) has_secret: u8,
    /// 0 for a typed slot, 1 for raw bytes.
    pub(crate) slot_kind: u8,
    pub(crate) _pad1: [u8; 3],
    /// Number of zones (at most 16).
    pub(crate) zone_count: u32,
    pub(crate) _pad2: u32,
    pub(crate) _reserved1: [u64; 7],
    /// Offset and length of the schema strings region.
    pub(crate) schema_offset: u64,
    /// Bytes of canonical strings stored there.
    pub(crate) schema_len: u64,
    /// Offset of the slot states (`capacity` x 64 bytes).
    pub(crate) slot_states_offset: u64,
    /// Offset of the slot checksums (`capacity` x 64 bytes), 0 if none.
    pub(crate) checksums_offset: u64,
    /// Offset of the consumer table (`max_consumers` x 128 bytes).
    pub(crate) consumers_offset: u64,
    /// Offset of the first zone (zones follow, each rounded up to 64).
    pub(crate) zones_offset: u64,
    /// Bytes of the zones region.
    pub(crate) zones_len: u64,
    /// Offset of the ring's slots (4096-aligned, `capacity` x `slot_stride`).
    pub(crate) slots_offset: u64,
    /// The zone table.
    pub(crate) zones: [ZoneEntry; MAX_ZONES],
    /// 32 random bytes drawn when the segment was created: this
    /// incarnation of the channel. A channel's secret tag and keyed item
    /// digests cover it, so items of an earlier incarnation (a copy of an
    /// old segment) do not verify in a new one.
    pub(crate) nonce: [u8; 32],
    pub(crate) _reserved2: [u8; 208],
}

impl Identity {
    /// All zero (then filled in by the creator).
    pub(crate) fn zeroed() -> Self {
        Self::from_bytes(&[0; IDENTITY_SIZE])
    }

    /// Reads an identity from bytes (a snapshot of a segment's header).
    pub(crate) fn from_bytes(bytes: &[u8; IDENTITY_SIZE]) -> Self {
        // `Identity` is `repr(C)`, exactly IDENTITY_SIZE bytes with no
        // implicit padding (asserted below), made only of integers and byte
        // arrays.
        // SAFETY: so every bit pattern is a value; `read_unaligned` needs no
        // alignment of `bytes`.
        unsafe { bytes.as_ptr().cast::<Identity>().read_unaligned() }
    }

    /// The identity's bytes, to write into a new segment.
    pub(crate) fn to_bytes(self) -> [u8; IDENTITY_SIZE] {
        // SAFETY: as in `from_bytes`: no padding, so every byte of `self`
        // is initialized, and a byte array has no alignment requirement.
        unsafe {
            core::ptr::from_ref(&self)
                .cast::<[u8; IDENTITY_SIZE]>()
                .read_unaligned()
        }
    }
}

impl ZoneEntry {
    /// An entry for zone `name` (at most [`MAX_ZONE_NAME_LEN`] bytes).
    pub(crate) fn new(
        name: &str,
        offset: u64,
        size: u64,
        locked: bool,
        type_hash: [u8; 32],
    ) -> Self {
        let mut padded = [0; 32];
        let len = name.len().min(MAX_ZONE_NAME_LEN);
        padded[..len].copy_from_slice(&name.as_bytes()[..len]);
        Self {
            name: padded,
            offset,
            size,
            locked: u8::from(locked),
            _pad: [0; 7],
            type_hash,
        }
    }
}

/// The metrics block (256 bytes, `docs/operations.md`): counters any process may
/// bump, read as a snapshot by `datahub inspect`.
#[repr(C, align(64))]
pub(crate) struct MetricsBlock {
    pub(crate) words: [AtomicU64; 32],
}

/// The live part of the header: atomics only.
#[repr(C)]
pub(crate) struct Live {
    /// The producer's line: `write_seq` and its identity.
    pub(crate) write: WriteLine,
    /// The consumers' line: `commit_seq` and the futex word.
    pub(crate) commit: CommitLine,
    /// The producer owning the channel now, and its epoch.
    pub(crate) producer: ProducerLine,
    /// One spin lock per zone (its protocol is in `zone::lock`).
    pub(crate) locks: [SpinLockState; MAX_ZONES],
    /// Counters.
    pub(crate) metrics: MetricsBlock,
    /// With a secret: who produces, vouched for by the key.
    pub(crate) seal: SealLine,
    pub(crate) _reserved: [u64; 64],
}

/// The producer's seal (channels with a secret; zeros otherwise): the
/// keyed BLAKE2b-256 of the incarnation nonce, the host's boot id and the
/// producer's pid and start time (`seal::producer_seal`). Written by
/// the creator before publishing the segment and by a producer taking it
/// over, right after its owner CAS. A consumer with the key attaches only
/// to a segment whose seal names a live producer of this host: a copy of
/// a segment replayed after its producer is gone names a dead one, and
/// nobody without the key can seal another.
#[repr(C, align(64))]
pub(crate) struct SealLine {
    /// The 32-byte seal as four little-endian words.
    pub(crate) mac: [AtomicU64; 4],
    pub(crate) _reserved: [u64; 4],
}

/// Who produces on the channel (rewritten when a producer takes over a
/// dead one's segment), on a line of its own.
#[repr(C, align(64))]
pub(crate) struct ProducerLine {
    /// The producer's pid (0: none).
    pub(crate) pid: AtomicU32,
    pub(crate) _pad: u32,
    /// The producer's start time (with the pid, its identity).
    pub(crate) start_time: AtomicU64,
    /// Incremented each time a producer takes the segment over.
    pub(crate) epoch: AtomicU64,
    /// CLOCK_MONOTONIC nanoseconds of the producer's last heartbeat.
    pub(crate) heartbeat_ns: AtomicU64,
    /// The producer as one word, `start_time << 22 | pid` (as a zone lock's
    /// owner): a producer taking a dead one's segment over swaps it with a
    /// CAS, so that of two restarting producers exactly one wins.
    pub(crate) owner: AtomicU64,
    pub(crate) _reserved: [u64; 3],
}

/// Offset of `init_state` in the header (inside the identity's bytes, but
/// accessed only atomically).
pub(crate) const INIT_STATE_OFFSET: usize = 24;

#[cfg(not(datahub_loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<ZoneEntry>() == 88);
    assert!(offset_of!(ZoneEntry, offset) == 32);
    assert!(offset_of!(ZoneEntry, size) == 40);
    assert!(offset_of!(ZoneEntry, locked) == 48);
    assert!(offset_of!(ZoneEntry, type_hash) == 56);

    assert!(size_of::<Identity>() == IDENTITY_SIZE);
    assert!(align_of::<Identity>() == 8);
    assert!(offset_of!(Identity, magic) == 0);
    assert!(offset_of!(Identity, layout_version) == 8);
    assert!(offset_of!(Identity, header_size) == 12);
    assert!(offset_of!(Identity, total_size) == 16);
    assert!(offset_of!(Identity, init_state_slot) == INIT_STATE_OFFSET);
    assert!(offset_of!(Identity, mode) == 28);
    assert!(offset_of!(Identity, created_ns) == 32);
    assert!(offset_of!(Identity, live_offset) == 40);
    assert!(offset_of!(Identity, channel_name) == 72);
    assert!(offset_of!(Identity, channel_hash) == 136);
    assert!(offset_of!(Identity, slot_hash) == 168);
    assert!(offset_of!(Identity, secret_tag) == 200);
    assert!(offset_of!(Identity, capacity) == 232);
    assert!(offset_of!(Identity, max_consumers) == 236);
    assert!(offset_of!(Identity, slot_size) == 240);
    assert!(offset_of!(Identity, slot_stride) == 248);
    assert!(offset_of!(Identity, stall_timeout_ns) == 256);
    assert!(offset_of!(Identity, policy) == 264);
    assert!(offset_of!(Identity, overflow) == 265);
    assert!(offset_of!(Identity, checksum) == 266);
    assert!(offset_of!(Identity, has_secret) == 267);
    assert!(offset_of!(Identity, slot_kind) == 268);
    assert!(offset_of!(Identity, zone_count) == 272);
    assert!(offset_of!(Identity, schema_offset) == 336);
    assert!(offset_of!(Identity, slots_offset) == 392);
    assert!(offset_of!(Identity, zones) == 400);
    // No implicit padding (so the struct may be viewed as bytes): each
    // explicit filler starts where the previous field ends.
    assert!(offset_of!(Identity, _reserved0) == 48);
    assert!(offset_of!(Identity, _pad1) == 269);
    assert!(offset_of!(Identity, _pad2) == 276);
    assert!(offset_of!(Identity, _reserved1) == 280);
    assert!(offset_of!(Identity, nonce) == 1808);
    assert!(offset_of!(Identity, _reserved2) == 1840);
    assert!(offset_of!(ZoneEntry, _pad) == 49);

    assert!(size_of::<Live>() == HEADER_SIZE as usize - IDENTITY_SIZE);
    assert!(offset_of!(Live, write) == 0);
    assert!(offset_of!(Live, commit) == 64);
    assert!(offset_of!(Live, producer) == 128);
    assert!(offset_of!(Live, locks) == 192);
    assert!(offset_of!(Live, metrics) == 192 + 64 * MAX_ZONES);
    assert!(offset_of!(Live, seal) == 1472);
    assert!(size_of::<SealLine>() == CACHE_LINE);
    assert!(size_of::<ProducerLine>() == CACHE_LINE);
    assert!(offset_of!(ProducerLine, heartbeat_ns) == 24);
    assert!(offset_of!(ProducerLine, owner) == 32);
};
