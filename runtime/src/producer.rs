//! `Producer<T>`: creates a channel and writes typed slots in place.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use crate::checksum;
use crate::config::{ChannelConfig, ChecksumPolicy, Overflow};
use crate::error::Error;
use crate::ring::protocol::{Ring, WriteBlocked};
use crate::ring::wait::{WaitStrategy, wait_until};
use crate::segment::os;
use crate::segment::shm::{SchemaStrings, Segment};
use crate::segment::validate::{Blueprint, Params};
use crate::types::{DataHubSlot, DataHubZone};
use crate::zone::handle::{LockedZone, Zone};

/// The one producer of a channel: creates its segment and writes slots of
/// type `T` in place (no copy).
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
pub struct Producer<T: DataHubSlot> {
    segment: Arc<Segment>,
    next_seq: u64,
    me: os::ProcessId,
    overflow: Overflow,
    checksum: ChecksumPolicy,
    strategy: WaitStrategy,
    _slot: PhantomData<fn(T) -> T>,
}

impl<T: DataHubSlot> Producer<T> {
    /// Creates the channel `config` describes, with slot type `T`. Fails
    /// with [`Error::ChannelExists`] when it already has a segment.
    pub fn create(config: &ChannelConfig) -> Result<Self, Error> {
        config.check()?;
        if align_of::<T>() > 64 {
            return Err(Error::InvalidConfig {
                problem: format!(
                    "slot types are aligned to at most 64 bytes, `T` needs {}",
                    align_of::<T>()
                ),
            });
        }
        let capacity = u64::from(config.capacity);
        let blueprint = Blueprint {
            channel: &config.name,
            params: Params {
                capacity,
                max_consumers: u64::from(config.max_consumers),
                slot_size: size_of::<T>() as u64,
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
            slot_kind: 0,
            zones: config
                .zones
                .iter()
                .map(|z| (z.name.as_str(), z.locked, *z.hash.as_bytes()))
                .collect(),
            channel_hash: *config.channel_hash::<T>().as_bytes(),
            slot_hash: *T::SCHEMA_HASH.as_bytes(),
            secret_tag: None,
            mode: config.mode,
            created_ns: os::monotonic_ns(),
            stall_timeout_ns: u64::try_from(config.stall_timeout.as_nanos()).unwrap_or(u64::MAX),
        };
        let schema = SchemaStrings {
            slot: T::DESC.canonical(),
            zones: config.zones.iter().map(|z| z.canonical.clone()).collect(),
        };
        let me = os::current_process();
        let segment = Segment::create(&blueprint, &schema, me)?;
        Ok(Self {
            segment: Arc::new(segment),
            next_seq: 0,
            me,
            overflow: config.overflow,
            checksum: config.checksum,
            strategy: WaitStrategy::default(),
            _slot: PhantomData,
        })
    }

    /// The channel's name.
    pub fn channel(&self) -> &str {
        self.segment.channel()
    }

    /// The lock-free zone `name`, typed `Z`: a handle that derefs to `&Z`
    /// and does not borrow the producer (hold it while acquiring slots).
    /// Fails with [`Error::WrongZone`] when the channel has no lock-free
    /// zone of that name, and with [`Error::SchemaMismatch`] when its type
    /// is not `Z`.
    pub fn zone<Z: DataHubZone>(&self, name: &str) -> Result<Zone<Z>, Error> {
        Zone::open(&self.segment, name)
    }

    /// The locked zone `name`, typed `T`: a handle whose
    /// [`lock`](LockedZone::lock) gives a guard over the zone's value.
    pub fn locked_zone<Z: DataHubSlot>(&self, name: &str) -> Result<LockedZone<Z>, Error> {
        LockedZone::open(&self.segment, name)
    }

    /// Consumers attached now.
    pub fn consumer_count(&self) -> usize {
        self.segment.ring().consumer_count()
    }

    /// The sequence number the next committed slot will carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// How blocked calls wait (default: spin, yield, then nap).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }

    /// Claims the next slot for writing in place, waiting up to `timeout`
    /// for room (lossless mode: the slowest consumer) and for any reader
    /// still reading the slot's previous item. Commit with
    /// [`WriteSlot::commit`]; dropping the slot without committing aborts it.
    pub fn acquire(&mut self, timeout: Duration) -> Result<WriteSlot<'_, T>, Error> {
        let q = self.next_seq;
        let started = std::time::Instant::now();
        let ring = self.segment.ring();
        let mut blocked = None;
        if self.overflow == Overflow::Block {
            let room = wait_until(self.strategy, timeout, None, || match ring.check_room(q) {
                Ok(()) => Some(()),
                Err(why) => {
                    blocked = Some(why);
                    None
                }
            });
            if room.is_none() {
                return Err(self.timeout(started, blocked));
            }
        }
        let previous = ring.claim(q, self.me.pid);
        let remaining = timeout.saturating_sub(started.elapsed());
        let marks = wait_until(self.strategy, remaining, None, || {
            match ring.check_marks(q) {
                Ok(()) => Some(()),
                Err(why) => {
                    blocked = Some(why);
                    None
                }
            }
        });
        if marks.is_none() {
            if ring.cancel_claim(q, previous) {
                os::futex_wake_all(&ring.commit.futex);
            }
            return Err(self.timeout(started, blocked));
        }
        let index = ring.slot_index(q);
        Ok(WriteSlot {
            producer: self,
            seq: q,
            index,
            done: false,
        })
    }

