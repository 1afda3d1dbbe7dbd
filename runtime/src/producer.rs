//! `Producer<T>`: creates a channel and writes typed slots in place.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backoff::Wait;
use crate::checksum;
use crate::config::{ChannelConfig, ChecksumPolicy, Overflow};
use crate::discovery::{Registered, Registration, Registry};
use crate::error::{Error, ErrorKind};
use crate::liveness::Watch;
use crate::metrics::Counter;
use crate::payload::{Bytes, Payload, SlotLayout};
use crate::ring::protocol::{Ring, WriteBlocked};
use crate::ring::wait::{SleepOn, WaitStrategy, wait_until};
use crate::segment::os;
use crate::segment::shm::{SchemaStrings, Segment, SegmentError};
use crate::segment::validate::{Blueprint, Params};
use crate::sync::Ordering::Relaxed;
use crate::types::{DataHubSlot, DataHubZone, SchemaHash};
use crate::zone::handle::{LockedZone, Zone};

mod detached;
mod loan;
mod takeover;
pub use detached::DetachedWrite;
pub use loan::Loan;
use takeover::take_over;

/// The one producer of a channel: creates its segment and writes slots of
/// type `P` in place (no copy): a `DataHubSlot` type, or
/// [`Bytes`](crate::Bytes).
///
/// ```
/// use std::time::Duration;
/// use datahub::{ChannelConfig, Consumer, DataHubSlot, Producer};
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Frame { seq: u64, value: f64 }
///
/// let name = format!("doc-producer-{}", std::process::id());
/// let mut p = Producer::<Frame>::create(&ChannelConfig::new(&name))?;
/// let mut c = Consumer::<Frame>::attach(&name)?;
/// let mut w = p.acquire(Duration::from_millis(100))?;
/// w.seq = 1;
/// w.value = 0.5;
/// w.commit();
/// p.write_with(Duration::from_millis(100), |f| { f.seq = 2; f.value = 1.5; })?;
/// assert_eq!(c.next(Duration::from_secs(1))?.seq, 1);
/// assert_eq!(c.next(Duration::from_secs(1))?.value, 1.5);
/// # Ok::<(), datahub::Error>(())
/// ```
pub struct Producer<P: Payload> {
    segment: Arc<Segment>,
    next_seq: u64,
    me: os::ProcessId,
    overflow: Overflow,
    checksum: ChecksumPolicy,
    /// The channel's secret with this incarnation's nonce.
    keying: Option<checksum::Keying>,
    strategy: WaitStrategy,
    slot_size: usize,
    /// What the slots hold.
    slot: SlotLayout,
    stall_timeout_ns: u64,
    /// When a blocked `acquire` may next look for dead or stalled
    /// consumers (`liveness::Watch`): kept across calls.
    next_watch: Option<std::time::Instant>,
    /// The registration to withdraw when dropped.
    registration: Option<Registered>,
    /// The sequence number of the slot detached and not yet handed back
    /// (`producer::detached`): no other is claimed meanwhile.
    detached: Option<u64>,
    /// Whether a timed-out acquire is counted (`set_timeouts_counted`).
    count_timeouts: bool,
    /// This handle's number, which its detached slots carry.
    id: u64,
    _slot: PhantomData<fn(P) -> P>,
}

