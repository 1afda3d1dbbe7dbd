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
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use memmap2::MmapRaw;

use crate::ring::protocol::Ring;
use crate::segment::header::{
    HEADER_SIZE, IDENTITY_SIZE, INIT_CLOSED, INIT_EMPTY, INIT_INITIALIZING, INIT_READY,
    INIT_STATE_OFFSET, Identity, LAYOUT_VERSION, Live, MAGIC, MAX_ZONES,
};
use crate::segment::layout::{ConsumerEntry, SlotState};
use crate::segment::os::{self, FileFacts};
use crate::segment::validate::{Blueprint, Corrupt, MAX_SEGMENT_SIZE, Regions, validate};
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use crate::sync::{AtomicU32, AtomicU64};
use crate::zone::lock::SpinLockState;

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
    #[allow(dead_code, reason = "owns the mapping `base` points into")]
    /// The file, mapped shared.
    Mapped(MmapRaw),
    /// A private copy of the file's first bytes, up to the end of the
    /// consumer table: the header, schema strings, slot states, checksums
    /// and consumers, enough for a report ([`Segment::read_copy`]).
    #[allow(dead_code, reason = "owns the copy `base` points into")]
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

/// How a segment is opened for a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// A consumer: the control words read-write, the slots read-only.
    Consume,
    /// A producer taking it over, or a repair: read-write, and only a
    /// file of this process's user.
    Own,
}

