//! What a channel's slots hold: a typed [`DataHubSlot`] struct, or raw
//! [`Bytes`] of a fixed maximum size with a length per item.

use crate::types::{DataHubSlot, SchemaHash};

mod sealed {
    pub trait Sealed {}
}

/// The payload of a channel's slots, the type parameter of
/// [`Producer`](crate::Producer) and [`Consumer`](crate::Consumer): every
/// [`DataHubSlot`] type (a slot derefs to `T`), or [`Bytes`] (a slot derefs
/// to `[u8]`). Sealed: implemented by the crate only.
pub trait Payload: sealed::Sealed + 'static {
    /// What a slot derefs to: `T`, or `[u8]` for [`Bytes`].
    type View: ?Sized;

    #[doc(hidden)]
    /// The segment's `slot_kind`: 0 typed, 1 raw bytes.
    const KIND: u8;

    #[doc(hidden)]
    /// The slot size the type fixes (`None` for bytes: the configuration's).
    fn fixed_size() -> Option<u64>;

    #[doc(hidden)]
    /// The slot's alignment.
    fn align() -> usize;

    #[doc(hidden)]
    /// The canonical form of the slot type, for a slot of `slot_size` bytes.
    fn canonical(slot_size: u64) -> String;

    #[doc(hidden)]
    /// The schema hash of the slot type, for a slot of `slot_size` bytes.
    fn hash(slot_size: u64) -> SchemaHash;

    #[doc(hidden)]
    /// The view of `len` payload bytes at `ptr` (a slot's first byte).
    fn view(ptr: *mut u8, len: usize) -> *mut Self::View;
}

impl<T: DataHubSlot> sealed::Sealed for T {}

impl<T: DataHubSlot> Payload for T {
    type View = T;
    const KIND: u8 = 0;

    fn fixed_size() -> Option<u64> {
        Some(size_of::<T>() as u64)
    }

    fn align() -> usize {
        align_of::<T>()
    }

    fn canonical(_: u64) -> String {
        T::DESC.canonical()
    }

    fn hash(_: u64) -> SchemaHash {
        T::SCHEMA_HASH
    }

    fn view(ptr: *mut u8, _: usize) -> *mut T {
        ptr.cast()
    }
}

/// Raw byte slots (`slot = "bytes"` in a schema): each slot holds up to
/// `slot_size` bytes (set with [`ChannelConfig::slot_size`](crate::ChannelConfig::slot_size)),
/// and each item records how many it uses, for frames whose size varies.
///
/// ```
/// use std::time::Duration;
/// use datahub::{Bytes, ChannelConfig, Consumer, Producer};
///
/// let name = format!("doc-bytes-{}", std::process::id());
/// let mut p = Producer::<Bytes>::create(&ChannelConfig::new(&name).slot_size(1024))?;
/// let mut c = Consumer::<Bytes>::attach(&name)?;
/// let mut w = p.acquire(Duration::from_millis(100))?;
/// assert_eq!(w.len(), 1024);           // the whole slot, to write into
/// w[..5].copy_from_slice(b"hello");
/// w.set_len(5);                        // what this item uses
/// w.commit();
/// p.write_bytes(Duration::from_millis(100), b"world!")?;
/// assert_eq!(&*c.next(Duration::from_secs(1))?, b"hello");
/// assert_eq!(&*c.next(Duration::from_secs(1))?, b"world!");
/// # Ok::<(), datahub::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bytes {}

impl sealed::Sealed for Bytes {}

impl Payload for Bytes {
    type View = [u8];
    const KIND: u8 = 1;

    fn fixed_size() -> Option<u64> {
        None
    }

    fn align() -> usize {
        1
    }

    fn canonical(slot_size: u64) -> String {
        format!("[u8;{slot_size}]")
    }

    fn hash(slot_size: u64) -> SchemaHash {
        SchemaHash::of_type_canon(&Self::canonical(slot_size))
    }

    fn view(ptr: *mut u8, len: usize) -> *mut [u8] {
        std::ptr::slice_from_raw_parts_mut(ptr, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DataHubType;

    #[test]
    fn a_bytes_slot_hashes_like_a_byte_array_and_a_schema_bytes_channel() {
        assert_eq!(Bytes::hash(8), <[u8; 8] as DataHubType>::SCHEMA_HASH);
        let schema = datahub_schema::Schema::parse(
            "format = 1\n[channels.c]\nslot = \"bytes\"\nslot_size = 4096\n",
            "t.toml",
        )
        .unwrap();
        let channel = schema.channel("c").unwrap();
        assert_eq!(channel.slot_canonical(), Bytes::canonical(4096));
    }
}
