//! `Consumer<T>`: attaches to a channel, checks its schema, and reads typed
//! slots in place.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::time::Duration;

use crate::backoff::Wait;
use crate::checksum;
use crate::config::Secret;
use crate::discovery::{Discovery, Expected};
use crate::error::{Error, ErrorKind};
use crate::metrics::Counter;
use crate::payload::{Payload, SlotKind, SlotLayout};
use crate::ring::lifecycle::{AfterEmpty, EmptyLooks};
use crate::ring::protocol::{ReadAttempt, Ring, Start};
use crate::ring::wait::{SleepOn, WaitStrategy, wait_until};
use crate::segment::layout::ConsumerEntry;
use crate::segment::os;
use crate::segment::shm::Segment;
use crate::sync::Ordering::Relaxed;
use crate::types::{DataHubSlot, DataHubZone, SchemaHash};
use crate::zone::handle::{LockedZone, Zone};

mod attach;
mod builder;
mod detached;
mod iter;
use attach::{check_channel_hash, check_secret, check_slot};
pub use builder::ConsumerBuilder;
pub use detached::DetachedRead;
pub use iter::Iter;

/// How a consumer attaches.
///
/// ```
/// use std::time::Duration;
/// use datahub::{AttachOptions, Start, WaitStrategy};
///
/// let opts = AttachOptions::default()
///     .start(Start::Newest)
///     .ready_timeout(Duration::from_secs(2))
///     .wait_strategy(WaitStrategy::busy_poll());
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachOptions {
    start: Start,
    ready_timeout: Duration,
    strategy: WaitStrategy,
    secret: Option<Secret>,
    channel_hash: Option<SchemaHash>,
    layout: Option<SlotLayout>,
}

impl Default for AttachOptions {
    /// Start at the oldest item held, wait up to 1 s for a segment being
    /// created, default wait strategy, no secret.
    fn default() -> Self {
        Self {
            start: Start::Oldest,
            ready_timeout: Duration::from_secs(1),
            strategy: WaitStrategy::default(),
            secret: None,
            channel_hash: None,
            layout: None,
        }
    }
}

impl AttachOptions {
    /// Where to start reading.
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// How long to wait for a segment that is still being created.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// How blocked reads wait.
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Refuses a channel whose channel hash (slot type, zones and their
    /// kinds) is not `hash`, as a schema computed it. Without this, only
    /// the slot type is checked at attach, and each zone when opened.
    pub fn channel_hash(mut self, hash: SchemaHash) -> Self {
        self.channel_hash = Some(hash);
        self
    }

    /// The channel's secret, for a channel created with one.
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// For a consumer of [`Described`](crate::Described) slots: refuses a
    /// channel whose slots do not have `layout` (a schema's), naming the
    /// first differing field. Without it such a consumer takes the layout
    /// the segment records. (A typed consumer's layout is its type's.)
    pub fn slot_layout(mut self, layout: SlotLayout) -> Self {
        self.layout = Some(layout);
        self
    }
}

/// How often a `try_next` loop on an idle channel asks whether the
/// producer is still there (coarse-clock nanoseconds).
const GONE_CHECK_INTERVAL_NS: u64 = 10_000_000;

/// A consumer of a channel whose slots are `P` (a `DataHubSlot` type, or
/// [`Bytes`](crate::Bytes)), reading in place.
/// See [`Producer`](crate::Producer) for an example.
pub struct Consumer<P: Payload> {
    segment: Arc<Segment>,
    entry: usize,
    /// The next item to read. These words are this handle's alone; the
    /// `reading` flag orders them between the threads that share it.
    next: AtomicU64,
    lost: AtomicU64,
    /// Whether a `ReadSlot` of this consumer is alive, and which item:
    /// `u64::MAX` when none (the entry has one read mark: one item at a
    /// time).
    reading: AtomicU64,
    /// The item detached and not yet handed back (`consumer::detached`),
    /// `NOT_READING` when none.
    detached: AtomicU64,
    /// This handle's number, which its detached items carry.
    id: u64,
    strategy: WaitStrategy,
    enforced_checksums: bool,
    /// The channel's secret with the segment's nonce.
    keying: Option<checksum::Keying>,
    slot_size: usize,
    /// What the slots hold (`P`'s layout, or a described one).
    slot: SlotLayout,
    /// When an empty `try_next` last checked for a gone producer.
    gone_checked_ns: AtomicU64,
    _slot: PhantomData<fn() -> P>,
}

impl<P: Payload> Consumer<P> {
    /// Attaches to channel `name`, starting at the oldest item held.
    pub fn attach(name: &str) -> Result<Self, Error> {
        Self::attach_with(name, &AttachOptions::default())
    }

