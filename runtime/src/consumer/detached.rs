//! Items held apart from their consumer: what a language binding keeps in
//! an object of its own (a Python item, a C struct), where a borrow of the
//! consumer cannot live. [`ReadSlot::detach`] gives a [`DetachedRead`];
//! [`Consumer::reattach`] takes it back as the `ReadSlot` whose drop
//! releases it. The consumer records which item is out, so a stale,
//! copied or foreign one is refused ([`ErrorKind::Stale`]), and only one
//! of two threads handing back copies of it wins.

use std::mem::ManuallyDrop;
use std::sync::atomic::Ordering::Relaxed;

use super::{Consumer, NOT_READING, ReadSlot};
use crate::error::{Error, ErrorKind};
use crate::payload::Payload;

/// An item read, detached from the consumer that read it (see the
/// module's docs; a copy is plain data: the first one handed back is
/// taken, the others are refused). Its slot stays held (the producer cannot reuse it)
/// until it is handed back with [`Consumer::reattach`] and dropped, or the
/// consumer is dropped; dropping the `DetachedRead` itself does neither.
///
/// ```
/// use std::time::Duration;
/// use datahub::{ChannelConfig, Consumer, Producer};
///
/// # let name = format!("doc-detached-read-{}", std::process::id());
/// let mut p = Producer::<u64>::create(&ChannelConfig::new(&name))?;
/// let c = Consumer::<u64>::attach(&name)?;
/// p.send(42)?;
/// let held = c.next(Duration::from_secs(1))?.detach();
/// // SAFETY: the item is held: 8 bytes of the mapping no one writes now.
/// assert_eq!(unsafe { held.as_ptr().cast::<u64>().read() }, 42);
/// let item = c.reattach(held)?;
/// assert_eq!(*item, 42);
/// drop(item);                                   // released
/// # Ok::<(), datahub::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a detached item holds its slot until it is reattached and dropped"]
pub struct DetachedRead {
    /// The consumer's handle id: which consumer it belongs to.
    owner: u64,
    seq: u64,
    index: usize,
    len: usize,
    lost_before: u64,
    /// The item's first byte, as an address (`Send`).
    start: usize,
}

impl DetachedRead {
    /// The item's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Items lost (overwritten unread) just before this one.
    pub fn lost_before(&self) -> u64 {
        self.lost_before
    }

    /// The item's first byte: `len()` bytes that no one writes until it is
    /// released, and that stay mapped while the consumer (or a
    /// [`Mapping`](crate::Mapping) of it) lives. Reading them is the
    /// caller's `unsafe`; writing them is never allowed.
    pub fn as_ptr(&self) -> *const u8 {
        self.start as *const u8
    }

    /// Bytes of the item (the slot size for typed slots).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the item has no bytes (an empty raw-bytes item).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<P: Payload> ReadSlot<'_, P> {
    /// Detaches the item from the consumer's borrow, still held: see
    /// [`DetachedRead`].
    pub fn detach(self) -> DetachedRead {
        // Not dropped: the read stays marked until `reattach`.
        let slot = ManuallyDrop::new(self);
        // Relaxed: this handle's own word, ordered for other threads by
        // the `reading` flag's Release when the item is released.
        slot.consumer.detached.store(slot.seq, Relaxed);
        DetachedRead {
            owner: slot.consumer.id,
            seq: slot.seq,
            index: slot.index,
            len: slot.len,
            lost_before: slot.lost_before,
            start: slot.start() as usize,
        }
    }
}

impl<P: Payload> Consumer<P> {
    /// Takes back an item [`detach`](ReadSlot::detach)ed from this
    /// consumer, as the `ReadSlot` whose drop releases it. Fails with
    /// [`ErrorKind::Stale`] when it is not this consumer's item out now
    /// (already handed back, or another consumer's).
    pub fn reattach(&self, item: DetachedRead) -> Result<ReadSlot<'_, P>, Error> {
        let ours = item.owner == self.id;
        // Relaxed: the compare-exchange alone decides which of two copies
        // of the item wins; the read's memory effects are ordered by the
        // read mark, which only the winner releases.
        if !ours
            || self
                .detached
                .compare_exchange(item.seq, NOT_READING, Relaxed, Relaxed)
                .is_err()
        {
            return Err(ErrorKind::Stale {
                channel: self.channel().to_owned(),
                what: format!("the item {}", item.seq),
                why: if ours {
                    "it was released".into()
                } else {
                    "it belongs to another consumer".into()
                },
            }
            .into());
        }
        Ok(ReadSlot {
            consumer: self,
            seq: item.seq,
            index: item.index,
            len: item.len,
            lost_before: item.lost_before,
        })
    }
}
