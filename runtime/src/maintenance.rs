//! Repairs an operator asks for (`datahub recover`, `datahub cleanup`):
//! reclaiming what dead processes hold, and removing abandoned segments.
//! What is dead is the OS's verdict (pid plus start time), never a
//! heartbeat's age. Decisions are made on a private copy of the segment
//! (never mapped, nothing written); only then, and only for a segment of
//! this process's own user, is the file mapped to act on it. A dry run
//! writes nothing.

use std::time::Duration;

use serde::Serialize;

use crate::diagnose::Finding;
use crate::error::Error;
use crate::inspect::snapshot;
use crate::liveness::{dead_consumers, reap_dead};
use crate::segment::os;
use crate::segment::owner::encode_owner;
use crate::segment::shm::{Leftover, Segment, SegmentError};
use crate::sync::Ordering::Relaxed;

/// How long `recover` and `cleanup` wait for a segment being created.
const ATTACH_TIMEOUT: Duration = Duration::from_millis(200);

/// What [`recover`] did, or would do in a dry run.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Recovery {
    /// The channel.
    pub channel: String,
    /// Whether nothing was changed (the actions are what would be done).
    pub dry_run: bool,
    /// What was (or would be) reclaimed.
    pub actions: Vec<RecoveryAction>,
    /// What is still wrong afterwards (in a dry run: now), with its fix.
    pub remaining: Vec<Finding>,
}

/// One thing [`recover`] reclaimed from a dead process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecoveryAction {
    /// The consumer entry of a dead process was freed (and its read mark
    /// cleared, so the producer no longer waits for it).
    RemovedConsumer {
        /// The entry's index.
        index: usize,
        /// The dead consumer's pid.
        pid: u32,
    },
    /// The lock of a zone held by a dead process was released; the next
    /// holder is told the zone may be half-written.
    ReleasedLock {
        /// The zone.
        zone: String,
        /// The dead holder's pid.
        pid: u32,
    },
}

/// Reclaims what dead processes hold in channel `channel`: frees the
/// consumer entries of dead consumers (waking a producer they held back)
/// and releases zone locks whose holder died (the next holder is told the
/// zone may be half-written). Only a segment of this process's user is
/// changed ([`ErrorKind::ForeignFile`](crate::ErrorKind::ForeignFile) otherwise). With `dry_run`, the segment
/// is read into a private copy and the actions are what would be done. Slots a dead producer
/// left WRITING are for its successor to reset (restarting the producer
/// takes the segment over); they are listed in `remaining`.
///
/// ```
/// use datahub::{ChannelConfig, DataHubSlot, Producer};
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Tick { seq: u64 }
///
/// let name = format!("doc-recover-{}", std::process::id());
/// let _p = Producer::<Tick>::create(&ChannelConfig::new(&name))?;
/// let recovery = datahub::recover(&name, true)?;
/// assert!(recovery.actions.is_empty() && recovery.remaining.is_empty());
/// # Ok::<(), datahub::Error>(())
/// ```
pub fn recover(channel: &str, dry_run: bool) -> Result<Recovery, Error> {
    let segment = if dry_run {
        Segment::read_copy(channel, ATTACH_TIMEOUT)?
    } else {
        Segment::attach_own(channel, ATTACH_TIMEOUT)?
    };
    let ring = segment.ring();
    let consumers = if dry_run {
        dead_consumers(&ring)
    } else {
        reap_dead(&ring, &segment.live().metrics)
    };
    let mut actions: Vec<_> = consumers
        .into_iter()
        .map(|(index, id)| RecoveryAction::RemovedConsumer { index, pid: id.pid })
        .collect();
    let me = os::current_process();
    for (index, zone) in segment.zone_names().enumerate() {
        if !segment.zone_locked(index) {
            continue;
        }
        let lock = segment.zone_lock(index);
        let released = if dry_run {
            lock.owner().filter(|owner| !os::is_alive(*owner))
        } else {
            lock.release_dead_owner(me, os::is_alive)
        };
        if let Some(dead) = released {
            actions.push(RecoveryAction::ReleasedLock {
                zone: zone.to_owned(),
                pid: dead.pid,
            });
        }
    }
    for action in &actions {
        tracing::info!(channel, dry_run, ?action, "recover");
    }
    Ok(Recovery {
        channel: channel.to_owned(),
        dry_run,
        actions,
        remaining: snapshot(&segment).diagnose(),
    })
}

/// What [`cleanup`] decided for one segment.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Cleanup {
    /// The channel.
    pub channel: String,
    /// The verdict.
    pub verdict: CleanupVerdict,
    /// Why, with the pids involved.
    pub reason: String,
}

/// [`cleanup`]'s verdict on one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CleanupVerdict {
    /// Abandoned, and removed.
    Removed,
    /// Abandoned; a dry run left it.
    WouldRemove,
    /// In use: kept.
    Kept,
    /// Not a segment `cleanup` can judge (unreadable, being created): left
    /// alone; the reason says what to do.
    Skipped,
}

