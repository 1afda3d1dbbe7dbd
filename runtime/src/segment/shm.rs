//! A segment: creating one (written whole under no name, then named in
//! one step), attaching to one (validated before a byte is trusted), or
//! copying one for a report, and the typed views of its regions that the
//! ring, zones and metrics use.
//!
//! This is where raw pointers into the mapping become references; every
//! such place says why the bytes are inside the mapping, aligned and of the
//! right type.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::time::Duration;

use memmap2::MmapRaw;

use crate::segment::header::{
    HEADER_SIZE, IDENTITY_SIZE, INIT_STATE_OFFSET, Identity, Live, MAX_ZONES,
};
use crate::segment::layout::SpinLockState;
use crate::segment::layout::{ConsumerEntry, SlotState};
use crate::segment::os::{self, FileFacts};
use crate::segment::validate::{Blueprint, Corrupt, MAX_SEGMENT_SIZE, Regions};
use crate::sync::AtomicU32;
use crate::sync::Ordering::{Acquire, Relaxed, Release};

/// How long a segment whose creator is not even named yet may stay
/// unready before it counts as abandoned. DataHub names a segment only
/// once it is complete, so only files of older builds (or of others) are
/// ever seen unready.
pub(crate) const CREATE_GRACE: Duration = Duration::from_secs(10);

/// Where the producer's owner word is in the header.
const OWNER_OFFSET: usize = IDENTITY_SIZE
    + core::mem::offset_of!(Live, producer)
    + core::mem::offset_of!(crate::segment::header::ProducerLine, owner);
const _: () = assert!(OWNER_OFFSET.is_multiple_of(8) && OWNER_OFFSET + 8 <= HEADER_SIZE as usize);

/// A segment that may be removed to create its channel afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leftover {
    /// Its producer closed it (and did not, or not yet, remove its name).
    Closed,
    /// Its creator died before it was ready (a file of an older build:
    /// this one names a segment only when it is complete).
    AbandonedUnready,
}

/// Why a segment could not be created or attached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SegmentError {
    #[error("no channel `{channel}`: /dev/shm/datahub.{channel} does not exist")]
    NotFound { channel: String },
    #[error("channel `{channel}` already has a segment")]
    AlreadyExists { channel: String },
    #[error("/dev/shm/datahub.{channel} is {found}, not a segment file")]
    NotAFile { channel: String, found: String },
    #[error("/dev/shm/datahub.{channel} belongs to {owner} (mode {mode:04o}), not to this user")]
    Foreign {
        channel: String,
        owner: String,
        mode: u32,
    },
    #[error("channel `{channel}` is corrupt: {corrupt}")]
    Corrupt { channel: String, corrupt: Corrupt },
    #[error("channel `{channel}` was not ready after {waited:?} (init_state {state})")]
    NotReady {
        channel: String,
        state: u32,
        waited: Duration,
    },
    #[error("channel `{channel}` was closed by its producer")]
    Closed { channel: String },
    #[error("a segment with these parameters would exceed {MAX_SEGMENT_SIZE} bytes")]
    TooLarge,
    #[error("no room in /dev/shm for channel `{channel}`'s {needed} bytes")]
    OutOfSpace {
        channel: String,
        needed: u64,
        available: Option<u64>,
    },
    #[error("channel `{channel}`: {source}")]
    Io {
        channel: String,
        #[source]
        source: io::Error,
    },
}

/// The canonical strings a segment stores after its header: the slot
/// type's, then each zone's, so that a mismatch can be shown field by field
/// and `datahub inspect` can print any channel's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaStrings {
    pub(crate) slot: String,
    pub(crate) zones: Vec<String>,
}

impl SchemaStrings {
    /// `[u32 length][bytes]` for the slot, then for each zone.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for s in std::iter::once(&self.slot).chain(&self.zones) {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out
    }

    /// Reads what `encode` wrote, for `zones` zones; `None` if the bytes
    /// are not that.
    pub(crate) fn decode(mut bytes: &[u8], zones: usize) -> Option<Self> {
        let mut next = || {
            let (len, rest) = bytes.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            let text = std::str::from_utf8(rest.get(..len)?).ok()?.to_owned();
            bytes = &rest[len..];
            Some(text)
        };
        let slot = next()?;
        let zones = (0..zones).map(|_| next()).collect::<Option<Vec<_>>>()?;
        Some(Self { slot, zones })
    }
}

/// A cache line of a copied segment: the copy's buffer is a `Vec` of
/// these, so it is 64-aligned like every region it holds.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// Where a segment's bytes are (held here for as long as `base` points
/// into them).
enum Memory {
    /// The file, mapped shared.
    Mapped(MmapRaw),
    /// A private copy of the file's first bytes, up to the end of the
    /// consumer table: the header, schema strings, slot states, checksums
    /// and consumers, enough for a report ([`Segment::read_copy`]).
    Copied(Vec<Line>),
}