impl<P: Payload> Producer<P> {
    /// Creates the channel `config` describes, with slots of `P` (a
    /// `DataHubSlot` type, or [`Bytes`](crate::Bytes) of the configured
    /// `slot_size`). Fails with [`ErrorKind::ChannelExists`](crate::ErrorKind::ChannelExists) when it already
    /// has a segment.
    pub fn create(config: &ChannelConfig) -> Result<Self, Error> {
        config.check()?;
        let layout = config.slot_for::<P>()?;
        let slot_size = layout.size();
        // `slot_for` checked that it fits.
        let slot_len = usize::try_from(slot_size).unwrap_or(usize::MAX);
        let capacity = u64::from(config.capacity);
        let slot_canonical = layout.canonical().to_owned();
        let blueprint = Blueprint {
            channel: &config.name,
            params: Params {
                capacity,
                max_consumers: u64::from(config.max_consumers),
                slot_size,
                checksums: config.checksum != ChecksumPolicy::None,
                schema_len: 0,
                zone_sizes: config.zones.iter().map(|z| z.size).collect(),
            },
            policy: match capacity {
                1 => 0,
                2 => 1,
                _ => 2,
            },
            overflow: match config.overflow {
                Overflow::Overwrite => 1,
                _ => 0,
            },
            checksum: match config.checksum {
                ChecksumPolicy::None => 0,
                ChecksumPolicy::Manual => 1,
                _ => 2,
            },
            slot_kind: layout.kind_byte(),
            zones: config
                .zones
                .iter()
                .map(|z| (z.name.as_str(), z.locked, *z.hash.as_bytes()))
                .collect(),
            channel_hash: *SchemaHash::of_channel_canon(&config.channel_canonical(&slot_canonical))
                .as_bytes(),
            slot_hash: *layout.hash().as_bytes(),
            secret: config.secret.as_ref().map(|s| s.0),
            nonce: os::random_nonce().map_err(|source| ErrorKind::Io {
                channel: config.name.clone(),
                source,
            })?,
            mode: config.mode,
            created_ns: os::monotonic_ns(),
            stall_timeout_ns: u64::try_from(config.stall_timeout.as_nanos()).unwrap_or(u64::MAX),
        };
        let schema = SchemaStrings {
            slot: slot_canonical,
            zones: config.zones.iter().map(|z| z.canonical.clone()).collect(),
        };
        let me = os::current_process();
        let (segment, next_seq) = match Segment::create(&blueprint, &schema, me) {
            Ok(segment) => (segment, 0),
            Err(SegmentError::AlreadyExists { .. }) => take_over(&blueprint, &schema, me)?,
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            keying: segment.keying(blueprint.secret),
            segment: Arc::new(segment),
            next_seq,
            me,
            overflow: config.overflow,
            checksum: config.checksum,
            strategy: WaitStrategy::default(),
            slot_size: slot_len,
            slot: layout,
            stall_timeout_ns: blueprint.stall_timeout_ns,
            next_watch: None,
            registration: None,
            detached: None,
            count_timeouts: true,
            id: crate::mapping::handle_id(),
            _slot: PhantomData,
        })
    }

    /// The channel's name.
    pub fn channel(&self) -> &str {
        self.segment.channel()
    }

    /// The lock-free zone `name`, typed `Z`: a handle that derefs to `&Z`
    /// and does not borrow the producer (hold it while acquiring slots).
    /// Fails with [`ErrorKind::WrongZone`](crate::ErrorKind::WrongZone) when the channel has no lock-free
    /// zone of that name, and with [`ErrorKind::SchemaMismatch`](crate::ErrorKind::SchemaMismatch) when its type
    /// is not `Z`.
    pub fn zone<Z: DataHubZone>(&self, name: &str) -> Result<Zone<Z>, Error> {
        Zone::open(&self.segment, name)
    }

    /// The locked zone `name`, typed `T`: a handle whose
    /// [`lock`](LockedZone::lock) gives a guard over the zone's value.
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

    /// Consumers attached now.
    pub fn consumer_count(&self) -> usize {
        self.segment.ring().consumer_count()
    }

    /// The sequence number the next committed slot will carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Bytes of payload per slot (the slot type's size, or `slot_size`).
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// The layout of the channel's slots.
    pub fn slot_layout(&self) -> &SlotLayout {
        &self.slot
    }

    /// The channel's checksum policy (with `Manual`, record each item's
    /// with [`WriteSlot::update_checksum`] before committing it).
    pub fn checksum_policy(&self) -> ChecksumPolicy {
        self.checksum
    }

    /// A hold that keeps the channel's memory mapped after this producer
    /// is dropped (see [`Mapping`](crate::Mapping)).
    pub fn mapping(&self) -> crate::Mapping {
        crate::Mapping::new(&self.segment)
    }

    /// The channel hash of the segment (slot type and zones, `docs/schema.md`, "Canonical form and hashes").
    pub fn channel_hash(&self) -> SchemaHash {
        SchemaHash::from_bytes(self.segment.identity().channel_hash)
    }

    /// Refreshes the producer's heartbeat without committing (every commit
    /// refreshes it too): for a producer that is alive but has nothing to
    /// publish, so that `datahub inspect` shows it healthy. Whether it is
    /// alive is never judged from this (`docs/protocol.md`, "Liveness and recovery").
    pub fn heartbeat(&self) {
        // Relaxed: a health report, ordered with nothing.
        self.segment
            .live()
            .producer
            .heartbeat_ns
            .store(os::monotonic_ns(), Relaxed);
    }

    /// Registers the channel with `registry` (a broker's client,
    /// `datahub_broker::MessageHub`, or any other [`Registry`]), so
    /// consumers can [`discover`](crate::Consumer::discover) it by name;
    /// dropping the producer withdraws the registration, before the
    /// channel closes. Registering again withdraws the previous
    /// registration first (so its withdrawal cannot undo the new one).
    /// Fails with [`ErrorKind::ChannelExists`](crate::ErrorKind::ChannelExists) when
    /// another live producer registered the name, or
    /// [`ErrorKind::BrokerTimeout`](crate::ErrorKind::BrokerTimeout) when no broker answers (the channel itself
    /// works either way); a failure is counted (`broker_failures`) and
    /// recorded as the channel's last error. See [`Registry`] for an
    /// example.
    pub fn register(&mut self, registry: &(impl Registry + ?Sized)) -> Result<(), Error> {
        self.register_with(registry, None)
    }

    /// As [`register`](Self::register), announcing `zmq_endpoint` as where
    /// the producer also publishes over ZeroMQ.
    pub fn register_with(
        &mut self,
        registry: &(impl Registry + ?Sized),
        zmq_endpoint: Option<&str>,
    ) -> Result<(), Error> {
        let mut registration = Registration::new(self.channel(), self.channel_hash(), self.me.pid)
            .slot_hash(SchemaHash::from_bytes(self.segment.identity().slot_hash));
        registration.zmq_endpoint = zmq_endpoint.map(str::to_owned);
        drop(self.registration.take());
        match registry.register(&registration) {
            Ok(registered) => {
                self.registration = Some(registered);
                Ok(())
            }
            Err(e) => {
                let metrics = &self.segment.live().metrics;
                metrics.add(Counter::BrokerFailures, 1);
                metrics.record_error(&e, os::monotonic_ns());
                Err(e)
            }
        }
    }

    /// How blocked calls wait (default: spin, yield, then sleep until a
    /// consumer frees room).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }

    /// Claims the next slot for writing in place, waiting up to `timeout`
    /// for room (lossless mode: the slowest consumer) and for any reader
    /// still reading the slot's previous item. Commit with
    /// [`WriteSlot::commit`]; dropping the slot without committing aborts it.
    pub fn acquire(&mut self, wait: impl Into<Wait>) -> Result<WriteSlot<'_, P>, Error> {
        let claimed = self.claim_next(wait.into().remaining())?;
        Ok(WriteSlot {
            len: self.slot_size,
            producer: self,
            seq: claimed.seq,
            index: claimed.index,
            done: false,
        })
    }

    /// Claims the next slot as [`acquire`](Self::acquire) does, as a loan
    /// whose bytes cannot be read: the slot still holds an older item, and
    /// a loan only lets the new one be written whole
    /// ([`Loan::write`]), which gives the [`WriteSlot`] to commit. A loan
    /// dropped unwritten gives the slot back untouched (its older item stays
    /// readable). `iceoryx2`'s `loan_uninit().write_payload()` is the model.
    ///
    /// ```
    /// use std::time::Duration;
    /// use datahub::{ChannelConfig, Consumer, Producer};
    ///
    /// # let name = format!("doc-loan-{}", std::process::id());
    /// let mut p = Producer::<[f32; 4]>::create(&ChannelConfig::new(&name))?;
    /// let c = Consumer::<[f32; 4]>::attach(&name)?;
    /// let loan = p.loan(Duration::from_millis(100))?;
    /// loan.write([1.0, 2.0, 3.0, 4.0]).commit();
    /// assert_eq!(*c.next(Duration::from_secs(1))?, [1.0, 2.0, 3.0, 4.0]);
    /// # Ok::<(), datahub::Error>(())
    /// ```
    pub fn loan(&mut self, wait: impl Into<Wait>) -> Result<Loan<'_, P>, Error> {
        let claimed = self.claim_next(wait.into().remaining())?;
        Ok(Loan::new(self, claimed))
    }

    /// Sends `value` (claims, writes and commits the next slot; or, for
    /// [`Bytes`], see [`Producer::send_bytes`]), waiting
    /// as `wait` allows for room and for readers of the slot; returns the
    /// item's sequence number.
    fn send_within(
        &mut self,
        wait: Wait,
        write: impl FnOnce(Loan<'_, P>) -> Result<WriteSlot<'_, P>, Error>,
    ) -> Result<u64, Error> {
        let slot = write(self.loan(wait)?)?;
        let seq = slot.seq();
        slot.commit();
        Ok(seq)
    }

    /// Claims the next slot, waiting up to `timeout` for room and readers.
    fn claim_next(&mut self, timeout: Duration) -> Result<Claimed, Error> {
        self.check_none_detached()?;
        // A zones-only channel has no slot to index (`q % capacity`).
        if self.ring().capacity() == 0 {
            return Err(ErrorKind::NoRing {
                channel: self.channel().to_owned(),
                operation: "write",
            }
            .into());
        }
        let q = self.next_seq;
        let ring = self.segment.ring();
        let metrics = &self.segment.live().metrics;
        let sleep_on = SleepOn::Reads(&ring);
        let mut watch = Watch::new(&ring, metrics, self.stall_timeout_ns, &mut self.next_watch);
        let (mut blocked, mut waited) = (None, false);
        // Polls `check`; when blocked, lets the watch remove a dead consumer
        // or pass over a stalled one, and checks again at once if it did.
        let mut poll = |check: &dyn Fn() -> Result<(), WriteBlocked>| loop {
            match check() {
                Ok(()) => return Some(()),
                Err(why) => {
                    waited = true;
                    blocked = Some(why);
                    if !watch.blocked(why) {
                        return None;
                    }
                }
            }
        };
        // The clock is read only if a wait begins (`Waited::since`).
        let mut since = None;
        if self.overflow == Overflow::Block {
            // Nothing to check while waiting: the watch, run by each poll,
            // is what finds dead or stalled consumers.
            let room = wait_until(
                self.strategy,
                timeout,
                sleep_on,
                || poll(&|| ring.check_room(q)),
                || None,
            );
            since = room.since;
            if room.found.is_none() {
                metrics.add(Counter::WriteWaits, 1);
                return Err(self.timeout(room.waited(), blocked));
            }
        }
        let previous = ring.claim(q, self.me.pid);
        let waited_for_room = since.map_or(Duration::ZERO, |s| s.elapsed());
        let marks = wait_until(
            self.strategy,
            timeout.saturating_sub(waited_for_room),
            sleep_on,
            || poll(&|| ring.check_marks(q)),
            || None,
        );
        since = since.or(marks.since);
        let time_waited = since.map_or(Duration::ZERO, |s| s.elapsed());
        if waited {
            metrics.add(Counter::WriteWaits, 1);
            if marks.found.is_some() {
                metrics.add(Counter::WriteBlockedNs, duration_ns(time_waited));
            }
        }
        if marks.found.is_none() {
            if ring.cancel_claim(q, previous) {
                os::futex_wake_all(&ring.commit.futex);
            }
            return Err(self.timeout(time_waited, blocked));
        }
        Ok(Claimed {
            seq: q,
            index: ring.slot_index(q),
            previous,
        })
    }

    /// Writes the next slot in place with `fill` and commits it; returns its
    /// sequence number.
    pub fn write_with(
        &mut self,
        wait: impl Into<Wait>,
        fill: impl FnOnce(&mut P::View),
    ) -> Result<u64, Error> {
        let mut slot = self.acquire(wait)?;
        fill(&mut slot);
        let seq = slot.seq();
        slot.commit();
        Ok(seq)
    }

    /// Whether a timed-out wait for room is counted (`write_timeouts`,
    /// `write_blocked_ns`) and recorded as the channel's last error; on by
    /// default. A binding that waits in short slices to stay interruptible
    /// (Python's Ctrl-C) turns it off, so that only real timeouts show.
    pub fn set_timeouts_counted(&mut self, counted: bool) {
        self.count_timeouts = counted;
    }

    fn timeout(&self, waited: Duration, blocked: Option<WriteBlocked>) -> Error {
        let metrics = &self.segment.live().metrics;
        if self.count_timeouts {
            metrics.add(Counter::WriteTimeouts, 1);
        }
        let cause = match blocked {
            Some(WriteBlocked::Behind {
                consumer,
                read_pos,
                needed,
            }) => format!(
                "the ring is full: consumer {consumer} has read up to item {read_pos}, item {needed} must be read \
                 before its slot is reused for item {} (lossless mode)",
                self.next_seq
            ),
            Some(WriteBlocked::Marked { consumer, seq }) => {
                format!("consumer {consumer} is still reading item {seq} in the slot to reuse")
            }
            None => "no room".into(),
        };
        let err: Error = ErrorKind::Timeout {
            channel: self.channel().to_owned(),
            waited,
            cause,
        }
        .into();
        if self.count_timeouts {
            metrics.add(Counter::WriteBlockedNs, duration_ns(waited));
            metrics.record_error(&err, os::monotonic_ns());
        }
        err
    }

    fn ring(&self) -> Ring<'_> {
        self.segment.ring()
    }
}