impl Segment {
    /// Creates the segment `blueprint` describes, with `schema` stored
    /// after the header, owned by `producer`. The file is written whole
    /// while it has no name, with every page reserved (a full `/dev/shm`
    /// is [`SegmentError::OutOfSpace`], never a SIGBUS later), then named
    /// in one step: nobody ever sees it half made. Fails with
    /// `AlreadyExists` when the channel has a segment (or any file).
    pub(crate) fn create(
        blueprint: &Blueprint<'_>,
        schema: &SchemaStrings,
        producer: os::ProcessId,
    ) -> Result<Self, SegmentError> {
        let channel = blueprint.channel.to_owned();
        let io_err = |source: io::Error| SegmentError::Io {
            channel: blueprint.channel.to_owned(),
            source,
        };
        let schema_bytes = schema.encode();
        let (identity, regions) =
            planned_identity(blueprint, &schema_bytes).ok_or(SegmentError::TooLarge)?;
        let file =
            os::create_unnamed(regions.total_size, blueprint.mode).map_err(|e| match e.kind() {
                io::ErrorKind::StorageFull => SegmentError::OutOfSpace {
                    channel: blueprint.channel.to_owned(),
                    needed: regions.total_size,
                    available: os::shm_free_bytes(),
                },
                _ => io_err(e),
            })?;
        let facts = os::file_facts(&file).map_err(io_err)?;
        let len = usize::try_from(regions.total_size)
            .map_err(io::Error::other)
            .map_err(io_err)?;
        let map = os::map(&file, len, true).map_err(io_err)?;
        let base = map.as_mut_ptr();
        let segment = Self {
            memory: Memory::Mapped(map),
            base,
            len,
            file,
            facts,
            channel,
            identity,
            regions,
            schema: schema.clone(),
            zone_busy: Default::default(),
        };
        segment.init_state().store(INIT_INITIALIZING, Relaxed);
        let live = segment.live();
        live.producer.pid.store(producer.pid, Relaxed);
        live.producer.start_time.store(producer.start_time, Relaxed);
        live.producer.owner.store(
            crate::zone::lock::encode_owner(producer).unwrap_or(0),
            Relaxed,
        );
        let bytes = identity.to_bytes();
        // The identity, except `init_state` (bytes 24..28, atomic).
        segment.write_bytes(0, &bytes[..INIT_STATE_OFFSET]);
        segment.write_bytes(
            INIT_STATE_OFFSET as u64 + 4,
            &bytes[INIT_STATE_OFFSET + 4..],
        );
        segment.write_bytes(segment.regions.schema.start, &schema_bytes);
        if let Some(keying) = segment.keying(blueprint.secret) {
            segment.write_seal(&keying, producer);
        }
        live.producer
            .heartbeat_ns
            .store(os::monotonic_ns(), Relaxed);
        // Release: pairs with the Acquire load in `attach`: everything
        // written above happens before an attacher reads it. (Nobody can
        // attach before `publish` names the file, which comes after.)
        segment.init_state().store(INIT_READY, Release);
        os::publish(&segment.file, &segment.channel).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => SegmentError::AlreadyExists {
                channel: segment.channel.clone(),
            },
            _ => io_err(e),
        })?;
        Ok(segment)
    }

    /// Whether channel `channel`'s file is a leftover that may be removed
    /// to create the channel afresh: a DataHub segment (magic and layout
    /// version) of this user, either CLOSED by its producer, or abandoned
    /// while being created (not READY, and its creator, named at a fixed
    /// offset, is dead; or unnamed and older than [`CREATE_GRACE`]).
    /// Reads the file only (`pread`, never mapped). Returns the file
    /// opened (for [`os::unlink_if_same`]) and which leftover it is, or
    /// why it is not one.
    pub(crate) fn leftover(channel: &str) -> Result<(File, Leftover), String> {
        let (file, facts) = match os::open_segment(channel, false) {
            Ok(opened) => opened,
            Err(os::OpenError::NotFound) => return Err("it is gone".into()),
            Err(os::OpenError::NotRegular(kind)) => {
                return Err(format!("it is {}, not a segment file", kind.describe()));
            }
            Err(os::OpenError::Io(e)) => return Err(format!("it cannot be read: {e}")),
        };
        if !facts.is_ours() {
            return Err(format!(
                "it belongs to {}, not to this user: only its owner may remove it",
                facts.owner()
            ));
        }
        let mut header = [0u8; HEADER_SIZE as usize];
        if facts.len < HEADER_SIZE || file.read_exact_at(&mut header, 0).is_err() {
            return Err(format!(
                "it is {} bytes, too short for a DataHub segment (which this version never leaves \
                 empty or short)",
                facts.len
            ));
        }
        let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
        if header[..8] != MAGIC || word(8) != LAYOUT_VERSION {
            return Err(format!(
                "it does not start with DataHub's magic and layout version {LAYOUT_VERSION}: it is \
                 not a segment this version made"
            ));
        }
        let age = facts_age(&file);
        let owner = u64::from_le_bytes(header[OWNER_OFFSET..OWNER_OFFSET + 8].try_into().unwrap());
        match word(INIT_STATE_OFFSET) {
            INIT_CLOSED => Ok((file, Leftover::Closed)),
            INIT_EMPTY | INIT_INITIALIZING => match owner {
                0 if age > CREATE_GRACE => Ok((file, Leftover::AbandonedUnready)),
                0 => Err("it is being created".into()),
                word if !os::is_alive(crate::zone::lock::decode_owner(word)) => {
                    Ok((file, Leftover::AbandonedUnready))
                }
                _ => Err("it is being created by a live process".into()),
            },
            INIT_READY => Err("it is in use (ready)".into()),
            other => Err(format!("its init_state is {other}, which no segment has")),
        }
    }

    /// Attaches to channel `channel`'s segment as a consumer, waiting up to
    /// `wait` for one that is not ready, and validates it. The slots are
    /// mapped read-only: a consumer only reads them.
    pub(crate) fn attach(channel: &str, wait: Duration) -> Result<Self, SegmentError> {
        Self::attach_mapped(channel, Access::Consume, wait)
    }

    /// Attaches read-write to channel `channel`'s segment, for a producer
    /// taking it over or a repair: refused ([`SegmentError::Foreign`])
    /// unless the file is this user's.
    pub(crate) fn attach_own(channel: &str, wait: Duration) -> Result<Self, SegmentError> {
        Self::attach_mapped(channel, Access::Own, wait)
    }

    fn attach_mapped(channel: &str, access: Access, wait: Duration) -> Result<Self, SegmentError> {
        let io_err = |source: io::Error| SegmentError::Io {
            channel: channel.to_owned(),
            source,
        };
        let (file, facts) = open_checked(channel, true)?;
        if access == Access::Own && !facts.is_ours() {
            return Err(SegmentError::Foreign {
                channel: channel.to_owned(),
                owner: facts.owner(),
                mode: facts.mode,
            });
        }
        // Validated before anything is mapped: a hostile size is refused,
        // never mapped.
        let (identity, regions) = read_header(channel, &file, &facts, wait)?;
        let len = usize::try_from(facts.len)
            .map_err(io::Error::other)
            .map_err(io_err)?;
        let map = os::map(&file, len, true).map_err(io_err)?;
        let base = map.as_mut_ptr();
        // The header as mapped must still be the one validated (a file
        // rewritten in between is refused, not half-trusted).
        // SAFETY: the mapping is at least HEADER_SIZE bytes and
        // page-aligned, so offset 24 holds an aligned u32; an AtomicU32
        // has the layout of a u32.
        let init = unsafe { &*base.wrapping_add(INIT_STATE_OFFSET).cast::<AtomicU32>() };
        // Acquire: pairs with the Release store of READY in `create`.
        ready(channel, init.load(Acquire), Instant::now(), Duration::ZERO)?;
        if copy_identity(base) != identity {
            return Err(SegmentError::Corrupt {
                channel: channel.to_owned(),
                corrupt: Corrupt {
                    field: "identity",
                    expected: "the header validated a moment before".into(),
                    found: "another: the file was rewritten while being attached".into(),
                },
            });
        }
        let schema = decode_schema(channel, base, &identity, &regions)?;
        if access == Access::Consume {
            let slots = &regions.slots;
            os::protect_read_only(
                &map,
                slots.start as usize,
                (slots.end - slots.start) as usize,
            )
            .map_err(io_err)?;
        }
        Ok(Self {
            memory: Memory::Mapped(map),
            base,
            len,
            file,
            facts,
            channel: channel.to_owned(),
            identity,
            regions,
            schema,
            zone_busy: Default::default(),
        })
    }

    /// Reads channel `channel`'s segment into a private copy, for a
    /// report: the header, schema strings, slot states, checksums and
    /// consumer table, up to the zones (`pread`, never mapped: a file
    /// truncated meanwhile gives an error, not a SIGBUS, and no byte of
    /// the file is written). Waits up to `wait` for a segment not ready.
    /// The copy has no zones or slots: [`Segment::slot_ptr`] and the zone
    /// handles are for mapped segments only.
    pub(crate) fn read_copy(channel: &str, wait: Duration) -> Result<Self, SegmentError> {
        let (file, facts) = open_checked(channel, false)?;
        let (identity, regions) = read_header(channel, &file, &facts, wait)?;
        // Validation bounded every region before the zones (the schema
        // strings by MAX_SCHEMA_LEN, the tables by MAX_CAPACITY and
        // MAX_CONSUMERS), so this copy is bounded too.
        let copy_end = regions.consumers.end.next_multiple_of(64);
        let mut lines = vec![Line([0; 64]); (copy_end / 64) as usize];
        file.read_exact_at(lines_as_bytes(&mut lines), 0)
            .map_err(|_| shrank(channel, &facts))?;
        let base = lines.as_mut_ptr().cast::<u8>();
        let len = lines.len() * 64;
        let schema = decode_schema(channel, base, &identity, &regions)?;
        Ok(Self {
            memory: Memory::Copied(lines),
            base,
            len,
            file,
            facts,
            channel: channel.to_owned(),
            identity,
            regions,
            schema,
            zone_busy: Default::default(),
        })
    }

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
        (word != 0).then(|| crate::zone::lock::decode_owner(word))
    }

    /// The key with this incarnation's nonce, for a channel keyed by
    /// `secret`.
    pub(crate) fn keying(
        &self,
        secret: Option<crate::checksum::Key>,
    ) -> Option<crate::checksum::Keying> {
        secret.map(|key| crate::checksum::Keying {
            key,
            nonce: self.identity.nonce,
        })
    }

    /// Seals the segment for `producer` (`SealLine`): by the creator
    /// before it names the file, by a producer taking it over right after
    /// its owner CAS.
    pub(crate) fn write_seal(&self, keying: &crate::checksum::Keying, producer: os::ProcessId) {
        let boot_id = os::boot_id().unwrap_or_default();
        let seal =
            crate::checksum::producer_seal(keying, &boot_id, producer.pid, producer.start_time);
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
    pub(crate) fn live(&self) -> &Live {
        // Bytes 2048..4096 from `base` (at least HEADER_SIZE long),
        // 64-aligned since `base` is; `Live` is 2048 bytes (asserted in
        // header.rs) of atomics and unwritten reserved words.
        // SAFETY: in bounds and aligned (above), valid for any bytes.
        unsafe { &*self.base.wrapping_add(IDENTITY_SIZE).cast::<Live>() }
    }

    /// The ring's shared words.
    pub(crate) fn ring(&self) -> Ring<'_> {
        let live = self.live();
        Ring {
            write: &live.write,
            commit: &live.commit,
            slots: self.slice::<SlotState>(&self.regions.slot_states),
            consumers: self.slice::<ConsumerEntry>(&self.regions.consumers),
        }
    }

    /// The slot checksum entries, when the channel has checksums.
    pub(crate) fn checksums(&self) -> Option<&[crate::checksum::SlotChecksum]> {
        self.regions.checksums.as_ref().map(|r| self.slice(r))
    }

    /// The first byte of slot `index` (< capacity), for the ring's payload.
    /// Mapped segments only (a copy holds no slots).
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

