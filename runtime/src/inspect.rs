//! Snapshots of channels for people and tools (`docs/operations.md`): read from a
//! segment mapped read-only, by any process, without writing a byte of it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::config::{ChecksumPolicy, Overflow};
use crate::error::{Error, ErrorKind};
use crate::metrics::COUNTERS;
use crate::payload::SlotKind;
use crate::segment::header::{INIT_CLOSED, INIT_READY};
use crate::segment::layout::{
    CONSUMER_ACTIVE, CONSUMER_EVICTING, CONSUMER_FREE, CONSUMER_JOINING, SLOT_COMMITTED, SLOT_FREE,
    SLOT_WRITING,
};
use crate::segment::os::{self, ProcessId};
use crate::segment::shm::Segment;
use crate::sync::Ordering::{Acquire, Relaxed};
use crate::types::SchemaHash;

/// Everything `datahub inspect` shows of a channel, at one moment.
///
/// ```
/// use std::time::Duration;
/// use datahub::{ChannelConfig, DataHubSlot, Producer};
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Tick { seq: u64 }
///
/// let name = format!("doc-inspect-{}", std::process::id());
/// let mut p = Producer::<Tick>::create(&ChannelConfig::new(&name))?;
/// p.write_with(Duration::from_millis(100), |t| t.seq = 1)?;
/// let snapshot = datahub::inspect(&name)?;
/// assert_eq!(snapshot.committed, 1);
/// assert_eq!(snapshot.counters["items_committed"], 1);
/// assert!(snapshot.producer.alive);
/// assert_eq!(snapshot.state, datahub::ChannelState::Ready);
/// assert_eq!(snapshot.overflow, datahub::Overflow::Block);
/// assert_eq!(snapshot.slot.kind, datahub::SlotKind::Typed);
/// # Ok::<(), datahub::Error>(())
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ChannelSnapshot {
    /// The channel's name.
    pub channel: String,
    /// Ready or closed (`ready`, `closed` in JSON).
    pub state: ChannelState,
    /// The channel hash (slot type and zones).
    pub channel_hash: SchemaHash,
    /// The slot type.
    pub slot: SlotTypeInfo,
    /// Number of ring slots.
    pub capacity: u32,
    /// Block or overwrite (`block`, `overwrite` in JSON).
    pub overflow: Overflow,
    /// None, manual or enforced (`none`, `manual`, `enforced` in JSON).
    pub checksum: ChecksumPolicy,
    /// Whether consumers need a secret.
    pub secret: bool,
    /// Consumer entries.
    pub max_consumers: u32,
    /// The stall timeout, in milliseconds.
    pub stall_timeout_ms: u64,
    /// Bytes of the segment.
    pub segment_bytes: u64,
    /// Milliseconds since the segment was created (the channel's uptime;
    /// a producer that took it over keeps it).
    pub uptime_ms: u64,
    /// Items committed so far (the next item's sequence number).
    pub committed: u64,
    /// The producer.
    pub producer: ProducerInfo,
    /// The metrics block, by counter name.
    pub counters: BTreeMap<String, u64>,
    /// Every consumer entry in use.
    pub consumers: Vec<ConsumerInfo>,
    /// The zones.
    pub zones: Vec<ZoneInfo>,
    /// Every ring slot's state.
    pub slots: Vec<SlotInfo>,
}

/// The slot type of a channel.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SlotTypeInfo {
    /// Typed or bytes (`typed`, `bytes` in JSON).
    pub kind: SlotKind,
    /// Bytes of payload per slot.
    pub size: u64,
    /// Its canonical form, as the segment stores it.
    pub canonical: String,
    /// Its type hash.
    pub hash: SchemaHash,
}

/// The producer of a channel.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ProducerInfo {
    /// Its pid (none if the segment names none).
    pub pid: Option<u32>,
    /// Whether that process is alive (pid and start time, from the OS).
    pub alive: bool,
    /// Takeovers of the segment by restarted producers.
    pub epoch: u64,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: u64,
}

/// What a segment's `init_state` says of its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ChannelState {
    /// Its producer made it and items may flow.
    Ready,
    /// Its producer closed it for good.
    Closed,
    /// Neither (a segment being created, or a corrupted word).
    Invalid,
}