/// `duration` in nanoseconds, saturated.
fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A slot claimed by `claim_next`.
struct Claimed {
    seq: u64,
    index: usize,
    /// The slot's state before the claim, to restore if nothing is written.
    previous: u32,
}

impl<T: DataHubSlot> Producer<T> {
    /// Sends `value`: claims the next slot, writes `value` into it and
    /// commits it; returns its sequence number. Waits without a timeout
    /// for room (lossless mode) and for readers of the slot; see [`Wait`]
    /// for when such a wait ends anyway.
    ///
    /// ```
    /// use std::time::Duration;
    /// use datahub::{ChannelConfig, Consumer, Producer};
    ///
    /// # let name = format!("doc-send-{}", std::process::id());
    /// let mut p = Producer::<u64>::create(&ChannelConfig::new(&name))?;
    /// let c = Consumer::<u64>::attach(&name)?;
    /// assert_eq!(p.send(7)?, 0);
    /// assert_eq!(p.send_timeout(8, Duration::from_millis(10))?, 1);
    /// assert_eq!(*c.next(Duration::from_secs(1))?, 7);
    /// # Ok::<(), datahub::Error>(())
    /// ```
    pub fn send(&mut self, value: T) -> Result<u64, Error> {
        self.send_within(Wait::Forever, |loan| Ok(loan.write(value)))
    }

