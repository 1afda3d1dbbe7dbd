//! Creating a channel whose segment exists already: a live producer keeps
//! it; a dead producer's segment with the same identity is taken over in
//! place (its owner word claimed by CAS, half-written slots reset, the
//! sequence continued); any other leftover of this user is replaced.

use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::metrics::Counter;
use crate::ring::protocol::Ring;
use crate::segment::os;
use crate::segment::shm::{SchemaStrings, Segment, SegmentError};
use crate::segment::validate::Blueprint;
use crate::sync::Ordering::Relaxed;

/// The channel has a segment already. A live producer keeps it
/// ([`ErrorKind::ChannelExists`](crate::ErrorKind::ChannelExists)). Only a regular file of this user with the
/// configured file mode is ever written or removed: a symbolic link, a
/// FIFO or any other file type, a file of another user, or one whose mode
/// is not the configured one, is refused ([`ErrorKind::ForeignFile`](crate::ErrorKind::ForeignFile)) and
/// left untouched. A dead producer's segment with the very same identity
/// (channel hash, ring, zones, secret, stall timeout, mode) is taken over
/// in place: slots left WRITING reset, sequence numbers go on, attached
/// consumers carry on. Any other leftover of this user (another identity,
/// a closed channel, one stuck being created by a dead process of an older
/// build) is removed and created afresh; its consumers find their producer
/// gone.
/// Returns the segment and the next sequence number.
pub(super) fn take_over(
    blueprint: &Blueprint<'_>,
    schema: &SchemaStrings,
    me: os::ProcessId,
) -> Result<(Segment, u64), Error> {
    let channel = blueprint.channel;
    let exists = |holder: Option<os::ProcessId>| ErrorKind::ChannelExists {
        channel: channel.to_owned(),
        holder: holder.map(|p| p.pid),
    };
    let old = match Segment::attach_own(channel, Duration::from_millis(200)) {
        Ok(old) => old,
        Err(
            e @ (SegmentError::Closed { .. }
            | SegmentError::NotReady { .. }
            | SegmentError::Corrupt { .. }),
        ) => {
            // Closed, or not ready (a file of an older build, whose creator
            // may still be at it). A closed one of ours, or one abandoned
            // by a creator that died before READY, is replaced.
            return match Segment::leftover(channel) {
                Ok((file, kind)) => {
                    tracing::info!(channel, ?kind, "replacing a leftover segment");
                    recreate(blueprint, schema, me, &file)
                }
                Err(_) if matches!(e, SegmentError::Corrupt { .. }) => Err(e.into()),
                Err(_) => Err(exists(None).into()),
            };
        }
        // Removed since our create found it: create it afresh, once.
        Err(SegmentError::NotFound { .. }) => return create_afresh(blueprint, schema, me),
        Err(e) => return Err(e.into()),
    };
    let holder = old.producer();
    if holder.is_some_and(os::is_alive) {
        return Err(exists(holder).into());
    }
    let mode = old.file_facts().mode;
    if mode != blueprint.mode {
        // Not written into: its mode was changed since it was created (it
        // may now be writable by others), or it was made with another one.
        return Err(ErrorKind::ForeignFile {
            channel: channel.to_owned(),
            found: format!("a segment of a dead producer with file mode {mode:04o}"),
            expected: format!("mode {:04o}, this producer's", blueprint.mode),
            advice: format!(
                "remove it with `datahub cleanup {channel}` (its producer is dead) and start the \
                 producer again, or configure mode {mode:#o} if that mode is meant"
            ),
        }
        .into());
    }
    // Claim the segment: a CAS on the dead producer's exact owner word, so
    // that of two restarting producers (or a producer and `datahub
    // cleanup`) exactly one goes on, whether it takes the segment over or
    // replaces it (`ring::lifecycle`, where the orderings are). The claim
    // is kept: the segment is ours from here on.
    let line = &old.live().producer;
    let mine = crate::segment::owner::encode_owner(me).unwrap_or(0);
    let dead = holder
        .and_then(crate::segment::owner::encode_owner)
        .unwrap_or(0);
    let Ok(_claim) = old.lifecycle().claim(dead, mine) else {
        return Err(exists(old.producer()).into());
    };
    if !old.is_made_by(blueprint, schema) {
        tracing::info!(
            channel,
            "replacing the segment of a dead producer with another identity"
        );
        return recreate(blueprint, schema, me, old.file());
    }
    // Relaxed: reports, published to readers with the commits that follow.
    line.pid.store(me.pid, Relaxed);
    line.start_time.store(me.start_time, Relaxed);
    line.heartbeat_ns.store(os::monotonic_ns(), Relaxed);
    line.epoch.fetch_add(1, Relaxed);
    if let Some(keying) = old.keying(blueprint.secret) {
        old.write_seal(&keying, me);
    }
    let ring = old.ring();
    let (next, reset) = ring.recover_writer();
    let metrics = &old.live().metrics;
    metrics.add(Counter::ProducerTakeovers, 1);
    metrics.add(Counter::SlotsRecovered, reset as u64);
    count_uncounted_commits(&ring, metrics, next);
    crate::liveness::reap_dead(&ring, metrics);
    // Wake consumers sleeping on a slot that was reset.
    let wake = old.lifecycle().wake_sleepers();
    os::futex_wake_all(wake.futex());
    tracing::info!(
        channel,
        next_seq = next,
        slots_reset = reset,
        "took over the segment of a dead producer"
    );
    Ok((old, next))
}

