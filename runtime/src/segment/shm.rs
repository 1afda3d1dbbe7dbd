//! A mapped segment: creating one (identity written, READY published last)
//! and attaching to one (waited for, copied, validated), and the typed views
//! of its regions that the ring, zones and metrics use.
//!
//! This is where raw pointers into the mapping become references; every
//! such place says why the bytes are inside the mapping, aligned and of the
//! right type.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::time::{Duration, Instant};

use memmap2::MmapRaw;

use crate::ring::protocol::Ring;
use crate::segment::header::{
    HEADER_SIZE, IDENTITY_SIZE, INIT_CLOSED, INIT_EMPTY, INIT_INITIALIZING, INIT_READY,
    INIT_STATE_OFFSET, Identity, Live, MAX_ZONES,
};
use crate::segment::layout::{ConsumerEntry, SlotState};
use crate::segment::os;
use crate::segment::validate::{Blueprint, Corrupt, MAX_SEGMENT_SIZE, Regions, validate};
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use crate::sync::{AtomicU32, AtomicU64};
use crate::zone::lock::SpinLockState;

/// How long a segment whose creator is not even named yet may stay
/// unready before it counts as abandoned: creating one takes microseconds.
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
    /// Its creator died before it was ready.
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

/// A mapped, validated segment.
pub(crate) struct Segment {
    map: MmapRaw,
    _file: File,
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
// mapping itself may be used from any thread.
unsafe impl Send for Segment {}
// SAFETY: as above: all shared state is reached through atomics.
unsafe impl Sync for Segment {}

impl Segment {
    /// Creates the segment `blueprint` describes, with `schema` stored
    /// after the header, owned by `producer`. Fails with `AlreadyExists`
    /// when the channel has one.
    pub(crate) fn create(
        blueprint: &Blueprint<'_>,
        schema: &SchemaStrings,
        producer: os::ProcessId,
    ) -> Result<Self, SegmentError> {
        let channel = blueprint.channel.to_owned();
        let io_err = |source: io::Error| SegmentError::Io {
            channel: channel.clone(),
            source,
        };
        let schema_bytes = schema.encode();
        let (identity, regions) =
            planned_identity(blueprint, &schema_bytes).ok_or(SegmentError::TooLarge)?;
        let file = os::create_exclusive(&channel, blueprint.mode).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => SegmentError::AlreadyExists {
                channel: channel.clone(),
            },
            _ => io_err(e),
        })?;
        let built = (|| {
            file.set_len(regions.total_size)?;
            let len = usize::try_from(regions.total_size).map_err(io::Error::other)?;
            os::map(&file, len, true)
        })();
        let map = match built {
            Ok(map) => map,
            Err(e) => {
                let _ = os::unlink(&channel);
                return Err(io_err(e));
            }
        };
        let segment = Self {
            map,
            _file: file,
            channel,
            identity,
            regions,
            schema: schema.clone(),
            zone_busy: Default::default(),
        };
        segment.init_state().store(INIT_INITIALIZING, Relaxed);
        // The creator first, so that a segment whose creator dies before
        // READY names it (`Segment::unready`): at a fixed offset, before any
        // other byte is written.
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
        live.producer
            .heartbeat_ns
            .store(os::monotonic_ns(), Relaxed);
        // Release: pairs with the Acquire load in `attach`: everything
        // written above happens before an attacher reads it.
        segment.init_state().store(INIT_READY, Release);
        Ok(segment)
    }

    /// Whether channel `channel`'s segment is a leftover that may be
    /// removed to create the channel afresh: CLOSED by its producer, or
    /// abandoned while being created (not READY, and its creator, named at
    /// a fixed offset before anything else was written, is dead; or, when
    /// it names none because its creator died within microseconds of
    /// making the file, unready for longer than [`CREATE_GRACE`]). Reads
    /// the file only. Returns the file opened (for
    /// [`os::unlink_if_same`]) and which leftover it is.
    pub(crate) fn leftover(channel: &str) -> Option<(File, Leftover)> {
        let file = os::open_existing(channel, false).ok()?;
        let meta = file.metadata().ok()?;
        let age = meta
            .modified()
            .ok()
            .and_then(|at| at.elapsed().ok())
            .unwrap_or_default();
        let unnamed = age > CREATE_GRACE;
        if meta.len() < HEADER_SIZE {
            return unnamed.then_some((file, Leftover::AbandonedUnready));
        }
        let map = os::map(&file, HEADER_SIZE as usize, false).ok()?;
        // The mapping is HEADER_SIZE bytes and page-aligned; offset 24 is
        // inside it and aligned for a u32, which an AtomicU32 is laid out as.
        // SAFETY: in bounds, aligned, valid for any bits.
        let init = unsafe {
            &*map
                .as_ptr()
                .wrapping_add(INIT_STATE_OFFSET)
                .cast::<AtomicU32>()
        };
        // As above, for the u64 at OWNER_OFFSET (inside the header, 8-aligned:
        // asserted with the header layout).
        // SAFETY: in bounds, aligned, valid for any bits.
        let owner = unsafe { &*map.as_ptr().wrapping_add(OWNER_OFFSET).cast::<AtomicU64>() };
        // Acquire: pairs with the Release stores of READY in `create` and
        // of CLOSED when a producer drops.
        let kind = match init.load(Acquire) {
            INIT_CLOSED => Leftover::Closed,
            // Relaxed: the creator's own store, ordered before its death.
            INIT_EMPTY | INIT_INITIALIZING => match owner.load(Relaxed) {
                0 if unnamed => Leftover::AbandonedUnready,
                0 => return None,
                word if !os::is_alive(crate::zone::lock::decode_owner(word)) => {
                    Leftover::AbandonedUnready
                }
                _ => return None,
            },
            _ => return None,
        };
        drop(map);
        Some((file, kind))
    }

    /// Attaches to channel `channel`'s segment, waiting up to `wait` for a
    /// segment still being initialized, and validates it.
    pub(crate) fn attach(
        channel: &str,
        writable: bool,
        wait: Duration,
    ) -> Result<Self, SegmentError> {
        let io_err = |source: io::Error| SegmentError::Io {
            channel: channel.to_owned(),
            source,
        };
        let corrupt = |corrupt: Corrupt| SegmentError::Corrupt {
            channel: channel.to_owned(),
            corrupt,
        };
        let file = os::open_existing(channel, writable).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => SegmentError::NotFound {
                channel: channel.to_owned(),
            },
            _ => io_err(e),
        })?;
        let file_len = file.metadata().map_err(io_err)?.len();
        if !(HEADER_SIZE..=MAX_SEGMENT_SIZE).contains(&file_len) {
            return Err(corrupt(Corrupt {
                field: "file size",
                expected: format!("{HEADER_SIZE} to {MAX_SEGMENT_SIZE} bytes"),
                found: file_len.to_string(),
            }));
        }
        let len = usize::try_from(file_len)
            .map_err(io::Error::other)
            .map_err(io_err)?;
        let map = os::map(&file, len, writable).map_err(io_err)?;
        let started = Instant::now();
        loop {
            // SAFETY: the mapping is at least HEADER_SIZE bytes and
            // page-aligned, so offset 24 holds an aligned u32; an
            // AtomicU32 has the layout of a u32.
            let init = unsafe {
                &*map
                    .as_ptr()
                    .wrapping_add(INIT_STATE_OFFSET)
                    .cast::<AtomicU32>()
            };
            // Acquire: pairs with the Release store of READY in `create`.
            match init.load(Acquire) {
                INIT_READY => break,
                INIT_CLOSED => {
                    return Err(SegmentError::Closed {
                        channel: channel.to_owned(),
                    });
                }
                state @ (INIT_EMPTY | INIT_INITIALIZING) => {
                    if started.elapsed() >= wait {
                        return Err(SegmentError::NotReady {
                            channel: channel.to_owned(),
                            state,
                            waited: started.elapsed(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                state => {
                    return Err(corrupt(Corrupt {
                        field: "init_state",
                        expected: "0 to 3".into(),
                        found: state.to_string(),
                    }));
                }
            }
        }
        let mut identity = Identity::from_bytes(&copy_identity(&map));
        // The live `init_state` word is read atomically, not part of the copy.
        identity.init_state_slot = 0;
        let regions = validate(&identity, file_len).map_err(corrupt)?;
        let name = crate::segment::validate::padded_name(&identity.channel_name).unwrap_or("");
        if name != channel {
            return Err(corrupt(Corrupt {
                field: "channel_name",
                expected: format!("{channel:?}"),
                found: format!("{name:?}"),
            }));
        }
        let schema_bytes = copy_region(&map, &regions.schema);
        let schema = SchemaStrings::decode(&schema_bytes, identity.zone_count as usize)
            .ok_or_else(|| {
                corrupt(Corrupt {
                    field: "schema strings",
                    expected: format!("{} length-prefixed UTF-8 strings", identity.zone_count + 1),
                    found: "bytes that are not".into(),
                })
            })?;
        Ok(Self {
            map,
            _file: file,
            channel: channel.to_owned(),
            identity,
            regions,
            schema,
            zone_busy: Default::default(),
        })
    }

    /// Whether this segment is the one `blueprint` and `schema` would
    /// create (all but its creation time): a restarted producer may take
    /// it over in place.
    pub(crate) fn is_made_by(&self, blueprint: &Blueprint<'_>, schema: &SchemaStrings) -> bool {
        planned_identity(blueprint, &schema.encode()).is_some_and(|(mut fresh, _)| {
            fresh.created_ns = self.identity.created_ns;
            fresh == self.identity
        })
    }

    /// The producer the segment names now (its owner word).
    pub(crate) fn producer(&self) -> Option<os::ProcessId> {
        // Relaxed: a report; a takeover does its own CAS.
        let word = self.live().producer.owner.load(Relaxed);
        (word != 0).then(|| crate::zone::lock::decode_owner(word))
    }

    /// Whether the segment's name now leads to another file (this one was
    /// removed, or replaced by a new segment): `Some(true)` replaced,
    /// `Some(false)` removed, `None` still this segment.
    pub(crate) fn replaced(&self) -> Option<bool> {
        use std::os::unix::fs::MetadataExt;
        let ours = self._file.metadata().ok()?;
        match std::fs::metadata(os::shm_path(&self.channel)) {
            Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => None,
            Ok(_) => Some(true),
            Err(_) => Some(false),
        }
    }

    /// The channel's name.
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    /// The file the segment was opened from.
    pub(crate) fn file(&self) -> &File {
        &self._file
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
        // SAFETY: offset 24 of a mapping of at least HEADER_SIZE bytes,
        // 4-aligned (the mapping is page-aligned); accessed only atomically.
        unsafe {
            &*self
                .map
                .as_ptr()
                .wrapping_add(INIT_STATE_OFFSET)
                .cast::<AtomicU32>()
        }
    }

    /// The live part of the header.
    pub(crate) fn live(&self) -> &Live {
        // Bytes 2048..4096 of the mapping (at least HEADER_SIZE long),
        // 64-aligned since the mapping is page-aligned; `Live` is 2048 bytes
        // (asserted in header.rs) of atomics and unwritten reserved words.
        // SAFETY: in bounds and aligned (above), valid for any bytes.
        unsafe { &*self.map.as_ptr().wrapping_add(IDENTITY_SIZE).cast::<Live>() }
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
    pub(crate) fn slot_ptr(&self, index: usize) -> *mut u8 {
        debug_assert!((index as u64) < u64::from(self.identity.capacity));
        // In bounds: validation placed `capacity` x `slot_stride` bytes at
        // `slots.start`, inside the mapping.
        let offset = self.regions.slots.start + index as u64 * self.regions.slot_stride;
        self.map.as_mut_ptr().wrapping_add(offset as usize)
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

    /// The first byte of zone `index` (< zone_count) and its length (the
    /// zone type's size, validated to lie inside the mapping, 64-aligned).
    pub(crate) fn zone_bytes(&self, index: usize) -> (*mut u8, u64) {
        let region = &self.regions.zones[index];
        let start = self.map.as_mut_ptr().wrapping_add(region.start as usize);
        (start, region.end - region.start)
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
        // Validation placed the region inside the mapping, 64-aligned (enough
        // for SlotState and ConsumerEntry, align 64), with exactly `len`
        // entries of types made of atomics, meant to be shared.
        // SAFETY: in bounds, aligned, valid for any bytes; the mapping lives
        // as long as `self`.
        unsafe {
            std::slice::from_raw_parts(
                self.map
                    .as_ptr()
                    .wrapping_add(region.start as usize)
                    .cast::<T>(),
                len,
            )
        }
    }

    /// Writes bytes at `offset` during creation, before READY is published.
    fn write_bytes(&self, offset: u64, bytes: &[u8]) {
        assert!(offset + bytes.len() as u64 <= self.regions.total_size);
        // SAFETY: in bounds (asserted); nobody else reads these bytes before
        // the Release store of READY, which orders this write before them.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_mut_ptr().wrapping_add(offset as usize),
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

/// Copies the identity with atomic loads: another process may (wrongly)
/// write the header while we read it, and must not make this a data race.
fn copy_identity(map: &MmapRaw) -> [u8; IDENTITY_SIZE] {
    let mut out = [0u8; IDENTITY_SIZE];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        // SAFETY: 8-aligned offsets below IDENTITY_SIZE, inside a mapping of
        // at least HEADER_SIZE bytes; read as atomics, valid for any bytes.
        let word = unsafe { &*map.as_ptr().wrapping_add(i * 8).cast::<AtomicU64>() };
        // Relaxed: ordered after the Acquire load of READY by the caller.
        chunk.copy_from_slice(&word.load(Relaxed).to_le_bytes());
    }
    out
}

/// Copies a validated region (64-aligned start, inside the mapping).
fn copy_region(map: &MmapRaw, region: &Range<u64>) -> Vec<u8> {
    let len = (region.end - region.start) as usize;
    let words = len.div_ceil(8);
    let mut out = Vec::with_capacity(words * 8);
    for i in 0..words {
        // SAFETY: the region starts 64-aligned inside the mapping and the
        // mapping extends past it to the 4096-aligned slots, so whole words
        // covering the region are mapped; read as atomics.
        let at = map.as_ptr().wrapping_add(region.start as usize + i * 8);
        // SAFETY: see above.
        let word = unsafe { &*at.cast::<AtomicU64>() };
        out.extend_from_slice(&word.load(Relaxed).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests;