    /// Attaches to channel `name` with `options`. Refuses a segment whose
    /// slot type is not `P` with [`ErrorKind::SchemaMismatch`](crate::ErrorKind::SchemaMismatch) naming the first
    /// differing field, and a wrong or missing secret with
    /// [`ErrorKind::AccessDenied`](crate::ErrorKind::AccessDenied).
    pub fn attach_with(name: &str, options: &AttachOptions) -> Result<Self, Error> {
        let segment = Segment::attach(name, options.ready_timeout)?;
        let id = *segment.identity();
        let keying = segment.keying(options.secret.as_ref().map(|s| s.0));
        check_secret(&segment, keying.as_ref())?;
        let slot = check_slot::<P>(&segment, options.layout.as_ref())?;
        if let Some(expected) = options.channel_hash {
            check_channel_hash(&segment, expected)?;
        }
        let slot_size = usize::try_from(id.slot_size).map_err(|_| ErrorKind::CorruptSegment {
            channel: name.to_owned(),
            field: "slot_size",
            expected: "a size that fits in memory".into(),
            found: id.slot_size.to_string(),
        })?;
        let me = os::current_process();
        let ring = segment.ring();
        let join = || ring.join(me.pid, me.start_time, os::monotonic_ns(), options.start);
        // Every entry in use: entries of consumers whose process died are
        // freed and the join tried once more.
        let joined = join().or_else(|| {
            (!crate::liveness::reap_dead(&ring, &segment.live().metrics).is_empty())
                .then(join)
                .flatten()
        });
        let Some((entry, first)) = joined else {
            return Err(ErrorKind::ConsumersFull {
                channel: name.to_owned(),
                max: id.max_consumers,
            }
            .into());
        };
        let metrics = &segment.live().metrics;
        metrics.add(Counter::ConsumersAttached, 1);
        metrics.raise_to(
            Counter::PeakConsumers,
            segment.ring().consumer_count() as u64,
        );
        Ok(Self {
            enforced_checksums: id.checksum == 2,
            segment: Arc::new(segment),
            entry,
            next: AtomicU64::new(first),
            lost: AtomicU64::new(0),
            reading: AtomicU64::new(NOT_READING),
            detached: AtomicU64::new(NOT_READING),
            id: crate::mapping::handle_id(),
            strategy: options.strategy,
            keying,
            slot_size,
            slot,
            gone_checked_ns: AtomicU64::new(0),
            _slot: PhantomData,
        })
    }

    /// Discovers channel `name` through `hub` (a broker's client,
    /// `datahub_broker::MessageHub`, or any other [`Discovery`]), then
    /// attaches to it.
    /// The broker refuses a channel registered with another slot type
    /// ([`ErrorKind::SchemaMismatch`](crate::ErrorKind::SchemaMismatch)); an unknown channel is
    /// [`ErrorKind::NotDiscovered`](crate::ErrorKind::NotDiscovered), one produced on another host
    /// [`ErrorKind::RemoteChannel`](crate::ErrorKind::RemoteChannel). See [`Discovery`] for an example (and
    /// the `datahub-broker` crate for one with a broker).
    pub fn discover(hub: &(impl Discovery + ?Sized), name: &str) -> Result<Self, Error> {
        Self::discover_with(hub, name, &AttachOptions::default())
    }