    /// [`send`](Self::send), waiting at most `timeout`.
    pub fn send_timeout(&mut self, value: T, timeout: Duration) -> Result<u64, Error> {
        self.send_within(Wait::Timeout(timeout), |loan| Ok(loan.write(value)))
    }

    /// [`send`](Self::send), waiting until `deadline` at most.
    pub fn send_deadline(&mut self, value: T, deadline: Instant) -> Result<u64, Error> {
        self.send_within(Wait::Deadline(deadline), |loan| Ok(loan.write(value)))
    }
}

impl<P: Payload> Producer<P> {
    /// `PayloadTooLarge` unless an item of `len` bytes fits a slot.
    fn check_fits(&self, len: usize) -> Result<(), Error> {
        if len <= self.slot_size {
            return Ok(());
        }
        Err(ErrorKind::PayloadTooLarge {
            channel: self.channel().to_owned(),
            len,
            max: self.slot_size,
        }
        .into())
    }
}

impl Producer<Bytes> {
    /// Sends a copy of `bytes` as the next item (its length is the
    /// item's); returns its sequence number. Fails with
    /// [`ErrorKind::PayloadTooLarge`](crate::ErrorKind::PayloadTooLarge) when `bytes` is longer than the slot.
    /// Waits as [`Producer::send`] does.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<u64, Error> {
        self.write_bytes(Wait::Forever, bytes)
    }

    /// Copies `bytes` into the next slot and commits it; returns its
    /// sequence number. Fails with [`ErrorKind::PayloadTooLarge`](crate::ErrorKind::PayloadTooLarge) when `bytes`
    /// is longer than the slot.
    pub fn write_bytes(&mut self, wait: impl Into<Wait>, bytes: &[u8]) -> Result<u64, Error> {
        // Refused before waiting for room it could not use.
        self.check_fits(bytes.len())?;
        self.send_within(wait.into(), |loan| loan.write(bytes))
    }
}

