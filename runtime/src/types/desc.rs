//! Type descriptors: a `const` tree that says how a DataHub type is laid
//! out, and its canonical form (`docs/schema.md`, "Canonical form and hashes").
//!
//! Every [`DataHubType`](crate::DataHubType) carries one. The const hasher
//! in [`super::hash`] walks it at compile time to produce the schema hash;
//! [`TypeDesc::canonical`] walks the same tree at run time to produce the
//! canonical string, so the two cannot describe different things.

use std::fmt;

/// A primitive DataHub type: a fixed-width number or its atomic. The same
/// enum as the schema crate's, so the two paths cannot list different
/// primitives or widths.
pub use datahub_schema::Primitive as Prim;

/// Size of a primitive as `usize` (at most 8, so the conversion is lossless).
const fn prim_size(p: Prim) -> usize {
    p.size() as usize
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
            TypeDesc::Prim(p) => prim_size(p),
            TypeDesc::Array { elem, len } => elem.size() * len,
            TypeDesc::Struct { size, .. } => size,
        }
    }

    /// Alignment in bytes.
    pub const fn align(&self) -> usize {
        match *self {
            TypeDesc::Prim(p) => prim_size(p),
            TypeDesc::Array { elem, .. } => elem.align(),
            TypeDesc::Struct { align, .. } => align,
        }
    }

    /// The canonical form of `docs/schema.md`, "Canonical form and hashes", e.g. `{8/4:u:f32@0,v:f32@4}`.
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