macro_rules! spelled {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The word `datahub inspect` prints (and JSON carries).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

spelled!(ChannelState { Ready => "ready", Closed => "closed", Invalid => "invalid" });

/// One consumer entry in use.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ConsumerInfo {
    /// The entry's index.
    pub index: usize,
    /// `joining`, `active` or `evicting`.
    pub state: String,
    /// The consumer's pid.
    pub pid: u32,
    /// Whether its process is alive.
    pub alive: bool,
    /// Milliseconds since its last read or heartbeat.
    pub heartbeat_age_ms: u64,
    /// The next item it will read.
    pub position: u64,
    /// Items committed that it has not read.
    pub lag: u64,
    /// The item it is reading in place now, if any.
    pub reading: Option<u64>,
    /// Whether a lossless producer stopped waiting for it (stalled).
    pub stalled: bool,
    /// Items read.
    pub items_read: u64,
    /// Items lost (overwritten before read).
    pub lost: u64,
    /// Enforced checksums that failed.
    pub checksum_failures: u64,
    /// Slots found rewritten after choosing them.
    pub races: u64,
}

/// One zone.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ZoneInfo {
    /// The zone's name.
    pub name: String,
    /// Whether it is a locked zone.
    pub locked: bool,
    /// Bytes.
    pub size: u64,
    /// Its type's canonical form.
    pub canonical: String,
    /// The pid holding its lock now (locked zones).
    pub lock_holder: Option<u32>,
    /// Whether that holder is alive.
    pub lock_holder_alive: Option<bool>,
    /// Times its lock was taken from a dead holder.
    pub lock_takeovers: u64,
    /// Whether `datahub recover` released its lock for a dead holder and
    /// nobody has locked it since (the next holder is told).
    pub recovery_pending: bool,
}

/// One ring slot.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SlotInfo {
    /// The slot's index.
    pub index: usize,
    /// `free`, `writing`, `committed` or `invalid`.
    pub state: String,
    /// The item it holds (committed) or last held.
    pub seq: u64,
    /// Bytes of payload.
    pub payload_len: u64,
    /// The pid that last claimed it for writing.
    pub writer_pid: u32,
}

/// Reads a snapshot of channel `channel`, from a private copy of the
/// segment's header and tables (read with `pread`, never mapped or
/// written: a file another process truncates meanwhile gives an error, not
/// a crash). Files that are not segments (a FIFO, a link, another user's
/// unreadable file, absurd sizes) give a typed error without being opened
/// for writing, waited on, or copied beyond the bounds validation sets.
pub fn inspect(channel: &str) -> Result<ChannelSnapshot, Error> {
    let segment = Segment::read_copy(channel, Duration::from_millis(100))?;
    Ok(snapshot(&segment))
}

/// The channels that have a segment on this machine, sorted.
pub fn list_channels() -> Result<Vec<String>, Error> {
    os::list_channels().map_err(|source| {
        ErrorKind::Io {
            channel: "*".into(),
            source,
        }
        .into()
    })
}

fn age_ms(now: u64, then: u64) -> u64 {
    now.saturating_sub(then) / 1_000_000
}