/// Opens channel `channel`'s file as a regular file
/// ([`os::open_segment`]) whose size a segment may have.
fn open_checked(channel: &str, writable: bool) -> Result<(File, FileFacts), SegmentError> {
    let (file, facts) = os::open_segment(channel, writable).map_err(|e| match e {
        os::OpenError::NotFound => SegmentError::NotFound {
            channel: channel.to_owned(),
        },
        os::OpenError::NotRegular(kind) => SegmentError::NotAFile {
            channel: channel.to_owned(),
            found: kind.describe().into(),
        },
        os::OpenError::Io(source) => SegmentError::Io {
            channel: channel.to_owned(),
            source,
        },
    })?;
    if facts.len < HEADER_SIZE {
        // DataHub names a segment only once it is whole: a shorter file is
        // not one of its segments, nor one being created.
        return Err(SegmentError::NotAFile {
            channel: channel.to_owned(),
            found: format!(
                "a file of {} bytes (of {}), shorter than any segment",
                facts.len,
                facts.owner()
            ),
        });
    }
    if facts.len > MAX_SEGMENT_SIZE {
        return Err(SegmentError::Corrupt {
            channel: channel.to_owned(),
            corrupt: Corrupt {
                field: "file size",
                expected: format!("at most {MAX_SEGMENT_SIZE} bytes"),
                found: facts.len.to_string(),
            },
        });
    }
    Ok((file, facts))
}