    /// As [`discover`](Self::discover), with `options`; with
    /// [`AttachOptions::channel_hash`] (a generated channel module's
    /// `CHANNEL_HASH`), the broker also refuses other zones.
    pub fn discover_with(
        hub: &(impl Discovery + ?Sized),
        name: &str,
        options: &AttachOptions,
    ) -> Result<Self, Error> {
        // A bytes slot's type depends on its size, which only the segment
        // tells: then only the channel hash, if given, is checked early.
        let expected = Expected {
            channel_hash: options.channel_hash,
            slot_hash: if P::DESCRIBED {
                options.layout.as_ref().map(SlotLayout::hash)
            } else {
                P::fixed_size().map(P::hash)
            },
        };
        let record = hub.find(name, expected)?;
        if !record.is_on_this_host() {
            return Err(ErrorKind::RemoteChannel {
                channel: name.to_owned(),
                boot_id: record.boot_id.unwrap_or_default(),
                zmq_endpoint: record.zmq_endpoint,
            }
            .into());
        }
        let ours = os::shm_name(name);
        if record.shm_name != ours {
            return Err(ErrorKind::BrokerProtocol {
                endpoint: hub.source(),
                problem: format!(
                    "channel `{name}` is registered in shared memory `{}`, but DataHub names it `{ours}`",
                    record.shm_name
                ),
            }.into());
        }
        // The segment found must be the one the broker described.
        Self::attach_with(name, &options.clone().channel_hash(record.channel_hash))
    }

    /// The channel's name.
    pub fn channel(&self) -> &str {
        self.segment.channel()
    }

    /// Bytes of payload per slot (the slot type's size, or `slot_size`).
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// The layout of the channel's slots (for [`Described`](crate::Described)
    /// slots, the one the segment records).
    pub fn slot_layout(&self) -> &SlotLayout {
        &self.slot
    }

    /// A hold that keeps the channel's memory mapped after this consumer
    /// is dropped (see [`Mapping`](crate::Mapping)).
    pub fn mapping(&self) -> crate::Mapping {
        crate::Mapping::new(&self.segment)
    }

    /// The channel hash the segment records (slot type and zones).
    pub fn channel_hash(&self) -> SchemaHash {
        SchemaHash::from_bytes(self.segment.identity().channel_hash)
    }

    /// The lock-free zone `name`, typed `Z`: a handle that derefs to `&Z`
    /// and does not borrow the consumer. Fails with [`ErrorKind::WrongZone`](crate::ErrorKind::WrongZone)
    /// when the channel has no lock-free zone of that name, and with
    /// [`ErrorKind::SchemaMismatch`](crate::ErrorKind::SchemaMismatch) when its type is not `Z`.
    pub fn zone<Z: DataHubZone>(&self, name: &str) -> Result<Zone<Z>, Error> {
        Zone::open(&self.segment, name)
    }

    /// The locked zone `name`, typed `T`, reached through its lock.
    pub fn locked_zone<Z: DataHubSlot>(&self, name: &str) -> Result<LockedZone<Z>, Error> {
        LockedZone::open(&self.segment, name)
    }

    /// The lock-free zone `name`, its type taken from the segment: its
    /// atomic fields read and written by name (for bindings and tools).
    pub fn described_zone(&self, name: &str) -> Result<crate::DescribedZone, Error> {
        crate::DescribedZone::open(&self.segment, name)
    }

    /// The locked zone `name`, its type taken from the segment: its bytes
    /// reached under its lock.
    pub fn described_locked_zone(&self, name: &str) -> Result<crate::DescribedLockedZone, Error> {
        crate::DescribedLockedZone::open(&self.segment, name)
    }

    /// Items lost so far: overwritten before this consumer read them.
    pub fn lost(&self) -> u64 {
        // Relaxed: a figure of this handle's own.
        self.lost.load(Relaxed)
    }

    /// The sequence number of the next item [`next`](Self::next) returns.
    pub fn position(&self) -> u64 {
        // Relaxed: as in `lost`.
        self.next.load(Relaxed)
    }

