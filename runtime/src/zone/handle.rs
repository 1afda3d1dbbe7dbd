//! The zone handles users hold: [`Zone<Z>`] for a lock-free zone (derefs to
//! `&Z`), [`LockedZone<T>`] for a locked zone (reached only through a
//! [`ZoneGuard`] of its shared spin lock).
//!
//! A handle keeps the segment mapped (it holds an `Arc` of it), so it does
//! not borrow the producer or consumer it came from: hold it while
//! acquiring slots, move it to another thread, keep it after the producer
//! is dropped.
//!
//! The shared spin lock (`lock.rs`) belongs to a process, so a locked zone
//! serialises the threads of its process first, with a flag per zone in the
//! mapping, and only then takes the shared lock. Two mappings of one
//! channel in one process (a producer and a consumer of the same channel,
//! say) each have their flag; the second to ask for the shared lock sees
//! "held by this process" and waits for the first, like any other holder.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::backoff::{Backoff, Deadline, Wait};
use crate::error::{Error, ErrorKind};
use crate::segment::os;
use crate::segment::shm::Segment;
use crate::types::{DataHubSlot, DataHubType, DataHubZone, SchemaHash};
use crate::zone::lock::{LockError, NotOwner};

/// Finds zone `name` of `segment` and checks that it is of the expected
/// kind (locked or lock-free); returns its index.
pub(super) fn find(segment: &Segment, name: &str, locked: bool) -> Result<usize, Error> {
    let channel = segment.channel();
    let wrong = |problem: String| ErrorKind::WrongZone {
        channel: channel.to_owned(),
        zone: name.to_owned(),
        problem,
    };
    let Some(index) = segment.zone_index(name) else {
        let names: Vec<String> = segment.zone_names().map(|n| format!("`{n}`")).collect();
        return Err(wrong(if names.is_empty() {
            "the channel has no zones".into()
        } else {
            format!("the channel's zones are {}", names.join(", "))
        })
        .into());
    };
    match (segment.zone_locked(index), locked) {
        (true, false) => Err(wrong(
            "it is a locked zone: open it with `locked_zone::<T>()` (or `described_locked_zone`)"
                .into(),
        )
        .into()),
        (false, true) => Err(wrong(
            "it is a lock-free zone: open it with `zone::<Z>()` (or `described_zone`)".into(),
        )
        .into()),
        _ => Ok(index),
    }
}

/// Finds zone `name` of `segment`, checks that it is of the expected kind
/// and that its type is `Z`, and returns its index and first byte.
fn open<Z: DataHubType>(
    segment: &Segment,
    name: &str,
    locked: bool,
) -> Result<(usize, NonNull<Z>), Error> {
    let channel = segment.channel();
    let index = find(segment, name, locked)?;
    let found = SchemaHash::from_bytes(segment.identity().zones[index].type_hash);
    if found != Z::SCHEMA_HASH {
        let stored = segment
            .schema()
            .zones
            .get(index)
            .map(String::as_str)
            .unwrap_or("");
        return Err(ErrorKind::SchemaMismatch {
            channel: channel.to_owned(),
            part: format!("zone `{name}`"),
            expected: Box::new(Z::SCHEMA_HASH),
            found: Box::new(found),
            detail: crate::error::mismatch_detail(stored, &Z::DESC.canonical()),
        }
        .into());
    }
    let (start, len) = segment.zone_bytes(index);
    // The hash matched, but it came from the segment: the size and the
    // alignment are checked against the mapping too, so that a forged hash
    // cannot make a reference reach past the zone.
    if len != size_of::<Z>() as u64 || align_of::<Z>() > 64 {
        return Err(ErrorKind::CorruptSegment {
            channel: channel.to_owned(),
            field: "zones[].size",
            expected: format!("{} bytes, as the zone's type hash implies", size_of::<Z>()),
            found: len.to_string(),
        }
        .into());
    }
    // Zones start 64-aligned in a page-aligned mapping (validated), and
    // `align_of::<Z>() <= 64` (checked above).
    let ptr = NonNull::new(start.cast::<Z>()).ok_or_else(|| ErrorKind::WrongZone {
        channel: channel.to_owned(),
        zone: name.to_owned(),
        problem: "null zone".into(),
    })?;
    Ok((index, ptr))
}