/// Reads and validates the header of `file` (channel `channel`, as
/// `facts` describe it) with `pread`, waiting up to `wait` for a segment
/// that is not ready: first the magic and layout version (a file without
/// them is refused at once, never waited for), then `init_state`, then the
/// whole identity against the file's size. Returns the identity and its
/// regions.
fn read_header(
    channel: &str,
    file: &File,
    facts: &FileFacts,
    wait: Duration,
) -> Result<(Identity, Regions), SegmentError> {
    let mut header = [0u8; HEADER_SIZE as usize];
    let started = Instant::now();
    loop {
        file.read_exact_at(&mut header, 0)
            .map_err(|_| shrank(channel, facts))?;
        let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
        let corrupt = |field, expected: String, found: String| SegmentError::Corrupt {
            channel: channel.to_owned(),
            corrupt: Corrupt {
                field,
                expected,
                found,
            },
        };
        if header[..8] != MAGIC {
            return Err(corrupt(
                "magic",
                format!("{MAGIC:?}"),
                format!("{:?}", &header[..8]),
            ));
        }
        if word(8) != LAYOUT_VERSION {
            return Err(corrupt(
                "layout_version",
                format!("{LAYOUT_VERSION} (this build's layout)"),
                word(8).to_string(),
            ));
        }
        if ready(channel, word(INIT_STATE_OFFSET), started, wait)? {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut identity = Identity::from_bytes(header[..IDENTITY_SIZE].try_into().unwrap());
    identity.init_state_slot = 0;
    let regions = checked_regions(channel, &identity, facts.len)?;
    Ok((identity, regions))
}

/// The error for a file that became shorter while being read.
fn shrank(channel: &str, facts: &FileFacts) -> SegmentError {
    SegmentError::Corrupt {
        channel: channel.to_owned(),
        corrupt: Corrupt {
            field: "file size",
            expected: format!("{} bytes, as when it was opened", facts.len),
            found: "fewer: the file shrank while being read".into(),
        },
    }
}

/// What an attacher does with `init_state` `state`, seen after waiting
/// since `started`: go on (`true`), wait more (`false`), or give up.
fn ready(
    channel: &str,
    state: u32,
    started: Instant,
    wait: Duration,
) -> Result<bool, SegmentError> {
    match state {
        INIT_READY => Ok(true),
        INIT_CLOSED => Err(SegmentError::Closed {
            channel: channel.to_owned(),
        }),
        INIT_EMPTY | INIT_INITIALIZING if started.elapsed() < wait => Ok(false),
        INIT_EMPTY | INIT_INITIALIZING => Err(SegmentError::NotReady {
            channel: channel.to_owned(),
            state,
            waited: started.elapsed(),
        }),
        state => Err(SegmentError::Corrupt {
            channel: channel.to_owned(),
            corrupt: Corrupt {
                field: "init_state",
                expected: "0 to 3".into(),
                found: state.to_string(),
            },
        }),
    }
}

/// Validates `identity` against a file of `file_len` bytes named for
/// `channel`, and returns its regions.
fn checked_regions(
    channel: &str,
    identity: &Identity,
    file_len: u64,
) -> Result<Regions, SegmentError> {
    let corrupt = |corrupt: Corrupt| SegmentError::Corrupt {
        channel: channel.to_owned(),
        corrupt,
    };
    let regions = validate(identity, file_len).map_err(corrupt)?;
    let name = crate::segment::validate::padded_name(&identity.channel_name).unwrap_or("");
    if name != channel {
        return Err(corrupt(Corrupt {
            field: "channel_name",
            expected: format!("{channel:?}"),
            found: format!("{name:?}"),
        }));
    }
    Ok(regions)
}

/// Reads the schema strings region (validated, so bounded) at `base`.
fn decode_schema(
    channel: &str,
    base: *const u8,
    identity: &Identity,
    regions: &Regions,
) -> Result<SchemaStrings, SegmentError> {
    let bytes = copy_region(base, &regions.schema);
    SchemaStrings::decode(&bytes, identity.zone_count as usize).ok_or_else(|| {
        SegmentError::Corrupt {
            channel: channel.to_owned(),
            corrupt: Corrupt {
                field: "schema strings",
                expected: format!("{} length-prefixed UTF-8 strings", identity.zone_count + 1),
                found: "bytes that are not".into(),
            },
        }
    })
}

/// How long ago `file` was last modified (zero when unknown).
fn facts_age(file: &File) -> Duration {
    file.metadata()
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|at| at.elapsed().ok())
        .unwrap_or_default()
}

/// The copy's lines as bytes, to read the file into.
fn lines_as_bytes(lines: &mut [Line]) -> &mut [u8] {
    // SAFETY: `Line` is `repr(C)` around `[u8; 64]`: the slice's memory
    // is `lines.len() * 64` initialized bytes, exclusively borrowed.
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<u8>(), lines.len() * 64) }
}