/// Removes the segments whose producer is dead and that no live consumer
/// is attached to: those of `channels`, or every DataHub segment on the
/// machine when `channels` is empty. A removed segment is first claimed
/// (its producer's owner word swapped for this process's, as a restarting
/// producer would) and closed, so a process attaching meanwhile gets
/// `Closed` rather than a segment that vanishes under it.
///
/// ```
/// use datahub::{ChannelConfig, CleanupVerdict, DataHubSlot, Producer};
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Tick { seq: u64 }
///
/// let name = format!("doc-cleanup-{}", std::process::id());
/// let _p = Producer::<Tick>::create(&ChannelConfig::new(&name))?;
/// let verdicts = datahub::cleanup(&[name], false)?;
/// assert_eq!(verdicts[0].verdict, CleanupVerdict::Kept, "its producer is alive");
/// # Ok::<(), datahub::Error>(())
/// ```
pub fn cleanup(channels: &[String], dry_run: bool) -> Result<Vec<Cleanup>, Error> {
    let channels = if channels.is_empty() {
        crate::inspect::list_channels()?
    } else {
        channels.to_vec()
    };
    Ok(channels
        .into_iter()
        .map(|channel| {
            let (verdict, reason) = clean_one(&channel, dry_run);
            if verdict != CleanupVerdict::Kept {
                tracing::info!(channel, ?verdict, reason, "cleanup");
            }
            Cleanup {
                channel,
                verdict,
                reason,
            }
        })
        .collect())
}

fn clean_one(channel: &str, dry_run: bool) -> (CleanupVerdict, String) {
    use CleanupVerdict::{Kept, Removed, Skipped, WouldRemove};
    // Removes the name only if it still leads to `file`, and `file` is ours.
    let remove = |file: &std::fs::File, reason: String| {
        if dry_run {
            return (WouldRemove, reason);
        }
        match os::unlink_if_same(channel, file) {
            Ok(true) => (Removed, reason),
            Ok(false) => (Kept, "removed or created afresh meanwhile".into()),
            Err(e) => (
                Skipped,
                format!("{reason}, but removing it failed: {e} (check the file's owner and mode)"),
            ),
        }
    };
    // Judged on a private copy: nothing is mapped or written unless the
    // segment is to be removed.
    let copy = match Segment::read_copy(channel, ATTACH_TIMEOUT) {
        Ok(copy) => copy,
        Err(SegmentError::NotFound { .. }) => return (Kept, "removed meanwhile".into()),
        Err(e) => {
            return match Segment::leftover(channel) {
                Ok((file, Leftover::Closed)) => remove(
                    &file,
                    "closed by its producer, which did not remove it".into(),
                ),
                Ok((file, Leftover::AbandonedUnready)) => remove(
                    &file,
                    "abandoned while being created: its creator died before it was ready".into(),
                ),
                Err(why_not) => (
                    Skipped,
                    format!(
                        "{}; not removed: {why_not}; if you know what it is and nothing uses it, \
                         remove {} by hand",
                        crate::error::Error::from(e),
                        os::shm_path(channel).display()
                    ),
                ),
            };
        }
    };
    let producer = copy.producer();
    if let Some(p) = producer.filter(|p| os::is_alive(*p)) {
        return (Kept, format!("its producer, pid {}, is alive", p.pid));
    }
    if let Some(pid) = live_consumer(&copy) {
        return (
            Kept,
            format!("its producer is dead, but consumer pid {pid} is alive and attached"),
        );
    }
    let dead = match producer {
        Some(p) => format!("its producer, pid {}, is dead", p.pid),
        None => "it names no producer".into(),
    };
    let reason = format!("{dead} and no live consumer is attached");
    if !copy.file_facts().is_ours() {
        return (
            Skipped,
            format!(
                "{reason}, but it belongs to {}: only its owner may remove it (run `datahub \
                 cleanup {channel}` as that user)",
                copy.file_facts().owner()
            ),
        );
    }
    if dry_run {
        return remove(copy.file(), reason);
    }
    drop(copy);
    let segment = match Segment::attach_own(channel, ATTACH_TIMEOUT) {
        Ok(segment) => segment,
        Err(e) => {
            return (
                Skipped,
                format!("{reason}, but it changed meanwhile: {}", Error::from(e)),
            );
        }
    };
    // Claim the segment as a restarting producer would: a CAS on the dead
    // producer's exact owner word, so a producer restarting meanwhile wins
    // or loses this same claim (`ring::lifecycle`, where the orderings are).
    let lifecycle = segment.lifecycle();
    let expected = producer.and_then(encode_owner).unwrap_or(0);
    let Some(mine) = encode_owner(os::current_process()) else {
        return (
            Skipped,
            "this process's identity does not fit an owner word".into(),
        );
    };
    let Ok(claim) = lifecycle.claim(expected, mine) else {
        return (Kept, "a new producer took it over meanwhile".into());
    };
    if let Some(pid) = live_consumer(&segment) {
        // A consumer attached between the checks: give the segment back.
        let _ = lifecycle.hand_back(claim);
        return (Kept, format!("consumer pid {pid} attached meanwhile"));
    }
    // CLOSED, so that nobody is left waiting on a segment that vanished,
    // and the sleepers woken so they see it now.
    let wake = lifecycle.close();
    os::futex_wake_all(wake.futex());
    remove(segment.file(), reason)
}

/// The pid of a live consumer attached to `segment`, if any.
fn live_consumer(segment: &Segment) -> Option<u32> {
    let ring = segment.ring();
    let dead = dead_consumers(&ring);
    ring.consumers.iter().enumerate().find_map(|(index, c)| {
        // Relaxed: a census; the claim's CAS orders the re-check after it.
        let in_use = c.state.load(Relaxed) != crate::segment::layout::CONSUMER_FREE;
        let alive = !dead.iter().any(|(i, _)| *i == index);
        (in_use && alive).then(|| c.pid.load(Relaxed))
    })
}