impl<P: Payload> std::fmt::Debug for Producer<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("channel", &self.channel())
            .field("next_seq", &self.next_seq)
            .field("consumers", &self.consumer_count())
            .finish_non_exhaustive()
    }
}

impl<P: Payload> Drop for Producer<P> {
    /// Closes the channel: consumers read what was committed, then get
    /// [`ErrorKind::Closed`](crate::ErrorKind::Closed); the name is removed so a new producer can create
    /// it. (A producer that dies without dropping leaves the segment for a
    /// successor to take over or `datahub cleanup` to remove.)
    fn drop(&mut self) {
        // Withdrawn first, so nobody discovers a channel being closed.
        drop(self.registration.take());
        // A slot a binding still holds detached is aborted, not left
        // claimed under the close.
        self.abort_detached();
        // CLOSED after every commit of this producer, then the sleepers
        // woken so they see it now rather than at their next re-check
        // (`ring::lifecycle`, where the orderings are).
        let wake = self.segment.lifecycle().close();
        os::futex_wake_all(wake.futex());
        // Only our own file's name: one removed by hand and created afresh
        // by another producer meanwhile is theirs.
        let _ = os::unlink_if_same(self.segment.channel(), self.segment.file());
    }
}

/// A claimed slot, written in place through `DerefMut` (to `T`, or to the
/// whole slot's `[u8]` for [`Bytes`](crate::Bytes)).
/// [`commit`](WriteSlot::commit) publishes it; dropping it without commit
/// aborts it (the slot then holds nothing readable).
#[must_use = "a write slot dropped without `commit` aborts the item"]
pub struct WriteSlot<'a, P: Payload> {
    producer: &'a mut Producer<P>,
    seq: u64,
    index: usize,
    /// Bytes of payload the item will have (the slot size unless
    /// `set_len` said less).
    len: usize,
    done: bool,
}