pub(crate) fn snapshot(segment: &Segment) -> ChannelSnapshot {
    let id = segment.identity();
    let live = segment.live();
    let ring = segment.ring();
    let now = os::monotonic_ns();
    // Relaxed loads throughout: a report of independent figures, each
    // true at some moment of the reading.
    let producer = segment.producer();
    let committed = ring.commit_seq();
    let consumers = ring
        .consumers
        .iter()
        .enumerate()
        .filter_map(|(index, c)| {
            let state = match c.state.load(Acquire) {
                CONSUMER_FREE => return None,
                CONSUMER_JOINING => "joining",
                CONSUMER_ACTIVE => "active",
                CONSUMER_EVICTING => "evicting",
                _ => "invalid",
            };
            let pid = c.pid.load(Relaxed);
            let position = c.read_pos.load(Relaxed);
            let mark = c.read_mark.load(Relaxed);
            Some(ConsumerInfo {
                index,
                state: state.into(),
                pid,
                alive: os::is_alive(ProcessId {
                    pid,
                    start_time: c.pid_start_time.load(Relaxed),
                }),
                heartbeat_age_ms: age_ms(now, c.heartbeat_ns.load(Relaxed)),
                position,
                lag: committed.saturating_sub(position),
                reading: (mark != 0).then(|| mark - 1),
                stalled: c.stalled_since_ns.load(Relaxed) != 0,
                items_read: c.slots_read.load(Relaxed),
                lost: c.overruns.load(Relaxed),
                checksum_failures: c.checksum_failures.load(Relaxed),
                races: c.races.load(Relaxed),
            })
        })
        .collect();
    let zones = segment
        .zone_names()
        .enumerate()
        .map(|(i, name)| {
            let locked = segment.zone_locked(i);
            let lock = segment.zone_lock(i);
            let holder = locked.then(|| lock.owner()).flatten();
            ZoneInfo {
                name: name.to_owned(),
                locked,
                size: segment.zone_len(i),
                canonical: segment.schema().zones.get(i).cloned().unwrap_or_default(),
                lock_holder: holder.map(|h| h.pid),
                lock_holder_alive: holder.map(os::is_alive),
                lock_takeovers: lock.takeovers.load(Relaxed),
                recovery_pending: lock.recovery_pending.load(Relaxed) != 0,
            }
        })
        .collect();
    let slots = ring
        .slots
        .iter()
        .enumerate()
        .map(|(index, s)| SlotInfo {
            index,
            state: match s.state.load(Acquire) {
                SLOT_FREE => "free",
                SLOT_WRITING => "writing",
                SLOT_COMMITTED => "committed",
                _ => "invalid",
            }
            .into(),
            seq: s.seq.load(Relaxed),
            payload_len: s.payload_len.load(Relaxed),
            writer_pid: s.writer_pid.load(Relaxed),
        })
        .collect();
    ChannelSnapshot {
        channel: segment.channel().to_owned(),
        state: match segment.init_state().load(Acquire) {
            INIT_READY => ChannelState::Ready,
            INIT_CLOSED => ChannelState::Closed,
            _ => ChannelState::Invalid,
        },
        channel_hash: SchemaHash::from_bytes(id.channel_hash),
        slot: SlotTypeInfo {
            kind: if id.slot_kind == 1 {
                SlotKind::Bytes
            } else {
                SlotKind::Typed
            },
            size: id.slot_size,
            canonical: segment.schema().slot.clone(),
            hash: SchemaHash::from_bytes(id.slot_hash),
        },
        capacity: id.capacity,
        overflow: if id.overflow == 1 {
            Overflow::Overwrite
        } else {
            Overflow::Block
        },
        checksum: match id.checksum {
            0 => ChecksumPolicy::None,
            1 => ChecksumPolicy::Manual,
            _ => ChecksumPolicy::Enforced,
        },
        secret: id.has_secret != 0,
        max_consumers: id.max_consumers,
        stall_timeout_ms: id.stall_timeout_ns / 1_000_000,
        segment_bytes: id.total_size,
        uptime_ms: age_ms(now, id.created_ns),
        committed,
        producer: ProducerInfo {
            pid: producer.map(|p| p.pid),
            alive: producer.is_some_and(os::is_alive),
            epoch: live.producer.epoch.load(Relaxed),
            heartbeat_age_ms: age_ms(now, live.producer.heartbeat_ns.load(Relaxed)),
        },
        counters: COUNTERS
            .iter()
            .map(|(counter, name)| ((*name).to_owned(), live.metrics.get(*counter)))
            .collect(),
        consumers,
        zones,
        slots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON of `datahub inspect --json` keeps its words: the typed
    /// fields serialize as the strings they replaced.
    #[test]
    fn typed_fields_serialize_as_their_words() {
        let words = |v: serde_json::Value| v.as_str().unwrap().to_owned();
        for (state, word) in [
            (ChannelState::Ready, "ready"),
            (ChannelState::Closed, "closed"),
            (ChannelState::Invalid, "invalid"),
        ] {
            assert_eq!(words(serde_json::to_value(state).unwrap()), word);
            assert_eq!(state.to_string(), word);
        }
        for (kind, word) in [(SlotKind::Typed, "typed"), (SlotKind::Bytes, "bytes")] {
            assert_eq!(words(serde_json::to_value(kind).unwrap()), word);
            assert_eq!(kind.to_string(), word);
        }
        for (overflow, word) in [
            (Overflow::Block, "block"),
            (Overflow::Overwrite, "overwrite"),
        ] {
            assert_eq!(words(serde_json::to_value(overflow).unwrap()), word);
        }
        for (policy, word) in [
            (ChecksumPolicy::None, "none"),
            (ChecksumPolicy::Manual, "manual"),
            (ChecksumPolicy::Enforced, "enforced"),
        ] {
            assert_eq!(words(serde_json::to_value(policy).unwrap()), word);
        }
    }
}