/// A lock-free zone of the channel, typed `Z` (atomics only): derefs to
/// `&Z`, shared by every process attached.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
/// use datahub::{ChannelConfig, Consumer, DataHubSlot, DataHubZone, Producer};
///
/// #[derive(DataHubZone)]
/// #[repr(C)]
/// struct Telemetry { frames: AtomicU64 }
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Frame { seq: u64 }
///
/// let name = format!("doc-zone-{}", std::process::id());
/// let cfg = ChannelConfig::new(&name).zone::<Telemetry>("telemetry");
/// let mut p = Producer::<Frame>::create(&cfg)?;
/// let tel = p.zone::<Telemetry>("telemetry")?;   // does not borrow `p`
/// p.write_with(Duration::from_millis(100), |f| f.seq = 7)?;
/// tel.frames.fetch_add(1, Ordering::Relaxed);
///
/// let c = Consumer::<Frame>::attach(&name)?;
/// assert_eq!(c.zone::<Telemetry>("telemetry")?.frames.load(Ordering::Relaxed), 1);
/// # Ok::<(), datahub::Error>(())
/// ```
pub struct Zone<Z: DataHubZone> {
    segment: Arc<Segment>,
    index: usize,
    ptr: NonNull<Z>,
}

impl<Z: DataHubZone> Zone<Z> {
    pub(crate) fn open(segment: &Arc<Segment>, name: &str) -> Result<Self, Error> {
        let (index, ptr) = open::<Z>(segment, name, false)?;
        Ok(Self {
            segment: Arc::clone(segment),
            index,
            ptr,
        })
    }

    /// The zone's name.
    pub fn name(&self) -> &str {
        self.segment.zone_names().nth(self.index).unwrap_or("")
    }
}

impl<Z: DataHubZone> Deref for Zone<Z> {
    type Target = Z;

    fn deref(&self) -> &Z {
        // `open` checked that the zone's bytes are exactly a `Z` (size and
        // hash), aligned, inside the mapping that `self.segment` keeps
        // alive; a `DataHubZone` is made only of atomics, meant for `&`.
        // SAFETY: in bounds, aligned, valid for any bytes, shared only by `&`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<Z: DataHubZone> Clone for Zone<Z> {
    fn clone(&self) -> Self {
        Self {
            segment: Arc::clone(&self.segment),
            index: self.index,
            ptr: self.ptr,
        }
    }
}

impl<Z: DataHubZone> fmt::Debug for Zone<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zone")
            .field("channel", &self.segment.channel())
            .field("zone", &self.name())
            .finish_non_exhaustive()
    }
}

// SAFETY: the handle gives out only `&Z`, and `Z: Sync` (DataHubZone);
// the mapping it keeps alive may be used from any thread.
unsafe impl<Z: DataHubZone> Send for Zone<Z> {}
// SAFETY: as above.
unsafe impl<Z: DataHubZone> Sync for Zone<Z> {}

/// A locked zone of the channel, typed `T` (plain data): its bytes are
/// reached only through [`lock`](LockedZone::lock), which takes the
/// channel's spin lock for the zone. A lock left held by a dead process is
/// taken over, and the guard says so ([`ZoneGuard::recovered`]).
///
/// ```
/// use std::time::Duration;
/// use datahub::{ChannelConfig, Consumer, DataHubSlot, Producer};
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Calib { gain: [f64; 4] }
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Frame { seq: u64 }
///
/// let name = format!("doc-locked-{}", std::process::id());
/// let cfg = ChannelConfig::new(&name).locked_zone::<Calib>("calibration");
/// let p = Producer::<Frame>::create(&cfg)?;
/// let calib = p.locked_zone::<Calib>("calibration")?;
/// {
///     let mut guard = calib.lock(Duration::from_millis(100))?;
///     assert!(!guard.recovered());
///     guard.gain = [1.0, 2.0, 3.0, 4.0];
/// } // unlocked here
/// let c = Consumer::<Frame>::attach(&name)?;
/// let seen = c.locked_zone::<Calib>("calibration")?.read(Duration::from_millis(100))?;
/// assert_eq!(seen.gain[3], 4.0);
/// # Ok::<(), datahub::Error>(())
/// ```
pub struct LockedZone<T: DataHubSlot> {
    segment: Arc<Segment>,
    index: usize,
    ptr: NonNull<T>,
    me: os::ProcessId,
}