    /// Takes this handle's one read: refused while a `ReadSlot` of it is
    /// alive. Released by that `ReadSlot`'s drop, or by [`Self::end_read`]
    /// when no item came.
    fn begin_read(&self) -> Result<(), Error> {
        // A zones-only channel has no slot to index (`q % capacity`).
        if self.ring().capacity() == 0 {
            return Err(ErrorKind::NoRing {
                channel: self.channel().to_owned(),
                operation: "read",
            }
            .into());
        }
        // Acquire: pairs with the Release store in `end_read` (or the
        // `ReadSlot`'s drop), so this thread sees the position the last
        // read left, whichever thread made it. `NOT_READING - 1` marks a
        // read under way that holds no item yet.
        match self
            .reading
            .compare_exchange(NOT_READING, NOT_READING - 1, Acquire, Relaxed)
        {
            Ok(_) => Ok(()),
            Err(held) => Err(ErrorKind::ItemHeld {
                channel: self.channel().to_owned(),
                held: (held != NOT_READING - 1).then_some(held),
            }
            .into()),
        }
    }

    /// Ends a read that returns no item.
    fn end_read(&self) {
        // Release: pairs with the Acquire in `begin_read`.
        self.reading.store(NOT_READING, Release);
    }

    /// The next item in order, waiting up to `timeout` for it. In overwrite
    /// mode, items overwritten before they were read are skipped and
    /// counted ([`ReadSlot::lost_before`], [`lost`](Self::lost)).
    ///
    /// The consumer is borrowed shared, so its zones stay at hand while
    /// the item is held; a second read before the item is dropped is
    /// refused with [`ErrorKind::ItemHeld`](crate::ErrorKind::ItemHeld).
    pub fn next(&self, wait: impl Into<Wait>) -> Result<ReadSlot<'_, P>, Error> {
        let timeout = wait.into().remaining();
        self.begin_read()?;
        match self.read_next(timeout) {
            Ok(Ok(slot)) => Ok(slot),
            Ok(Err(waited)) => {
                self.end_read();
                Err(self.gone().unwrap_or_else(|| {
                    ErrorKind::Timeout {
                        channel: self.channel().to_owned(),
                        waited,
                        cause: format!("no item {} committed yet", self.position()),
                    }
                    .into()
                }))
            }
            Err(e) => {
                self.end_read();
                Err(e)
            }
        }
    }

