//! The type system: which Rust types may live in shared memory, their
//! layout descriptors, canonical form and schema hashes (`docs/schema.md`).
//!
//! - [`DataHubType`]: a type with a known, padding-free layout that every bit
//!   pattern makes valid, and its descriptor and hash.
//! - [`DataHubSlot`]: plain data for ring slots and locked zones.
//! - [`DataHubZone`]: atomics only, for lock-free zones.
//!
//! The primitives, the atomics and arrays implement them here; structs get
//! them from `#[derive(DataHubSlot)]` / `#[derive(DataHubZone)]`.

mod atomics;
mod desc;
pub(crate) mod hash;

use core::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicU8, AtomicU16, AtomicU32, AtomicU64,
};

pub use atomics::{AtomicF32, AtomicF64};
pub use datahub_schema::SchemaHash;
pub use desc::{FieldDesc, Prim, TypeDesc};
pub use hash::{schema_hash, type_hash};

/// A type that can live in DataHub shared memory, with the descriptor its
/// canonical form and schema hash come from.
///
/// Implemented for `u8`..`u64`, `i8`..`i64`, `f32`, `f64`, the atomics of
/// `core::sync::atomic` (`AtomicU8`..`AtomicI64`), [`AtomicF32`],
/// [`AtomicF64`], `[T; N]` of any of them, and structs with
/// `#[derive(DataHubSlot)]` or `#[derive(DataHubZone)]`.
///
/// ```
/// use datahub::{DataHubType, canonical_of};
///
/// assert_eq!(canonical_of::<[u16; 3]>(), "[u16;3]");
/// let h = <[u16; 3] as DataHubType>::SCHEMA_HASH;
/// assert_eq!(h, datahub::SchemaHash::of_type_canon("[u16;3]"));
/// ```
///
/// # Safety
///
/// Implement it only through the derives. An implementation promises that
/// `Self` has exactly the layout [`DESC`](Self::DESC) describes (size,
/// alignment, every field's type and offset), has no padding bytes, holds no
/// pointers, and is valid for every bit pattern, since a peer process may
/// write any bytes into shared memory.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a DataHub type",
    label = "not a DataHub type",
    note = "DataHub types are u8..u64, i8..i64, f32, f64, the atomics AtomicU8..AtomicI64, datahub::AtomicF32, datahub::AtomicF64, arrays `[T; N]` of them, and `#[repr(C)]` structs with `#[derive(DataHubSlot)]` or `#[derive(DataHubZone)]`"
)]
pub unsafe trait DataHubType: Sized + 'static {
    /// How the type is laid out; its canonical form is `DESC.canonical()`.
    const DESC: &'static TypeDesc;

    /// The type hash `BLAKE2b-256("datahub.type.v1 " + canon)`, computed by
    /// rustc from [`DESC`](Self::DESC). Equal to
    /// `SchemaHash::of_type_canon(&canonical_of::<Self>())` and to the hash
    /// `datahub-schema` gives the equivalent TOML struct. Never override it.
    const SCHEMA_HASH: SchemaHash = type_hash(Self::DESC);
}

/// Plain data: a type for ring slots and locked zones.
///
/// Numbers, arrays of them, and `#[repr(C)]` structs of them with
/// `#[derive(Clone, Copy, DataHubSlot)]`. No atomics, no `bool`, `char`,
/// enums, pointers or references: every bit pattern is a valid value.
///
/// ```
/// use datahub::{DataHubSlot, DataHubType};
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Sample {
///     timestamp_ns: u64,
///     value: f32,
///     channel: u32,
/// }
///
/// assert_eq!(
///     datahub::canonical_of::<Sample>(),
///     "{16/8:timestamp_ns:u64@0,value:f32@8,channel:u32@12}"
/// );
/// # let _ = <Sample as DataHubType>::SCHEMA_HASH;
/// ```
///
/// # Safety
///
/// Implement it only through the derive: `Self` holds no atomics or other
/// interior mutability, on top of the [`DataHubType`] contract.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a DataHub slot type (plain data)",
    label = "not plain DataHub data",
    note = "slot and locked-zone types hold plain data: u8..u64, i8..i64, f32, f64, arrays `[T; N]` of them, and `#[repr(C)]` structs with `#[derive(Clone, Copy, DataHubSlot)]`",
    note = "atomics belong in a lock-free zone: put them in a `#[derive(DataHubZone)]` struct"
)]
pub unsafe trait DataHubSlot: DataHubType + Copy {}

/// Atomics only: a type for lock-free zones, shared through `&` by every
/// process attached to a channel.
///
/// The atomics `AtomicU8`..`AtomicI64`, [`AtomicF32`], [`AtomicF64`], arrays
/// of them, and `#[repr(C)]` structs of them with `#[derive(DataHubZone)]`.
///
/// ```
/// use core::sync::atomic::AtomicU64;
/// use datahub::{AtomicF32, DataHubZone};
///
/// #[derive(DataHubZone)]
/// #[repr(C)]
/// struct Telemetry {
///     frame_count: AtomicU64,
///     fps: AtomicF32,
///     state: core::sync::atomic::AtomicU32,
/// }
///
/// assert_eq!(
///     datahub::canonical_of::<Telemetry>(),
///     "{16/8:frame_count:atomic_u64@0,fps:atomic_f32@8,state:atomic_u32@12}"
/// );
/// ```
///
/// # Safety
///
/// Implement it only through the derive: every byte of `Self` belongs to an
/// atomic, on top of the [`DataHubType`] contract.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a DataHub zone type (atomics only)",
    label = "not an atomic DataHub type",
    note = "lock-free zone types hold only atomics: AtomicU8..AtomicU64, AtomicI8..AtomicI64, datahub::AtomicF32, datahub::AtomicF64, arrays `[T; N]` of them, and `#[repr(C)]` structs with `#[derive(DataHubZone)]`",
    note = "plain data belongs in a slot or a locked zone: use a `#[derive(Clone, Copy, DataHubSlot)]` struct, or wrap the number in its atomic"
)]
pub unsafe trait DataHubZone: DataHubType + Sync {}

