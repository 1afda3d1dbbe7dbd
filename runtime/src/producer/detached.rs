//! Slots held apart from their producer: what a language binding keeps in
//! an object of its own (a Python slot, a C struct), where a borrow of the
//! producer cannot live. [`WriteSlot::detach`] gives a [`DetachedWrite`];
//! [`Producer::reattach`] takes it back as the `WriteSlot` to commit or
//! abort. The producer records which slot is out, so a stale, copied or
//! foreign one is refused ([`ErrorKind::Stale`]), not obeyed, and no other
//! slot is claimed meanwhile ([`ErrorKind::SlotHeld`]).

use super::{Producer, WriteSlot};
use crate::error::{Error, ErrorKind};
use crate::metrics::Counter;
use crate::payload::{Described, Payload, SlotKind};
use crate::segment::os;

/// A claimed slot, detached from the producer that claimed it (see the
/// module's docs; a copy is plain data: the first one handed back is
/// taken, the others are refused). Dropping it does not abort the slot: hand it back with
/// [`Producer::reattach`] (or drop the producer, which aborts it).
///
/// ```
/// use std::time::Duration;
/// use datahub::{ChannelConfig, Consumer, Producer};
///
/// # let name = format!("doc-detached-{}", std::process::id());
/// let mut p = Producer::<u64>::create(&ChannelConfig::new(&name))?;
/// let c = Consumer::<u64>::attach(&name)?;
/// let held = p.acquire(Duration::from_millis(100))?.detach();
/// // SAFETY: the slot is claimed and held: 8 bytes of the mapping, ours.
/// unsafe { held.as_ptr().cast::<u64>().write(42) };
/// assert!(p.acquire(Duration::ZERO).is_err());          // one slot at a time
/// p.reattach(held)?.commit();
/// assert_eq!(*c.next(Duration::from_secs(1))?, 42);
/// # Ok::<(), datahub::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a detached slot stays claimed until it is reattached and committed or aborted"]
pub struct DetachedWrite {
    /// The producer's handle id: which producer it belongs to.
    owner: u64,
    seq: u64,
    index: usize,
    len: usize,
    /// The slot's first byte, as an address (`Send`).
    start: usize,
    capacity: usize,
}

impl DetachedWrite {
    /// The sequence number the slot will carry.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The slot's first byte: `capacity()` bytes that only the holder of
    /// this slot writes, until it is reattached, and that stay mapped
    /// while the producer (or a [`Mapping`](crate::Mapping) of it) lives.
    /// Reading or writing them is the caller's `unsafe`.
    pub fn as_ptr(&self) -> *mut u8 {
        self.start as *mut u8
    }

    /// Bytes of the slot.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<P: Payload> WriteSlot<'_, P> {
    /// Detaches the slot from the producer's borrow, still claimed: see
    /// [`DetachedWrite`].
    pub fn detach(mut self) -> DetachedWrite {
        self.done = true;
        self.producer.detached = Some(self.seq);
        DetachedWrite {
            owner: self.producer.id,
            seq: self.seq,
            index: self.index,
            len: self.len,
            start: self.start() as usize,
            capacity: self.producer.slot_size,
        }
    }
}

impl<P: Payload> Producer<P> {
    /// Takes back a slot [`detach`](WriteSlot::detach)ed from this
    /// producer, as the `WriteSlot` to commit or (by dropping it) abort.
    /// Fails with [`ErrorKind::Stale`] when it is not this producer's
    /// slot out now (already handed back, or another producer's).
    pub fn reattach(&mut self, slot: DetachedWrite) -> Result<WriteSlot<'_, P>, Error> {
        let ours = slot.owner == self.id;
        if !ours || self.detached != Some(slot.seq) {
            return Err(ErrorKind::Stale {
                channel: self.channel().to_owned(),
                what: format!("the write slot for item {}", slot.seq),
                why: if ours {
                    "it was committed or aborted".into()
                } else {
                    "it belongs to another producer".into()
                },
            }
            .into());
        }
        self.detached = None;
        Ok(WriteSlot {
            producer: self,
            seq: slot.seq,
            index: slot.index,
            len: slot.len,
            done: false,
        })
    }

    /// The detached slot's sequence number, if one is out: the claim a
    /// new `acquire` would collide with.
    pub(super) fn check_none_detached(&self) -> Result<(), Error> {
        match self.detached {
            None => Ok(()),
            Some(seq) => Err(ErrorKind::SlotHeld {
                channel: self.channel().to_owned(),
                seq,
            }
            .into()),
        }
    }

    /// Aborts the detached slot, if one is out (the producer is dropped).
    pub(super) fn abort_detached(&mut self) {
        if let Some(seq) = self.detached.take() {
            if self.ring().abort(seq) {
                os::futex_wake_all(&self.ring().commit.futex);
            }
            self.segment
                .live()
                .metrics
                .add_own(Counter::ItemsAborted, 1);
        }
    }
}

impl WriteSlot<'_, Described> {
    /// Bytes of payload the item will carry.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the item will carry no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets how many of the slot's bytes the item carries, on a raw-bytes
    /// channel. Fails with [`ErrorKind::PayloadTooLarge`] beyond the
    /// slot, and with [`ErrorKind::InvalidArgument`] on a typed channel
    /// (a typed item is the whole slot).
    pub fn set_len(&mut self, len: usize) -> Result<(), Error> {
        let producer = &*self.producer;
        if producer.slot.kind() != SlotKind::Bytes {
            if len == producer.slot_size {
                return Ok(());
            }
            return Err(ErrorKind::InvalidArgument {
                channel: producer.channel().to_owned(),
                problem: format!(
                    "an item of {len} bytes on a typed channel: its items are the whole slot type \
                     (`{}`, {} bytes)",
                    producer.slot.canonical(),
                    producer.slot_size
                ),
            }
            .into());
        }
        producer.check_fits(len)?;
        self.len = len;
        Ok(())
    }
}