    /// Writes the next slot in place with `fill` and commits it; returns its
    /// sequence number.
    pub fn write_with(
        &mut self,
        timeout: Duration,
        fill: impl FnOnce(&mut T),
    ) -> Result<u64, Error> {
        let mut slot = self.acquire(timeout)?;
        fill(&mut slot);
        let seq = slot.seq();
        slot.commit();
        Ok(seq)
    }

    fn timeout(&self, started: std::time::Instant, blocked: Option<WriteBlocked>) -> Error {
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
        Error::Timeout {
            channel: self.channel().to_owned(),
            waited: started.elapsed(),
            cause,
        }
    }

    fn ring(&self) -> Ring<'_> {
        self.segment.ring()
    }

    fn payload(&self, index: usize) -> *mut T {
        self.segment.slot_ptr(index).cast::<T>()
    }
}

impl<T: DataHubSlot> Drop for Producer<T> {
    /// Closes the channel: consumers read what was committed, then get
    /// [`Error::Closed`]; the name is removed so a new producer can create
    /// it. (A producer that dies without dropping leaves the segment for a
    /// successor to take over or `datahub cleanup` to remove.)
    fn drop(&mut self) {
        // Release: pairs with the Acquire load of `init_state` in the
        // consumers' waits, after every commit of this producer.
        self.segment.init_state().store(
            crate::segment::header::INIT_CLOSED,
            crate::sync::Ordering::Release,
        );
        // Wake sleepers so they see CLOSED now rather than at their next re-check.
        self.ring()
            .commit
            .futex
            .fetch_add(1, crate::sync::Ordering::Release);
        os::futex_wake_all(&self.ring().commit.futex);
        let _ = os::unlink(self.segment.channel());
    }
}

/// A claimed slot, written in place through `DerefMut<Target = T>`.
/// [`commit`](WriteSlot::commit) publishes it; dropping it without commit
/// aborts it (the slot then holds nothing readable).
pub struct WriteSlot<'a, T: DataHubSlot> {
    producer: &'a mut Producer<T>,
    seq: u64,
    index: usize,
    done: bool,
}

impl<T: DataHubSlot> WriteSlot<'_, T> {
    /// The sequence number this slot will carry.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Records the slot's checksum now (`ChecksumPolicy::Manual`; enforced
    /// checksums are computed at commit). Does nothing without checksums.
    pub fn update_checksum(&mut self) {
        if let Some(entries) = self.producer.segment.checksums() {
            let payload = self.bytes();
            let digest = checksum::digest(None, self.seq, payload);
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
        if producer
            .ring()
            .commit(self.seq, size_of::<T>() as u64, os::monotonic_ns())
        {
            os::futex_wake_all(&producer.ring().commit.futex);
        }
        producer.next_seq = self.seq + 1;
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the claimed slot is `size_of::<T>()` bytes inside the
        // mapping, ours until commit or abort; a DataHubSlot has no padding,
        // so every byte is initialized.
        unsafe {
            std::slice::from_raw_parts(
                self.producer.payload(self.index).cast::<u8>(),
                size_of::<T>(),
            )
        }
    }
}

impl<T: DataHubSlot> Deref for WriteSlot<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the slot is claimed by this producer and no reader holds
        // it (check_marks); it is aligned (slots are 64-aligned, T's align
        // is at most 64) and every bit pattern is a T (DataHubSlot).
        unsafe { &*self.producer.payload(self.index) }
    }
}

impl<T: DataHubSlot> DerefMut for WriteSlot<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { &mut *self.producer.payload(self.index) }
    }
}

impl<T: DataHubSlot> Drop for WriteSlot<'_, T> {
    fn drop(&mut self) {
        if !self.done && self.producer.ring().abort(self.seq) {
            os::futex_wake_all(&self.producer.ring().commit.futex);
        }
    }
}