/// A producer killed between a commit and counting it leaves the
/// `items_committed` and `bytes_committed` counters short of the ring's
/// `commit_seq` (`next`): its successor counts those items (at most the
/// last one or two, still in their slots) so the counters add up.
fn count_uncounted_commits(
    ring: &Ring<'_>,
    metrics: &crate::segment::header::MetricsBlock,
    next: u64,
) {
    let counted = metrics.get(Counter::ItemsCommitted);
    // A zones-only channel has no slots (and no items to count).
    if counted >= next || ring.capacity() == 0 {
        return;
    }
    let missing = next - counted;
    let bytes: u64 = (counted.max(next.saturating_sub(ring.capacity()))..next)
        .map(|seq| &ring.slots[ring.slot_index(seq)])
        // Relaxed: the dead producer's commits happen before our look, by
        // its death (the OS's verdict follows its last store) and by
        // `recover_writer`'s Acquire loads of the same words.
        .filter(|slot| slot.state.load(Relaxed) == crate::segment::layout::SLOT_COMMITTED)
        .map(|slot| slot.payload_len.load(Relaxed))
        .sum();
    metrics.add_own(Counter::ItemsCommitted, missing);
    metrics.add_own(Counter::BytesCommitted, bytes);
}

/// Removes a leftover segment (opened as `file`) and creates the channel
/// afresh. Only that file's name is removed: if another producer replaced
/// it meanwhile, the create finds theirs and fails with `ChannelExists`.
fn recreate(
    blueprint: &Blueprint<'_>,
    schema: &SchemaStrings,
    me: os::ProcessId,
    file: &std::fs::File,
) -> Result<(Segment, u64), Error> {
    let _ = os::unlink_if_same(blueprint.channel, file);
    create_afresh(blueprint, schema, me)
}

/// Creates the segment once more, after finding it gone or removing it: a
/// producer that got in first wins (`ChannelExists`).
fn create_afresh(
    blueprint: &Blueprint<'_>,
    schema: &SchemaStrings,
    me: os::ProcessId,
) -> Result<(Segment, u64), Error> {
    match Segment::create(blueprint, schema, me) {
        Ok(segment) => Ok((segment, 0)),
        Err(SegmentError::AlreadyExists { channel }) => Err(ErrorKind::ChannelExists {
            channel,
            holder: None,
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}