impl<T: DataHubSlot> LockedZone<T> {
    pub(crate) fn open(segment: &Arc<Segment>, name: &str) -> Result<Self, Error> {
        let (index, ptr) = open::<T>(segment, name, true)?;
        Ok(Self {
            segment: Arc::clone(segment),
            index,
            ptr,
            me: os::current_process(),
        })
    }

    /// The zone's name.
    pub fn name(&self) -> &str {
        self.segment.zone_names().nth(self.index).unwrap_or("")
    }

    /// Takes the zone's lock, waiting (up to a timeout, a deadline or
    /// without one: [`Wait`]) for its holder (a
    /// thread of this process, or another process; a dead holder's lock is
    /// taken over at once). Hold the guard briefly: every process that
    /// wants the zone spins, then sleeps, while you hold it.
    ///
    /// Locking again from the thread that holds the guard waits out the
    /// timeout and fails, as any deadlock would.
    pub fn lock(&self, wait: impl Into<Wait>) -> Result<ZoneGuard<'_, T>, Error> {
        let recovered = lock(&self.segment, self.index, self.me, wait.into())?;
        Ok(ZoneGuard {
            zone: self,
            recovered,
            _not_sync: PhantomData,
        })
    }

    /// A copy of the zone's value, taken under the lock.
    pub fn read(&self, wait: impl Into<Wait>) -> Result<T, Error> {
        Ok(*self.lock(wait)?)
    }

    /// Replaces the zone's value under the lock.
    pub fn write(&self, wait: impl Into<Wait>, value: T) -> Result<(), Error> {
        *self.lock(wait)? = value;
        Ok(())
    }

    /// The pid of the process holding the zone's lock now, if any.
    pub fn holder(&self) -> Option<u32> {
        self.segment.zone_lock(self.index).owner().map(|o| o.pid)
    }
}

impl<T: DataHubSlot> fmt::Debug for LockedZone<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockedZone")
            .field("channel", &self.segment.channel())
            .field("zone", &self.name())
            .field("holder", &self.holder())
            .finish_non_exhaustive()
    }
}

// SAFETY: the zone's bytes are reached only under the lock (the flag
// serialises this process's threads, the shared lock the processes), and
// `T` is plain data (`Copy`, no references), so it may be written from any
// thread; the mapping may be used from any thread.
unsafe impl<T: DataHubSlot> Send for LockedZone<T> {}
// SAFETY: as above: `&LockedZone` only lets a thread take the lock.
unsafe impl<T: DataHubSlot> Sync for LockedZone<T> {}

/// The zone's lock, held: derefs to the zone's `T`; dropping it unlocks.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ZoneGuard<'a, T: DataHubSlot> {
    zone: &'a LockedZone<T>,
    recovered: bool,
    /// `&ZoneGuard` gives `&T`; `T: Sync` is not required of slot types,
    /// so the guard is not shared between threads.
    _not_sync: PhantomData<*const ()>,
}

impl<T: DataHubSlot> ZoneGuard<'_, T> {
    /// `true` when the lock was taken over from a process that died while
    /// holding it: the zone may be half-written; check or reset it.
    pub fn recovered(&self) -> bool {
        self.recovered
    }
}

impl<T: DataHubSlot> Deref for ZoneGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // `open` checked size, alignment and type hash; the zone lies in
        // the mapping the zone handle keeps alive. We hold this mapping's
        // flag and the shared lock, so no other thread or process (nor
        // another mapping in this one) touches the bytes.
        // SAFETY: in bounds, aligned, exclusive; any bits are a plain-data `T`.
        unsafe { self.zone.ptr.as_ref() }
    }
}

