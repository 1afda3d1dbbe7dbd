//! Type descriptors: a `const` tree that says how a DataHub type is laid
//! out, and its canonical form (DESIGN.md §4).
//!
//! Every [`DataHubType`](crate::DataHubType) carries one. The const hasher
//! in [`super::hash`] walks it at compile time to produce the schema hash;
//! [`TypeDesc::canonical`] walks the same tree at run time to produce the
//! canonical string, so the two cannot describe different things.

use std::fmt;

/// A primitive DataHub type: a fixed-width number or its atomic.
///
/// The discriminant order is not part of any format; only [`Prim::name`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Prim {
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `atomic_u8` ([`AtomicU8`](core::sync::atomic::AtomicU8))
    AtomicU8,
    /// `atomic_u16` ([`AtomicU16`](core::sync::atomic::AtomicU16))
    AtomicU16,
    /// `atomic_u32` ([`AtomicU32`](core::sync::atomic::AtomicU32))
    AtomicU32,
    /// `atomic_u64` ([`AtomicU64`](core::sync::atomic::AtomicU64))
    AtomicU64,
    /// `atomic_i8` ([`AtomicI8`](core::sync::atomic::AtomicI8))
    AtomicI8,
    /// `atomic_i16` ([`AtomicI16`](core::sync::atomic::AtomicI16))
    AtomicI16,
    /// `atomic_i32` ([`AtomicI32`](core::sync::atomic::AtomicI32))
    AtomicI32,
    /// `atomic_i64` ([`AtomicI64`](core::sync::atomic::AtomicI64))
    AtomicI64,
    /// `atomic_f32` ([`AtomicF32`](crate::AtomicF32), the bits of an `f32` in an `AtomicU32`)
    AtomicF32,
    /// `atomic_f64` ([`AtomicF64`](crate::AtomicF64), the bits of an `f64` in an `AtomicU64`)
    AtomicF64,
}

impl Prim {
    /// The name in schemas and in the canonical form, e.g. `"atomic_f64"`.
    pub const fn name(self) -> &'static str {
        match self {
            Prim::U8 => "u8",
            Prim::U16 => "u16",
            Prim::U32 => "u32",
            Prim::U64 => "u64",
            Prim::I8 => "i8",
            Prim::I16 => "i16",
            Prim::I32 => "i32",
            Prim::I64 => "i64",
            Prim::F32 => "f32",
            Prim::F64 => "f64",
            Prim::AtomicU8 => "atomic_u8",
            Prim::AtomicU16 => "atomic_u16",
            Prim::AtomicU32 => "atomic_u32",
            Prim::AtomicU64 => "atomic_u64",
            Prim::AtomicI8 => "atomic_i8",
            Prim::AtomicI16 => "atomic_i16",
            Prim::AtomicI32 => "atomic_i32",
            Prim::AtomicI64 => "atomic_i64",
            Prim::AtomicF32 => "atomic_f32",
            Prim::AtomicF64 => "atomic_f64",
        }
    }

    /// Size in bytes, which is also the alignment (DESIGN.md §3).
    pub const fn size(self) -> usize {
        match self {
            Prim::U8 | Prim::I8 | Prim::AtomicU8 | Prim::AtomicI8 => 1,
            Prim::U16 | Prim::I16 | Prim::AtomicU16 | Prim::AtomicI16 => 2,
            Prim::U32
            | Prim::I32
            | Prim::F32
            | Prim::AtomicU32
            | Prim::AtomicI32
            | Prim::AtomicF32 => 4,
            Prim::U64
            | Prim::I64
            | Prim::F64
            | Prim::AtomicU64
            | Prim::AtomicI64
            | Prim::AtomicF64 => 8,
        }
    }

    /// Whether this is an atomic (allowed in lock-free zones, not in slots).
    pub const fn is_atomic(self) -> bool {
        matches!(
            self,
            Prim::AtomicU8
                | Prim::AtomicU16
                | Prim::AtomicU32
                | Prim::AtomicU64
                | Prim::AtomicI8
                | Prim::AtomicI16
                | Prim::AtomicI32
                | Prim::AtomicI64
                | Prim::AtomicF32
                | Prim::AtomicF64
        )
    }
}

/// How a DataHub type is laid out: the tree that the canonical form and the
/// schema hash are computed from.
///
/// Struct names never appear (renaming a struct keeps its hash); field names
/// and offsets do.
///
/// ```
/// use datahub::{DataHubType, TypeDesc};
///
/// let desc: &TypeDesc = <[[f32; 6]; 6] as DataHubType>::DESC;
/// assert_eq!(desc.canonical(), "[[f32;6];6]");
/// assert_eq!((desc.size(), desc.align()), (144, 4));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TypeDesc {
    /// A primitive number or atomic.
    Prim(Prim),
    /// A fixed-length array `[elem; len]`.
    Array {
        /// The element type.
        elem: &'static TypeDesc,
        /// The number of elements.
        len: usize,
    },
    /// A `#[repr(C)]` struct without implicit padding.
    Struct {
        /// `size_of` the struct in bytes.
        size: usize,
        /// `align_of` the struct in bytes.
        align: usize,
        /// The fields in declaration (and so offset) order.
        fields: &'static [FieldDesc],
    },
}

/// One field of a [`TypeDesc::Struct`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldDesc {
    /// The field name, as written in the schema and in Rust.
    pub name: &'static str,
    /// The field's type.
    pub ty: &'static TypeDesc,
    /// Byte offset from the start of the struct (`offset_of!`).
    pub offset: usize,
}

impl TypeDesc {
    /// Size in bytes.
    pub const fn size(&self) -> usize {
        match *self {
            TypeDesc::Prim(p) => p.size(),
            TypeDesc::Array { elem, len } => elem.size() * len,
            TypeDesc::Struct { size, .. } => size,
        }
    }

    /// Alignment in bytes.
    pub const fn align(&self) -> usize {
        match *self {
            TypeDesc::Prim(p) => p.size(),
            TypeDesc::Array { elem, .. } => elem.align(),
            TypeDesc::Struct { align, .. } => align,
        }
    }

    /// The canonical form of DESIGN.md §4, e.g. `{8/4:u:f32@0,v:f32@4}`.
    ///
    /// `Display` writes the same text.
    pub fn canonical(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TypeDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeDesc::Prim(p) => f.write_str(p.name()),
            TypeDesc::Array { elem, len } => write!(f, "[{elem};{len}]"),
            TypeDesc::Struct {
                size,
                align,
                fields,
            } => {
                write!(f, "{{{size}/{align}:")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{}@{}", field.name, field.ty, field.offset)?;
                }
                f.write_str("}")
            }
        }
    }
}
