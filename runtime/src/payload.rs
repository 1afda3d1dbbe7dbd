//! What a channel's slots hold: a typed [`DataHubSlot`] struct, raw
//! [`Bytes`] of a fixed maximum size with a length per item, or slots
//! [`Described`] at run time by a [`SlotLayout`] (a schema's, or the
//! segment's): what the Python and C bindings use.

use datahub_schema::canon::Canon;

use crate::error::{Error, ErrorKind};
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
    /// The segment's `slot_kind`: 0 typed, 1 raw bytes (for [`Described`],
    /// unused: its layout says).
    const KIND: u8;

    #[doc(hidden)]
    /// Whether the layout comes at run time ([`Described`]): then the
    /// static methods below are not used.
    const DESCRIBED: bool = false;

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

/// Slots whose layout is known only at run time, from a [`SlotLayout`]: a
/// schema's ([`ChannelConfig::from_schema`](crate::ChannelConfig::from_schema)),
/// or, for a consumer that gives none, the one the segment records. A slot
/// derefs to its bytes (`[u8]`: the whole slot for a typed layout, the
/// item's length for raw bytes). The Python and C bindings are built on it.
///
/// ```
/// use std::time::Duration;
/// use datahub::{ChannelConfig, Consumer, DataHubSlot, Described, Producer, SlotLayout};
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Sample { seq: u64, value: f64 }
///
/// let name = format!("doc-described-{}", std::process::id());
/// let layout = SlotLayout::typed("{16/8:seq:u64@0,value:f64@8}")?;
/// assert_eq!(layout, SlotLayout::of::<Sample>());
/// let mut p = Producer::<Described>::create(&ChannelConfig::new(&name).slot_layout(layout))?;
/// let c = Consumer::<Sample>::attach(&name)?;   // the same hash as the typed one's
/// let mut w = p.acquire(Duration::from_millis(100))?;
/// w[..8].copy_from_slice(&7u64.to_ne_bytes());
/// w.commit();
/// assert_eq!(c.next(Duration::from_secs(1))?.seq, 7);
/// # Ok::<(), datahub::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Described {}

impl sealed::Sealed for Described {}

impl Payload for Described {
    type View = [u8];
    const KIND: u8 = 0;
    const DESCRIBED: bool = true;

    fn fixed_size() -> Option<u64> {
        None
    }

    fn align() -> usize {
        1
    }

    fn canonical(slot_size: u64) -> String {
        Bytes::canonical(slot_size)
    }

    fn hash(slot_size: u64) -> SchemaHash {
        Bytes::hash(slot_size)
    }

    fn view(ptr: *mut u8, len: usize) -> *mut [u8] {
        std::ptr::slice_from_raw_parts_mut(ptr, len)
    }
}

/// What a channel's slots hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SlotKind {
    /// A type described by a schema (its canonical form is recorded).
    Typed,
    /// Raw bytes of at most the slot size.
    Bytes,
}

impl SlotKind {
    /// The word `datahub inspect` prints (and JSON carries).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Typed => "typed",
            Self::Bytes => "bytes",
        }
    }
}

impl std::fmt::Display for SlotKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The layout of a channel's slots, known at run time: its kind (a typed
/// struct, or raw bytes), size, alignment, canonical form and type hash
/// (`docs/schema.md`, "Canonical form and hashes").
///
/// ```
/// use datahub::{SlotKind, SlotLayout};
///
/// let frame = SlotLayout::typed("{16/8:t:u64@0,v:[f32;2]@8}")?;
/// assert_eq!((frame.kind(), frame.size(), frame.align()), (SlotKind::Typed, 16, 8));
/// let raw = SlotLayout::bytes(4096);
/// assert_eq!((raw.kind(), raw.canonical()), (SlotKind::Bytes, "[u8;4096]"));
/// assert!(SlotLayout::typed("{16/8:t:u64@0").is_err());
/// # Ok::<(), datahub::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotLayout {
    kind: SlotKind,
    size: u64,
    align: u64,
    canonical: String,
    hash: SchemaHash,
}

impl SlotLayout {
    /// Raw bytes slots of `size` bytes (`slot = "bytes"`).
    pub fn bytes(size: u64) -> Self {
        Self {
            kind: SlotKind::Bytes,
            size,
            align: 1,
            canonical: Bytes::canonical(size),
            hash: Bytes::hash(size),
        }
    }