/// A validated segment: mapped, or copied for a report.
pub(crate) struct Segment {
    memory: Memory,
    /// The first byte of `memory`: page-aligned (mapped) or 64-aligned
    /// (copied).
    base: *mut u8,
    /// Bytes reachable from `base`.
    len: usize,
    file: File,
    facts: FileFacts,
    channel: String,
    identity: Identity,
    regions: Regions,
    schema: SchemaStrings,
    /// Per zone, whether a thread of this process holds its spin lock
    /// through this mapping: the shared lock belongs to the process, so
    /// its threads take turns here first (`zone::handle`).
    zone_busy: [std::sync::atomic::AtomicBool; MAX_ZONES],
}

// SAFETY: a Segment only hands out shared references to atomics and raw
// pointers to payload bytes whose access the ring protocol coordinates; the
// mapping (or copy) itself may be used from any thread.
unsafe impl Send for Segment {}
// SAFETY: as above: all shared state is reached through atomics.
unsafe impl Sync for Segment {}

impl Segment {
    /// Whether this segment is the one `blueprint` and `schema` would
    /// create (all but its creation time and nonce, which a takeover
    /// keeps; the secret tag is compared under this segment's nonce): a
    /// restarted producer may take it over in place.
    pub(crate) fn is_made_by(&self, blueprint: &Blueprint<'_>, schema: &SchemaStrings) -> bool {
        let mut blueprint = blueprint.clone();
        blueprint.created_ns = self.identity.created_ns;
        blueprint.nonce = self.identity.nonce;
        planned_identity(&blueprint, &schema.encode())
            .is_some_and(|(fresh, _)| fresh == self.identity)
    }

    /// The producer the segment names now (its owner word).
    pub(crate) fn producer(&self) -> Option<os::ProcessId> {
        // Relaxed: a report; a takeover does its own CAS.
        let word = self.live().producer.owner.load(Relaxed);
        (word != 0).then(|| crate::segment::owner::decode_owner(word))
    }

    /// The key with this incarnation's nonce, for a channel keyed by
    /// `secret`.
    pub(crate) fn keying(
        &self,
        secret: Option<crate::segment::seal::Key>,
    ) -> Option<crate::segment::seal::Keying> {
        secret.map(|key| crate::segment::seal::Keying {
            key,
            nonce: self.identity.nonce,
        })
    }

    /// Seals the segment for `producer` (`SealLine`): by the creator
    /// before it names the file, by a producer taking it over right after
    /// its owner CAS.
    pub(crate) fn write_seal(
        &self,
        keying: &crate::segment::seal::Keying,
        producer: os::ProcessId,
    ) {
        let boot_id = os::boot_id().unwrap_or_default();
        let seal = crate::segment::seal::producer_seal(
            keying,
            &boot_id,
            producer.pid,
            producer.start_time,
        );
        for (word, bytes) in self.live().seal.mac.iter().zip(seal.chunks_exact(8)) {
            // Release: pairs with the Acquire loads in `seal`: a consumer
            // that reads the new seal also reads the owner word stored
            // before it.
            word.store(u64::from_le_bytes(bytes.try_into().unwrap()), Release);
        }
    }

    /// The seal the segment holds now.
    pub(crate) fn seal(&self) -> [u8; 32] {
        let mut seal = [0; 32];
        for (word, bytes) in self.live().seal.mac.iter().zip(seal.chunks_exact_mut(8)) {
            // Acquire: pairs with the Release stores in `write_seal`.
            bytes.copy_from_slice(&word.load(Acquire).to_le_bytes());
        }
        seal
    }

    /// Whether the segment's name now leads to another file (this one was
    /// removed, or replaced by a new segment): `Some(true)` replaced,
    /// `Some(false)` removed, `None` still this segment.
    pub(crate) fn replaced(&self) -> Option<bool> {
        os::name_moved(&self.channel, &self.file)
    }

    /// The channel's name.
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    /// The file the segment was opened from.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// What `fstat` said of the file when it was opened.
    pub(crate) fn file_facts(&self) -> &FileFacts {
        &self.facts
    }

    /// The validated copy of the header's identity.
    pub(crate) fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Where the regions are.
    #[cfg(test)]
    pub(crate) fn regions(&self) -> &Regions {
        &self.regions
    }

    /// The canonical strings stored in the segment.
    pub(crate) fn schema(&self) -> &SchemaStrings {
        &self.schema
    }

    /// The `init_state` word.
    #[inline]
    pub(crate) fn init_state(&self) -> &AtomicU32 {
        // SAFETY: offset 24 of at least HEADER_SIZE bytes from `base`,
        // 4-aligned (`base` is page- or 64-aligned); accessed only
        // atomically.
        unsafe {
            &*self
                .base
                .wrapping_add(INIT_STATE_OFFSET)
                .cast::<AtomicU32>()
        }
    }

    /// The live part of the header.
    #[inline]
    pub(crate) fn live(&self) -> &Live {
        // Bytes 2048..4096 from `base` (at least HEADER_SIZE long),
        // 64-aligned since `base` is; `Live` is 2048 bytes (asserted in
        // header.rs) of atomics and unwritten reserved words.
        // SAFETY: in bounds and aligned (above), valid for any bytes.
        unsafe { &*self.base.wrapping_add(IDENTITY_SIZE).cast::<Live>() }
    }

