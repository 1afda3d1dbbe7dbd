//! Making a segment (written whole under no name, then named in one step),
//! attaching to one (its header read and validated with `pread` before
//! anything is mapped), and copying one for a report; and what may be
//! removed as a leftover. Every file is opened as [`os::open_segment`]
//! says: never through a symbolic link, never blocking on a FIFO, only a
//! regular file.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use super::{
    CREATE_GRACE, Leftover, Line, Memory, OWNER_OFFSET, SchemaStrings, Segment, SegmentError,
    planned_identity,
};
use crate::backoff::{Backoff, Deadline};
use crate::segment::header::{
    HEADER_SIZE, IDENTITY_SIZE, INIT_CLOSED, INIT_EMPTY, INIT_INITIALIZING, INIT_READY,
    INIT_STATE_OFFSET, Identity, LAYOUT_VERSION, MAGIC,
};
use crate::segment::os::{self, FileFacts};
use crate::segment::validate::{Blueprint, Corrupt, MAX_SEGMENT_SIZE, Regions, validate};
use crate::sync::AtomicU32;
use crate::sync::AtomicU64;
use crate::sync::Ordering::{Acquire, Relaxed, Release};

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
        let segment = Self::assemble(
            Memory::Mapped(map),
            (file, facts),
            &channel,
            identity,
            regions,
            schema.clone(),
        );
        segment.init_state().store(INIT_INITIALIZING, Relaxed);
        let live = segment.live();
        live.producer.pid.store(producer.pid, Relaxed);
        live.producer.start_time.store(producer.start_time, Relaxed);
        live.producer.owner.store(
            crate::segment::owner::encode_owner(producer).unwrap_or(0),
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
                word if !os::is_alive(crate::segment::owner::decode_owner(word)) => {
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
        ready(
            channel,
            init.load(Acquire),
            &Deadline::after(Duration::ZERO),
        )?;
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
        Ok(Self::assemble(
            Memory::Mapped(map),
            (file, facts),
            channel,
            identity,
            regions,
            schema,
        ))
    }

    /// The segment held in `memory`, opened from `file`.
    fn assemble(
        mut memory: Memory,
        (file, facts): (File, FileFacts),
        channel: &str,
        identity: Identity,
        regions: Regions,
        schema: SchemaStrings,
    ) -> Self {
        // The mapping's address, or the copy's heap buffer's (which stays
        // where it is when the `Vec` moves into `self`).
        let (base, len) = match &mut memory {
            Memory::Mapped(map) => (map.as_mut_ptr(), map.len()),
            Memory::Copied(lines) => (lines.as_mut_ptr().cast::<u8>(), lines.len() * 64),
        };
        Self {
            memory,
            base,
            len,
            file,
            facts,
            channel: channel.to_owned(),
            identity,
            regions,
            schema,
            zone_busy: Default::default(),
        }
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
        let schema = decode_schema(channel, lines.as_ptr().cast(), &identity, &regions)?;
        Ok(Self::assemble(
            Memory::Copied(lines),
            (file, facts),
            channel,
            identity,
            regions,
            schema,
        ))
    }
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
    let deadline = Deadline::after(wait);
    let mut backoff = Backoff::ATTACH;
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
        if ready(channel, word(INIT_STATE_OFFSET), &deadline)? {
            break;
        }
        backoff.snooze(&deadline);
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

/// What an attacher does with `init_state` `state`, seen while waiting
/// until `deadline`: go on (`true`), wait more (`false`), or give up.
fn ready(channel: &str, state: u32, deadline: &Deadline) -> Result<bool, SegmentError> {
    match state {
        INIT_READY => Ok(true),
        INIT_CLOSED => Err(SegmentError::Closed {
            channel: channel.to_owned(),
        }),
        INIT_EMPTY | INIT_INITIALIZING if !deadline.passed() => Ok(false),
        INIT_EMPTY | INIT_INITIALIZING => Err(SegmentError::NotReady {
            channel: channel.to_owned(),
            state,
            waited: deadline.elapsed(),
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
        // The region starts 64-aligned inside the memory, which extends past
        // it to a 64-byte boundary (the next region, or the copy's last line).
        // SAFETY: so this whole, 8-aligned word is inside it; read atomically.
        let word = unsafe { &*at.cast::<AtomicU64>() };
        out.extend_from_slice(&word.load(Relaxed).to_le_bytes());
    }
    out.truncate(len);
    out
}