impl<P: Payload> WriteSlot<'_, P> {
    /// The sequence number this slot will carry.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Records the slot's checksum now (`ChecksumPolicy::Manual`; enforced
    /// checksums are computed at commit). Does nothing without checksums.
    pub fn update_checksum(&mut self) {
        let producer = &*self.producer;
        if let Some(entries) = producer.segment.checksums() {
            let payload = self.payload();
            let digest = checksum::digest(producer.keying.as_ref(), self.seq, payload);
            checksum::store(
                &entries[self.index],
                &digest,
                payload.len() as u64,
                self.seq,
            );
        }
    }

    /// Publishes the slot to consumers.
    pub fn commit(mut self) {
        if self.producer.checksum == ChecksumPolicy::Enforced {
            self.update_checksum();
        }
        self.done = true;
        let producer = &mut *self.producer;
        let now = os::coarse_ns();
        if producer.ring().commit(self.seq, self.len as u64, now) {
            os::futex_wake_all(&producer.ring().commit.futex);
        }
        let live = producer.segment.live();
        // Relaxed: a health report for `inspect`, ordered with nothing (a
        // plain store to the producer's own line, no extra clock read).
        live.producer.heartbeat_ns.store(now, Relaxed);
        let metrics = &live.metrics;
        metrics.add_own(Counter::ItemsCommitted, 1);
        metrics.add_own(Counter::BytesCommitted, self.len as u64);
        producer.next_seq = self.seq + 1;
    }

    /// The first byte of the slot.
    fn start(&self) -> *mut u8 {
        self.producer.segment.slot_ptr(self.index)
    }

    /// The bytes the item will carry.
    fn payload(&self) -> &[u8] {
        // The claimed slot has `slot_size >= len` bytes inside the mapping,
        // ours until commit or abort (no reader holds it: check_marks).
        // Mapped bytes are always initialized (a fresh mapping is zeros).
        // SAFETY: in bounds, initialized, and only we access them now.
        unsafe { std::slice::from_raw_parts(self.start(), self.len) }
    }
}

impl WriteSlot<'_, Bytes> {
    /// Bytes of payload the item will carry (the whole slot until
    /// [`set_len`](Self::set_len)).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the item will carry no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets how many of the slot's bytes the item carries; the slot derefs
    /// to all of them still, to write into.
    ///
    /// # Panics
    ///
    /// When `len` is more than the slot size (a bug of the caller, like an
    /// index out of bounds).
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.producer.slot_size,
            "set_len({len}) on a slot of {} bytes",
            self.producer.slot_size
        );
        self.len = len;
    }
}

impl<P: Payload> std::fmt::Debug for WriteSlot<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteSlot")
            .field("channel", &self.producer.channel())
            .field("seq", &self.seq)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<P: Payload> Deref for WriteSlot<'_, P> {
    type Target = P::View;

    fn deref(&self) -> &P::View {
        let view = P::view(self.start(), self.producer.slot_size);
        // The slot is claimed by this producer and no reader holds it
        // (check_marks): `slot_size` bytes inside the mapping, 64-aligned,
        // and the payload's align is at most 64 (checked at create).
        // SAFETY: in bounds, aligned, ours alone; any bits are a value.
        unsafe { &*view }
    }
}

impl<P: Payload> DerefMut for WriteSlot<'_, P> {
    fn deref_mut(&mut self) -> &mut P::View {
        let view = P::view(self.start(), self.producer.slot_size);
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { &mut *view }
    }
}

impl<P: Payload> Drop for WriteSlot<'_, P> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.producer.ring().abort(self.seq) {
            os::futex_wake_all(&self.producer.ring().commit.futex);
        }
        self.producer
            .segment
            .live()
            .metrics
            .add_own(Counter::ItemsAborted, 1);
    }
}