    /// `next` once the read is taken: the item, or how long it waited for
    /// none.
    fn read_next(&self, timeout: Duration) -> Result<Result<ReadSlot<'_, P>, Duration>, Error> {
        let mut lost_now = 0;
        let (wait, q) = {
            let ring = self.segment.ring();
            let me = &ring.consumers[self.entry];
            // A lossless producer that stopped waiting for us waits again;
            // what it overwrote meanwhile is found lost below.
            ring.resume_after_stall(me);
            // Relaxed: our own entry's counter, for the channel's total below.
            let races_before = me.races.load(Relaxed);
            let mut q = self.position();
            let segment = &self.segment;
            let wait = wait_until(
                self.strategy,
                timeout,
                SleepOn::Commits(&ring),
                || {
                    // Closed, but the producer may have committed between our
                    // look and its close: look once more (`EmptyLooks`).
                    let mut looks = EmptyLooks::default();
                    loop {
                        match ring.try_read(me, q) {
                            ReadAttempt::Ready => return Some(Ok(q)),
                            ReadAttempt::NotYet | ReadAttempt::Busy => {
                                match looks.after_empty(&segment.lifecycle()) {
                                    AfterEmpty::Wait => return None,
                                    AfterEmpty::LookAgain => {}
                                    AfterEmpty::Closed => return Some(Err(Stop::Closed)),
                                }
                            }
                            ReadAttempt::Lost { resume } => {
                                lost_now += resume - q;
                                if ring.skip_to(me, resume) {
                                    os::futex_wake_all(&ring.write.read_futex);
                                }
                                q = resume;
                            }
                        }
                    }
                },
                || while_waiting(segment, me),
            );
            let races = me.races.load(Relaxed) - races_before;
            if races > 0 {
                segment.live().metrics.add(Counter::ReaderRaces, races);
            }
            (wait, q)
        };
        self.record_loss(lost_now);
        match wait.found {
            Some(Ok(q)) => self.ready(q, lost_now).map(Ok),
            Some(Err(stop)) => {
                // Relaxed: ours (see `next`'s field).
                self.next.store(q, Relaxed);
                Err(self.stopped(stop))
            }
            None => {
                // Relaxed: as above.
                self.next.store(q, Relaxed);
                Ok(Err(wait.waited()))
            }
        }
    }

    /// The next item if one is committed now, without waiting. On an idle
    /// channel this is one load and no system call; whether the producer
    /// is gone ([`ErrorKind::ProducerGone`](crate::ErrorKind::ProducerGone)) is asked at most every 10 ms, so
    /// a polling loop learns of a dead producer within that.
    pub fn try_next(&self) -> Result<Option<ReadSlot<'_, P>>, Error> {
        self.begin_read()?;
        let found = self.poll_next();
        if !matches!(found, Ok(Some(_))) {
            self.end_read();
        }
        found
    }

    /// `try_next` once the read is taken.
    fn poll_next(&self) -> Result<Option<ReadSlot<'_, P>>, Error> {
        // Nothing committed past our position and the channel open: the
        // common answer of a polling loop, given without the liveness
        // check (`/proc` and two `stat`s), which runs at most every
        // GONE_CHECK_INTERVAL_NS of empty polls.
        let nothing_new = self.segment.ring().commit_seq() <= self.position();
        if nothing_new && !closed(&self.segment) {
            let now = os::coarse_ns();
            // Relaxed: this handle's own pacing figure.
            if now.saturating_sub(self.gone_checked_ns.load(Relaxed)) < GONE_CHECK_INTERVAL_NS {
                return Ok(None);
            }
            self.gone_checked_ns.store(now, Relaxed);
            return match self.gone() {
                Some(gone) => Err(gone),
                None => Ok(None),
            };
        }
        // Something new, or the channel closed: one look, no wait.
        match self.read_next(Duration::ZERO)? {
            Ok(slot) => Ok(Some(slot)),
            Err(_) => match self.gone() {
                Some(gone) => Err(gone),
                None => Ok(None),
            },
        }
    }

    /// The newest item (skipping older unread ones, which are not counted
    /// as lost), waiting up to `timeout` for one newer than the last read.
    pub fn latest(&self, wait: impl Into<Wait>) -> Result<ReadSlot<'_, P>, Error> {
        let timeout = wait.into().remaining();
        self.begin_read()?;
        let found = self.read_latest(timeout);
        if found.is_err() {
            self.end_read();
        }
        found
    }

    /// `latest` once the read is taken.
    fn read_latest(&self, timeout: Duration) -> Result<ReadSlot<'_, P>, Error> {
        let wait = {
            let ring = self.segment.ring();
            let me = &ring.consumers[self.entry];
            let next = self.position();
            let segment = &self.segment;
            ring.resume_after_stall(me);
            wait_until(
                self.strategy,
                timeout,
                SleepOn::Commits(&ring),
                || {
                    // As in `next`: an item committed just before the close
                    // is still read.
                    let mut looks = EmptyLooks::default();
                    loop {
                        let committed = ring.commit_seq();
                        if committed <= next {
                            match looks.after_empty(&segment.lifecycle()) {
                                AfterEmpty::Wait => return None,
                                AfterEmpty::LookAgain => continue,
                                AfterEmpty::Closed => return Some(Err(Stop::Closed)),
                            }
                        }
                        let newest = committed - 1;
                        match ring.try_read(me, newest) {
                            ReadAttempt::Ready => return Some(Ok(newest)),
                            // Overwritten meanwhile: there is a newer one.
                            ReadAttempt::Lost { .. } => continue,
                            ReadAttempt::NotYet | ReadAttempt::Busy => return None,
                        }
                    }
                },
                || while_waiting(segment, me),
            )
        };
        match wait.found {
            Some(Ok(q)) => self.ready(q, 0),
            Some(Err(stop)) => Err(self.stopped(stop)),
            None => Err(self.gone().unwrap_or_else(|| {
                ErrorKind::Timeout {
                    channel: self.channel().to_owned(),
                    waited: wait.waited(),
                    cause: format!(
                        "no item after {} committed yet",
                        self.position().wrapping_sub(1)
                    ),
                }
                .into()
            })),
        }
    }

    /// The error for a wait that `stop` ended.
    fn stopped(&self, stop: Stop) -> Error {
        match stop {
            Stop::Closed => ErrorKind::Closed {
                channel: self.channel().to_owned(),
            }
            .into(),
            Stop::Gone(gone) => {
                let metrics = &self.segment.live().metrics;
                metrics.record_error(&gone, os::monotonic_ns());
                gone
            }
        }
    }

    /// After a wait ran out: whether it is because the producer is gone
    /// (dead, or its segment removed or replaced), and so waiting longer
    /// would not help.
    fn gone(&self) -> Option<Error> {
        let gone = why_gone(&self.segment)?;
        self.segment
            .live()
            .metrics
            .record_error(&gone, os::monotonic_ns());
        Some(gone)
    }

    /// Refreshes this consumer's heartbeat without reading.
    pub fn heartbeat(&self) {
        self.ring().consumers[self.entry]
            .heartbeat_ns
            // Relaxed: a figure for liveness reports, not a synchronization.
            .store(os::monotonic_ns(), Relaxed);
    }

    fn record_loss(&self, lost: u64) {
        if lost > 0 {
            // Relaxed: ours (see `next`'s field).
            self.lost.fetch_add(lost, Relaxed);
            // Relaxed: a counter.
            self.ring().consumers[self.entry]
                .overruns
                .fetch_add(lost, Relaxed);
            self.segment.live().metrics.add(Counter::ItemsLost, lost);
        }
    }

    /// Item `q` is marked for reading: wraps it in a `ReadSlot`, after
    /// checking its length and (enforced) its checksum.
    fn ready(&self, q: u64, lost_before: u64) -> Result<ReadSlot<'_, P>, Error> {
        let index = self.ring().slot_index(q);
        // Relaxed: written before the Release store of COMMITTED that our
        // Acquire in `try_read` saw, and not rewritten while our mark holds
        // the slot.
        let stored = self.ring().slots[index].payload_len.load(Relaxed);
        // Constant but for described slots.
        let typed =
            P::fixed_size().is_some() || (P::DESCRIBED && self.slot.kind() == SlotKind::Typed);
        let len = match typed {
            true => Some(self.slot_size),
            false => usize::try_from(stored)
                .ok()
                .filter(|&len| len <= self.slot_size),
        };
        // Relaxed: the Acquire in `begin_read` already ordered this read.
        self.reading.store(q, Relaxed);
        let slot = ReadSlot {
            consumer: self,
            seq: q,
            index,
            len: len.unwrap_or(0),
            lost_before,
        };
        let Some(_) = len else {
            let channel = slot.consumer.channel().to_owned();
            let max = slot.consumer.slot_size;
            let err: Error = ErrorKind::CorruptSegment {
                channel,
                field: "slot_states[].payload_len",
                expected: format!("at most the slot size, {max}"),
                found: stored.to_string(),
            }
            .into();
            let metrics = &slot.consumer.segment.live().metrics;
            metrics.record_error(&err, os::monotonic_ns());
            drop(slot);
            return Err(err);
        };
        if slot.consumer.enforced_checksums && !slot.verify_checksum() {
            let entry = &slot.consumer.ring().consumers[slot.consumer.entry];
            // Relaxed: a counter.
            entry.checksum_failures.fetch_add(1, Relaxed);
            slot.consumer
                .segment
                .live()
                .metrics
                .add(Counter::ChecksumFailures, 1);
            let err: Error = ErrorKind::ChecksumMismatch {
                channel: slot.consumer.channel().to_owned(),
                seq: q,
            }
            .into();
            let metrics = &slot.consumer.segment.live().metrics;
            metrics.record_error(&err, os::monotonic_ns());
            drop(slot);
            return Err(err);
        }
        Ok(slot)
    }

    fn ring(&self) -> Ring<'_> {
        self.segment.ring()
    }
}