    /// The slots' states, one per slot (the ring's view is `Segment::ring`,
    /// in `crate::ring`).
    #[inline]
    pub(crate) fn slot_states(&self) -> &[SlotState] {
        self.slice(&self.regions.slot_states)
    }

    /// The consumer entries, `max_consumers` of them.
    #[inline]
    pub(crate) fn consumer_entries(&self) -> &[ConsumerEntry] {
        self.slice(&self.regions.consumers)
    }

    /// The slot checksum entries, when the channel has checksums.
    pub(crate) fn checksums(&self) -> Option<&[crate::segment::layout::SlotChecksum]> {
        self.regions.checksums.as_ref().map(|r| self.slice(r))
    }

    /// The first byte of slot `index` (< capacity), for the ring's payload.
    /// Mapped segments only (a copy holds no slots).
    #[inline]
    pub(crate) fn slot_ptr(&self, index: usize) -> *mut u8 {
        debug_assert!((index as u64) < u64::from(self.identity.capacity));
        assert!(
            matches!(self.memory, Memory::Mapped(_)),
            "slot_ptr on a copied segment"
        );
        // In bounds: validation placed `capacity` x `slot_stride` bytes at
        // `slots.start`, inside the mapping.
        let offset = self.regions.slots.start + index as u64 * self.regions.slot_stride;
        self.base.wrapping_add(offset as usize)
    }

    /// The index of the zone named `name`.
    pub(crate) fn zone_index(&self, name: &str) -> Option<usize> {
        self.zone_names().position(|n| n == name)
    }

    /// The zones' names, in zone order.
    pub(crate) fn zone_names(&self) -> impl Iterator<Item = &str> {
        let count = self.regions.zones.len();
        self.identity.zones[..count]
            .iter()
            .map(|z| crate::segment::validate::padded_name(&z.name).unwrap_or(""))
    }

    /// Whether zone `index` (< zone_count) is a locked zone.
    pub(crate) fn zone_locked(&self, index: usize) -> bool {
        self.identity.zones[index].locked != 0
    }

    /// The length of zone `index` (< zone_count): its type's size.
    pub(crate) fn zone_len(&self, index: usize) -> u64 {
        let region = &self.regions.zones[index];
        region.end - region.start
    }

    /// The first byte of zone `index` (< zone_count) and its length (the
    /// zone type's size, validated to lie inside the mapping, 64-aligned).
    /// Mapped segments only (a copy holds no zones).
    pub(crate) fn zone_bytes(&self, index: usize) -> (*mut u8, u64) {
        assert!(
            matches!(self.memory, Memory::Mapped(_)),
            "zone_bytes on a copied segment"
        );
        let region = &self.regions.zones[index];
        let start = self.base.wrapping_add(region.start as usize);
        (start, self.zone_len(index))
    }

    /// The spin lock of zone `index` (< MAX_ZONES).
    pub(crate) fn zone_lock(&self, index: usize) -> &SpinLockState {
        &self.live().locks[index]
    }

    /// This mapping's in-process flag for zone `index`'s lock.
    pub(crate) fn zone_busy(&self, index: usize) -> &std::sync::atomic::AtomicBool {
        &self.zone_busy[index]
    }

    /// A validated region as a slice of `T`, a `repr(C)` struct of atomics
    /// whose size divides the region's length.
    fn slice<T>(&self, region: &Range<u64>) -> &[T] {
        let len = ((region.end - region.start) / size_of::<T>() as u64) as usize;
        assert!(region.end <= self.len as u64, "a region past the memory");
        // Validation placed the region inside the file, 64-aligned (enough
        // for SlotState and ConsumerEntry, align 64), with exactly `len`
        // entries of types made of atomics, meant to be shared; the mapping
        // or copy covers it (asserted), and lives as long as `self`.
        // SAFETY: in bounds, aligned, valid for any bytes.
        unsafe {
            std::slice::from_raw_parts(
                self.base.wrapping_add(region.start as usize).cast::<T>(),
                len,
            )
        }
    }

    /// Writes bytes at `offset` during creation, before READY is published.
    fn write_bytes(&self, offset: u64, bytes: &[u8]) {
        assert!(offset + bytes.len() as u64 <= self.len as u64);
        // SAFETY: in bounds (asserted); nobody else reads these bytes before
        // the file is named, after the Release store of READY.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.base.wrapping_add(offset as usize),
                bytes.len(),
            )
        };
    }
}

/// The identity and regions of a segment made from `blueprint`, with
/// `schema_bytes` stored after the header.
fn planned_identity(blueprint: &Blueprint<'_>, schema_bytes: &[u8]) -> Option<(Identity, Regions)> {
    let mut blueprint = blueprint.clone();
    blueprint.params.schema_len = schema_bytes.len() as u64;
    blueprint.identity()
}

mod open;

#[cfg(test)]
mod tests;