/// The canonical form of `T` (`docs/schema.md`, "Canonical form and hashes"), e.g. `{8/4:u:f32@0,v:f32@4}`.
///
/// ```
/// use datahub::canonical_of;
///
/// assert_eq!(canonical_of::<u64>(), "u64");
/// assert_eq!(canonical_of::<[[f32; 6]; 6]>(), "[[f32;6];6]");
/// assert_eq!(canonical_of::<[datahub::AtomicF64; 2]>(), "[atomic_f64;2]");
/// ```
pub fn canonical_of<T: DataHubType>() -> String {
    T::DESC.canonical()
}

macro_rules! plain {
    ($($ty:ty => $prim:ident),* $(,)?) => {$(
        // SAFETY: a primitive number has the size and alignment of
        // `Prim::size` on the 64-bit targets DataHub supports, no padding, no
        // pointers, and every bit pattern is a valid value.
        unsafe impl DataHubType for $ty {
            const DESC: &'static TypeDesc = &TypeDesc::Prim(Prim::$prim);
        }
        // SAFETY: a number holds no interior mutability and is `Copy`.
        unsafe impl DataHubSlot for $ty {}
    )*};
}

plain! {
    u8 => U8, u16 => U16, u32 => U32, u64 => U64,
    i8 => I8, i16 => I16, i32 => I32, i64 => I64,
    f32 => F32, f64 => F64,
}

macro_rules! atomic {
    ($($ty:ty => $prim:ident),* $(,)?) => {$(
        // SAFETY: an atomic integer has the size and alignment of its integer
        // (`Prim::size`), no padding, no pointers, and every bit pattern is
        // valid; `AtomicF32`/`AtomicF64` are `repr(transparent)` over one.
        unsafe impl DataHubType for $ty {
            const DESC: &'static TypeDesc = &TypeDesc::Prim(Prim::$prim);
        }
        // SAFETY: every byte belongs to the atomic, which is `Sync`.
        unsafe impl DataHubZone for $ty {}
    )*};
}

atomic! {
    AtomicU8 => AtomicU8, AtomicU16 => AtomicU16, AtomicU32 => AtomicU32, AtomicU64 => AtomicU64,
    AtomicI8 => AtomicI8, AtomicI16 => AtomicI16, AtomicI32 => AtomicI32, AtomicI64 => AtomicI64,
    AtomicF32 => AtomicF32, AtomicF64 => AtomicF64,
}

// SAFETY: an array has no padding between elements (its size is `N` times
// the element's, which is a multiple of the element's alignment) and is valid
// for every bit pattern when its element is; `DESC` says exactly that.
unsafe impl<T: DataHubType, const N: usize> DataHubType for [T; N] {
    const DESC: &'static TypeDesc = &TypeDesc::Array {
        elem: T::DESC,
        len: N,
    };
}

// SAFETY: an array of plain data is plain data (and `Copy` when `T` is).
unsafe impl<T: DataHubSlot, const N: usize> DataHubSlot for [T; N] {}

// SAFETY: every byte of an array of zone types belongs to an atomic, and the
// array is `Sync` when `T` is.
unsafe impl<T: DataHubZone, const N: usize> DataHubZone for [T; N] {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_and_atomics_have_their_schema_names_and_hashes() {
        fn check<T: DataHubType>(name: &str) {
            assert_eq!(canonical_of::<T>(), name);
            assert_eq!(T::SCHEMA_HASH, SchemaHash::of_type_canon(name), "{name}");
            assert_eq!(T::DESC.size(), core::mem::size_of::<T>(), "{name}");
            assert_eq!(T::DESC.align(), core::mem::align_of::<T>(), "{name}");
        }
        check::<u8>("u8");
        check::<u16>("u16");
        check::<u32>("u32");
        check::<u64>("u64");
        check::<i8>("i8");
        check::<i16>("i16");
        check::<i32>("i32");
        check::<i64>("i64");
        check::<f32>("f32");
        check::<f64>("f64");
        check::<AtomicU8>("atomic_u8");
        check::<AtomicU16>("atomic_u16");
        check::<AtomicU32>("atomic_u32");
        check::<AtomicU64>("atomic_u64");
        check::<AtomicI8>("atomic_i8");
        check::<AtomicI16>("atomic_i16");
        check::<AtomicI32>("atomic_i32");
        check::<AtomicI64>("atomic_i64");
        check::<AtomicF32>("atomic_f32");
        check::<AtomicF64>("atomic_f64");
        check::<[u8; 4194304]>("[u8;4194304]");
        check::<[[f32; 6]; 6]>("[[f32;6];6]");
        check::<[AtomicU16; 4]>("[atomic_u16;4]");
    }

    #[test]
    fn prim_flags_atomics() {
        assert!(Prim::AtomicF64.is_atomic());
        assert!(!Prim::F64.is_atomic());
    }
}