impl<P: Payload> std::fmt::Debug for Consumer<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("channel", &self.channel())
            .field("entry", &self.entry)
            .field("position", &self.position())
            .field("lost", &self.lost())
            .finish_non_exhaustive()
    }
}

impl<P: Payload> Drop for Consumer<P> {
    fn drop(&mut self) {
        let ring = self.segment.ring();
        if ring.leave(self.entry) {
            os::futex_wake_all(&ring.write.read_futex);
        }
        self.segment
            .live()
            .metrics
            .add(Counter::ConsumersDetached, 1);
    }
}

/// An item read in place (`Deref` to `T`, or to the item's `[u8]` for
/// [`Bytes`](crate::Bytes)); the producer cannot reuse its slot until this
/// is dropped.
#[must_use = "the item is released as soon as the read slot is dropped"]
pub struct ReadSlot<'a, P: Payload> {
    consumer: &'a Consumer<P>,
    seq: u64,
    index: usize,
    /// Bytes of payload (the slot size for typed slots).
    len: usize,
    lost_before: u64,
}

impl<P: Payload> ReadSlot<'_, P> {
    /// The item's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Items lost (overwritten unread) just before this one.
    pub fn lost_before(&self) -> u64 {
        self.lost_before
    }

    /// When the producer committed the item: `CLOCK_MONOTONIC` time since
    /// the machine booted, the same clock in every process of the host, to
    /// the scheduler tick (1 to 4 ms; the producer reads the coarse clock
    /// to keep commits cheap).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use datahub::{Bytes, ChannelConfig, Consumer, Producer};
    /// # let name = format!("doc-commit-time-{}", std::process::id());
    /// # let mut p = Producer::<Bytes>::create(&ChannelConfig::new(&name).slot_size(8))?;
    /// # let mut c = Consumer::<Bytes>::attach(&name)?;
    /// # p.write_bytes(Duration::from_secs(1), b"x")?;
    /// let item = c.next(Duration::from_secs(1))?;
    /// let age = item.age();
    /// assert!(item.commit_time() > Duration::ZERO && age < Duration::from_secs(60));
    /// # Ok::<(), datahub::Error>(())
    /// ```
    pub fn commit_time(&self) -> Duration {
        let ring = self.consumer.segment.ring();
        let slot = &ring.slots[self.index];
        // Relaxed: published with the item by the Release store of the
        // slot's state, which this read acquired; the read mark keeps the
        // slot from being rewritten while this `ReadSlot` lives.
        Duration::from_nanos(slot.commit_time_ns.load(Relaxed))
    }

    /// How long ago the item was committed (see
    /// [`commit_time`](Self::commit_time) for the clock's resolution).
    pub fn age(&self) -> Duration {
        Duration::from_nanos(os::monotonic_ns()).saturating_sub(self.commit_time())
    }

    /// Checks the item against the checksum its producer recorded; `true`
    /// when it matches (always `true` on a channel without checksums).
    pub fn verify_checksum(&self) -> bool {
        match self.consumer.segment.checksums() {
            None => true,
            Some(entries) => checksum::verify(
                &entries[self.index],
                self.consumer.keying.as_ref(),
                self.seq,
                self.bytes(),
            )
            .is_ok(),
        }
    }

    fn start(&self) -> *mut u8 {
        self.consumer.segment.slot_ptr(self.index)
    }

    fn bytes(&self) -> &[u8] {
        // `len <= slot_size` (checked in `ready`); committed; our mark holds.
        // SAFETY: in bounds of the mapping, initialized, not written until drop.
        unsafe { std::slice::from_raw_parts(self.start(), self.len) }
    }
}