impl<T: DataHubSlot> DerefMut for ZoneGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // As in `deref`; `&mut self` makes this the only reference here.
        // SAFETY: in bounds, aligned, exclusive (flag, lock and `&mut self`).
        unsafe { &mut *self.zone.ptr.as_ptr() }
    }
}

impl<T: DataHubSlot> Drop for ZoneGuard<'_, T> {
    fn drop(&mut self) {
        unlock(&self.zone.segment, self.zone.index, self.zone.me);
    }
}

/// Takes the lock of zone `index` for process `me`, waiting as `wait`
/// allows: first this mapping's flag (the threads of this process), then
/// the shared lock (the processes). Returns whether the lock was taken
/// over from a dead holder.
pub(super) fn lock(
    segment: &Segment,
    index: usize,
    me: os::ProcessId,
    wait: Wait,
) -> Result<bool, Error> {
    let deadline = Deadline::after(wait.remaining());
    let mut backoff = Backoff::LOCK;
    let busy = segment.zone_busy(index);
    // Acquire: pairs with the Release store in `unlock`: the previous
    // holder thread's writes happen before ours.
    while busy
        .compare_exchange_weak(false, true, Acquire, Relaxed)
        .is_err()
    {
        if deadline.passed() {
            return Err(timeout(
                segment,
                index,
                &deadline,
                "another thread of this process holds it".into(),
            ));
        }
        backoff.snooze(&deadline);
    }
    // From here on the flag is ours: every path out releases it.
    let lock = segment.zone_lock(index);
    loop {
        let remaining = deadline.remaining();
        match lock.lock(me, remaining, os::is_alive) {
            Ok(acquired) => return Ok(acquired.recovered),
            // Another mapping of this channel in this process holds it.
            Err(LockError::AlreadyHeldByThisProcess) if !remaining.is_zero() => {
                backoff.snooze(&deadline);
            }
            Err(e) => {
                // Release: pairs with the Acquire CAS above in the next
                // thread (nothing was written under the flag).
                busy.store(false, Release);
                let cause = match e {
                    LockError::Timeout { owner, .. } => {
                        format!("process {} holds it", owner.pid)
                    }
                    LockError::AlreadyHeldByThisProcess => {
                        "another handle of this process (another mapping of the channel) holds it"
                            .into()
                    }
                    LockError::IdentityOutOfRange { me } => {
                        return Err(ErrorKind::Io {
                            channel: segment.channel().to_owned(),
                            source: std::io::Error::other(format!(
                                "process identity (pid {}, start time {}) does not fit a lock's owner word",
                                me.pid, me.start_time
                            )),
                        }
                        .into());
                    }
                };
                return Err(timeout(segment, index, &deadline, cause));
            }
        }
    }
}

/// Releases the lock of zone `index` that process `me` holds, then this
/// mapping's flag.
pub(super) fn unlock(segment: &Segment, index: usize, me: os::ProcessId) {
    if let Err(NotOwner { owner }) = segment.zone_lock(index).unlock(me) {
        // Another process judged us dead and took the lock while we held
        // it: our writes may have raced with it. Nothing to undo here;
        // make it visible.
        tracing::warn!(
            channel = segment.channel(),
            zone = segment.zone_names().nth(index).unwrap_or(""),
            holder = ?owner.map(|o| o.pid),
            "the lock of a zone was taken over while this process held it: its writes may have raced"
        );
    }
    // Release: pairs with the Acquire CAS in `lock` of the next thread of
    // this process (our writes happen before its reads).
    segment.zone_busy(index).store(false, Release);
}

/// The timeout error of a lock wait on zone `index`.
fn timeout(segment: &Segment, index: usize, deadline: &Deadline, why: String) -> Error {
    ErrorKind::Timeout {
        channel: segment.channel().to_owned(),
        waited: deadline.elapsed(),
        cause: format!(
            "the lock of zone `{}`: {why}",
            segment.zone_names().nth(index).unwrap_or("")
        ),
    }
    .into()
}