/// Copies the identity with atomic loads: another process may (wrongly)
/// write the header while we read it, and must not make this a data race.
/// The live `init_state` word is read atomically by the caller, and left
/// zero in the copy.
fn copy_identity(base: *const u8) -> Identity {
    let mut out = [0u8; IDENTITY_SIZE];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        // SAFETY: 8-aligned offsets below IDENTITY_SIZE, inside a mapping of
        // at least HEADER_SIZE bytes; read as atomics, valid for any bytes.
        let word = unsafe { &*base.wrapping_add(i * 8).cast::<AtomicU64>() };
        // Relaxed: ordered after the Acquire load of READY by the caller.
        chunk.copy_from_slice(&word.load(Relaxed).to_le_bytes());
    }
    let mut identity = Identity::from_bytes(&out);
    identity.init_state_slot = 0;
    identity
}

/// Copies a validated region (64-aligned start, inside the mapping or
/// copy, which extends past it to the next 64-byte boundary at least).
fn copy_region(base: *const u8, region: &Range<u64>) -> Vec<u8> {
    let len = (region.end - region.start) as usize;
    let words = len.div_ceil(8);
    let mut out = Vec::with_capacity(words * 8);
    for i in 0..words {
        let at = base.wrapping_add(region.start as usize + i * 8);
        // SAFETY: the region starts 64-aligned inside the memory, which
        // extends past it to a 64-byte boundary (the next region, or the
        // copy's last line), so whole words covering it are there; read
        // as atomics.
        let word = unsafe { &*at.cast::<AtomicU64>() };
        out.extend_from_slice(&word.load(Relaxed).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests;