impl<P: Payload> std::fmt::Debug for ReadSlot<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadSlot")
            .field("channel", &self.consumer.channel())
            .field("seq", &self.seq())
            .field("lost_before", &self.lost_before())
            .finish_non_exhaustive()
    }
}

impl<P: Payload> Deref for ReadSlot<'_, P> {
    type Target = P::View;

    fn deref(&self) -> &P::View {
        let view = P::view(self.start(), self.len);
        // The item is committed (Acquire in try_read) and our read mark
        // keeps the producer out until drop. `len` bytes lie inside the
        // slot: the type's size, checked against the segment's slot size at
        // attach, or a stored length checked in `ready`. Slots are
        // 64-aligned and the payload's align is at most 64 (the matching
        // hash says it is the producer's type, which create checked).
        // SAFETY: in bounds, aligned, unaliased by writers; any bits are a value.
        unsafe { &*view }
    }
}

impl<P: Payload> Drop for ReadSlot<'_, P> {
    fn drop(&mut self) {
        let consumer = self.consumer;
        {
            let ring = consumer.segment.ring();
            let me = &ring.consumers[consumer.entry];
            if ring.finish_read(me, self.seq) {
                os::futex_wake_all(&ring.write.read_futex);
            }
            // Relaxed: counters and a liveness figure. Only this consumer
            // writes its entry's counters while it is attached (a load and
            // a store, not a locked add: one less full barrier an item).
            me.slots_read
                .store(me.slots_read.load(Relaxed).wrapping_add(1), Relaxed);
            me.heartbeat_ns.store(os::coarse_ns(), Relaxed);
        }
        // Relaxed: published to the next reader of this handle by the
        // Release below.
        consumer.next.store(self.seq + 1, Relaxed);
        consumer.end_read();
    }
}