    /// Typed slots of the type whose canonical form is `canonical` (a
    /// struct `{SIZE/ALIGN:...}`, an array or a primitive). Fails with
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) when it is not a canonical form, has
    /// atomics (slots hold plain data) or is empty.
    pub fn typed(canonical: &str) -> Result<Self, Error> {
        let invalid = |problem: String| Err(ErrorKind::InvalidConfig { problem }.into());
        let Some(canon) = Canon::parse(canonical) else {
            return invalid(format!(
                "`{canonical}` is not a canonical layout (`{{SIZE/ALIGN:NAME:TYPE@OFFSET,...}}`, \
                 as `datahub-codegen hash` prints)"
            ));
        };
        if has_atomics(&canon) {
            return invalid(format!(
                "`{canonical}` has atomics: slots hold plain data (atomics belong in a zone)"
            ));
        }
        let size = canon.size();
        if size == 0 {
            return invalid(format!(
                "`{canonical}` has no bytes: a slot holds at least 1"
            ));
        }
        Ok(Self {
            kind: SlotKind::Typed,
            size,
            align: canon_align(&canon),
            hash: SchemaHash::of_type_canon(canonical),
            canonical: canonical.to_owned(),
        })
    }

    /// The layout of slots of `T`.
    pub fn of<T: DataHubSlot>() -> Self {
        Self::of_payload::<T>(0)
    }

    /// The layout of `P`'s slots, for a raw-bytes `P` of `slot_size` bytes
    /// (not for [`Described`], whose layout is not static).
    pub(crate) fn of_payload<P: Payload>(slot_size: u64) -> Self {
        let size = P::fixed_size().unwrap_or(slot_size);
        Self {
            kind: if P::KIND == Bytes::KIND {
                SlotKind::Bytes
            } else {
                SlotKind::Typed
            },
            size,
            align: P::align() as u64,
            canonical: P::canonical(size),
            hash: P::hash(size),
        }
    }

    /// A typed struct or raw bytes.
    pub fn kind(&self) -> SlotKind {
        self.kind
    }

    /// Bytes per slot.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The slot type's alignment in bytes (1 for raw bytes).
    pub fn align(&self) -> u64 {
        self.align
    }

    /// The canonical form (`[u8;N]` for raw bytes).
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The type hash of the canonical form.
    pub fn hash(&self) -> SchemaHash {
        self.hash
    }

    /// The segment's `slot_kind` byte.
    pub(crate) fn kind_byte(&self) -> u8 {
        match self.kind {
            SlotKind::Bytes => Bytes::KIND,
            _ => 0,
        }
    }

    /// The layout a segment records, checked for consistency (its
    /// canonical form must parse, hash to the recorded slot hash and have
    /// the slot's size), as the bindings that build views from it need:
    /// `Err(problem)` otherwise.
    pub(crate) fn recorded(
        kind: u8,
        size: u64,
        canonical: &str,
        hash: SchemaHash,
    ) -> Result<Self, String> {
        let layout = if kind == Bytes::KIND {
            Self::bytes(size)
        } else {
            Self::typed(canonical).map_err(|e| e.to_string())?
        };
        if layout.canonical != canonical || layout.hash != hash || layout.size != size {
            return Err(format!(
                "slot type `{canonical}` of {size} bytes with hash {hash}, which do not agree"
            ));
        }
        if layout.align > 64 {
            return Err(format!(
                "slot type `{canonical}` aligned to {}",
                layout.align
            ));
        }
        Ok(layout)
    }
}

/// The alignment of a parsed canonical type.
fn canon_align(canon: &Canon) -> u64 {
    match canon {
        Canon::Struct(s) => s.align,
        Canon::Array { elem, .. } => canon_align(elem),
        Canon::Primitive(p) => p.size(),
        _ => 1,
    }
}

/// Whether a parsed canonical type holds an atomic anywhere.
fn has_atomics(canon: &Canon) -> bool {
    match canon {
        Canon::Struct(s) => s.fields.iter().any(|f| has_atomics(&f.ty)),
        Canon::Array { elem, .. } => has_atomics(elem),
        Canon::Primitive(p) => p.is_atomic(),
        _ => false,
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
