//! A claimed slot whose older bytes cannot be read: it is written whole
//! ([`Loan::write`]) into a [`WriteSlot`] to commit, or given back.

use super::{Claimed, Producer, WriteSlot};
use crate::error::Error;
use crate::payload::{Bytes, Payload};
use crate::segment::os;
use crate::types::DataHubSlot;

/// The next slot, claimed by [`Producer::loan`]. It still holds an older
/// item's bytes, so it has no `Deref`: [`write`](Loan::write) fills it
/// whole and gives the [`WriteSlot`] to commit. Dropped unwritten, the slot
/// goes back as it was (its older item stays readable by consumers that
/// lag) and the sequence number is not used.
#[must_use = "a loan dropped unwritten gives its slot back"]
pub struct Loan<'a, P: Payload> {
    /// `None` once the loan became a `WriteSlot`.
    producer: Option<&'a mut Producer<P>>,
    claimed: Claimed,
}

impl<'a, P: Payload> Loan<'a, P> {
    pub(super) fn new(producer: &'a mut Producer<P>, claimed: Claimed) -> Self {
        Self {
            producer: Some(producer),
            claimed,
        }
    }

    /// The sequence number the item will carry.
    pub fn seq(&self) -> u64 {
        self.claimed.seq
    }

    /// The slot, to write and commit: its bytes are the new item's from
    /// here on (the caller wrote all `len` of them).
    fn into_slot(mut self, len: usize) -> WriteSlot<'a, P> {
        let producer = self
            .producer
            .take()
            .expect("a loan is turned into its slot once (it is consumed)");
        WriteSlot {
            producer,
            seq: self.claimed.seq,
            index: self.claimed.index,
            len,
            done: false,
        }
    }

    /// The first byte of the claimed slot, and its size.
    fn slot(&self) -> (*mut u8, usize) {
        let producer = self
            .producer
            .as_ref()
            .expect("a live loan has its producer");
        (
            producer.segment.slot_ptr(self.claimed.index),
            producer.slot_size,
        )
    }
}

impl<'a, T: DataHubSlot> Loan<'a, T> {
    /// Writes `value` into the slot; commit the returned slot to publish it.
    pub fn write(self, value: T) -> WriteSlot<'a, T> {
        let (start, _) = self.slot();
        // The slot is claimed by this producer and no reader holds it
        // (`check_marks`); it is `size_of::<T>()` bytes inside the mapping,
        // 64-aligned, and `T`'s align is at most 64 (checked at create).
        // SAFETY: in bounds, aligned, ours alone; `T: Copy` has no drop to skip.
        unsafe { start.cast::<T>().write(value) };
        self.into_slot(size_of::<T>())
    }

    /// Zeroes the slot (every `DataHubSlot` type has all-zero bytes as a
    /// value): for an item written field by field afterwards.
    pub fn zeroed(self) -> WriteSlot<'a, T> {
        let (start, size) = self.slot();
        // SAFETY: as in `write`, for the slot's `size` bytes.
        unsafe { start.write_bytes(0, size) };
        self.into_slot(size)
    }
}

impl<'a> Loan<'a, Bytes> {
    /// Copies `bytes` into the slot; the item carries exactly them. Fails
    /// with [`ErrorKind::PayloadTooLarge`](crate::ErrorKind::PayloadTooLarge) (and gives the slot back) when they
    /// do not fit.
    pub fn write(self, bytes: &[u8]) -> Result<WriteSlot<'a, Bytes>, Error> {
        let start = self.first_bytes(bytes.len())?;
        // SAFETY: as in the typed `write`: `bytes.len() <= size` bytes of
        // our claimed slot; `bytes` is the caller's memory, not the slot's.
        unsafe { start.copy_from_nonoverlapping(bytes.as_ptr(), bytes.len()) };
        Ok(self.into_slot(bytes.len()))
    }

    /// Zeroes the first `len` bytes of the slot, the item's (at most the
    /// slot size; more fails with [`ErrorKind::PayloadTooLarge`](crate::ErrorKind::PayloadTooLarge)).
    pub fn zeroed(self, len: usize) -> Result<WriteSlot<'a, Bytes>, Error> {
        let start = self.first_bytes(len)?;
        // SAFETY: as in `write`, for `len <= size` bytes.
        unsafe { start.write_bytes(0, len) };
        Ok(self.into_slot(len))
    }

    /// The slot's first byte, once `len` bytes are known to fit in it
    /// (`PayloadTooLarge` otherwise: dropping the loan gives the slot back).
    fn first_bytes(&self, len: usize) -> Result<*mut u8, Error> {
        let producer = self
            .producer
            .as_ref()
            .expect("a live loan has its producer");
        producer.check_fits(len)?;
        Ok(self.slot().0)
    }
}

impl<P: Payload> std::fmt::Debug for Loan<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loan")
            .field("seq", &self.claimed.seq)
            .finish_non_exhaustive()
    }
}

impl<P: Payload> Drop for Loan<'_, P> {
    fn drop(&mut self) {
        let Some(producer) = self.producer.take() else {
            return;
        };
        // Nothing was written: the slot goes back to its older item, and a
        // reader waiting on the claim (`WRITING` with that item's number)
        // is woken to take it after all.
        let ring = producer.ring();
        if ring.cancel_claim(self.claimed.seq, self.claimed.previous) {
            os::futex_wake_all(&ring.commit.futex);
        }
    }
}