/// `Consumer::reading` when no read is under way.
const NOT_READING: u64 = u64::MAX;

/// Whether the producer closed the channel (checked only when no item is
/// ready, so that committed items are still read first).
#[inline]
fn closed(segment: &Segment) -> bool {
    // A reader that sees CLOSED and then finds no item has read everything
    // (`ring::lifecycle`, where the ordering is).
    segment.lifecycle().closed()
}

/// What ended a wait other than an item.
enum Stop {
    /// The producer closed the channel and every item was read.
    Closed,
    /// The producer is gone (dead, or its segment removed or replaced).
    Gone(Error),
}

/// Run by a consumer's wait every `wait::CHECK_EVERY` while it waits: a
/// waiting consumer is alive and healthy, so its heartbeat moves; and a
/// producer that died without closing the channel ends the wait within
/// 100 ms, not at its timeout. (A successor that takes the channel over
/// later finds this consumer still attached: its next read goes on.)
fn while_waiting<R>(segment: &Segment, me: &ConsumerEntry) -> Option<Result<R, Stop>> {
    // Relaxed: a figure for liveness reports, not a synchronization.
    me.heartbeat_ns.store(os::coarse_ns(), Relaxed);
    // A live producer is the common answer, and one /proc read: the name's
    // checks (two stats) are made only once it is dead. (A segment is
    // replaced or removed only once its producer is dead or has closed it,
    // and a close wakes this wait at once.)
    if segment.producer().is_some_and(os::is_alive) {
        return None;
    }
    why_gone(segment).map(|gone| Err(Stop::Gone(gone)))
}

/// Whether the producer of `segment` is gone: dead (and not replaced by a
/// successor that took the segment over), or its segment removed, or
/// replaced by a new one (with another schema: [`ErrorKind::SchemaChanged`](crate::ErrorKind::SchemaChanged)).
fn why_gone(segment: &Segment) -> Option<Error> {
    let channel = segment.channel().to_owned();
    let producer = segment.producer();
    let gone = ErrorKind::ProducerGone {
        channel: channel.clone(),
        pid: producer.map(|p| p.pid),
    };
    match segment.replaced() {
        None => (!producer.is_some_and(os::is_alive)).then_some(gone.into()),
        Some(false) => Some(gone.into()),
        Some(true) => match Segment::read_copy(&channel, Duration::ZERO) {
            Ok(new) if new.identity().channel_hash != segment.identity().channel_hash => {
                Some(ErrorKind::SchemaChanged { channel }.into())
            }
            _ => Some(gone.into()),
        },
    }
}
