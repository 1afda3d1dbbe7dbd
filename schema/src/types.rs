//! Field types: the primitives of `docs/schema.md` and the type expressions
//! (`u32`, `[f32; 1024]`, `[[f32; 6]; 6]`, `Vec3`) that name them.

use std::fmt;

/// A primitive field type: a plain number or an atomic.
///
/// Each primitive's size and alignment are its byte width (`docs/schema.md`).
/// `atomic_f32` / `atomic_f64` are stored as the bits of a `u32` / `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Primitive {
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
    /// `atomic_u8`
    AtomicU8,
    /// `atomic_u16`
    AtomicU16,
    /// `atomic_u32`
    AtomicU32,
    /// `atomic_u64`
    AtomicU64,
    /// `atomic_i8`
    AtomicI8,
    /// `atomic_i16`
    AtomicI16,
    /// `atomic_i32`
    AtomicI32,
    /// `atomic_i64`
    AtomicI64,
    /// `atomic_f32` (the bits of an `f32` in an `AtomicU32`)
    AtomicF32,
    /// `atomic_f64` (the bits of an `f64` in an `AtomicU64`)
    AtomicF64,
}

impl Primitive {
    /// Every primitive, plain numbers first.
    pub const ALL: [Primitive; 20] = [
        Self::U8,
        Self::U16,
        Self::U32,
        Self::U64,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::I64,
        Self::F32,
        Self::F64,
        Self::AtomicU8,
        Self::AtomicU16,
        Self::AtomicU32,
        Self::AtomicU64,
        Self::AtomicI8,
        Self::AtomicI16,
        Self::AtomicI32,
        Self::AtomicI64,
        Self::AtomicF32,
        Self::AtomicF64,
    ];

    /// The schema and canonical spelling (`"u8"`, `"atomic_f64"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::AtomicU8 => "atomic_u8",
            Self::AtomicU16 => "atomic_u16",
            Self::AtomicU32 => "atomic_u32",
            Self::AtomicU64 => "atomic_u64",
            Self::AtomicI8 => "atomic_i8",
            Self::AtomicI16 => "atomic_i16",
            Self::AtomicI32 => "atomic_i32",
            Self::AtomicI64 => "atomic_i64",
            Self::AtomicF32 => "atomic_f32",
            Self::AtomicF64 => "atomic_f64",
        }
    }

    /// The primitive spelled `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Size in bytes, which is also the alignment.
    pub const fn size(self) -> u64 {
        match self {
            Self::U8 | Self::I8 | Self::AtomicU8 | Self::AtomicI8 => 1,
            Self::U16 | Self::I16 | Self::AtomicU16 | Self::AtomicI16 => 2,
            Self::U32 | Self::I32 | Self::F32 | Self::AtomicU32 | Self::AtomicI32 => 4,
            Self::AtomicF32 => 4,
            Self::U64 | Self::I64 | Self::F64 | Self::AtomicU64 | Self::AtomicI64 => 8,
            Self::AtomicF64 => 8,
        }
    }

    /// Whether this is one of the `atomic_*` types.
    pub const fn is_atomic(self) -> bool {
        matches!(
            self,
            Self::AtomicU8
                | Self::AtomicU16
                | Self::AtomicU32
                | Self::AtomicU64
                | Self::AtomicI8
                | Self::AtomicI16
                | Self::AtomicI32
                | Self::AtomicI64
                | Self::AtomicF32
                | Self::AtomicF64
        )
    }

    /// The Rust type generated code uses for this primitive.
    pub const fn rust_path(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::AtomicU8 => "::core::sync::atomic::AtomicU8",
            Self::AtomicU16 => "::core::sync::atomic::AtomicU16",
            Self::AtomicU32 => "::core::sync::atomic::AtomicU32",
            Self::AtomicU64 => "::core::sync::atomic::AtomicU64",
            Self::AtomicI8 => "::core::sync::atomic::AtomicI8",
            Self::AtomicI16 => "::core::sync::atomic::AtomicI16",
            Self::AtomicI32 => "::core::sync::atomic::AtomicI32",
            Self::AtomicI64 => "::core::sync::atomic::AtomicI64",
            Self::AtomicF32 => "::datahub::AtomicF32",
            Self::AtomicF64 => "::datahub::AtomicF64",
        }
    }
}

impl fmt::Display for Primitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A field's type as written in a schema: a primitive, a fixed array, or a
/// struct declared in the same file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TypeRef {
    /// A primitive such as `u32` or `atomic_f64`.
    Primitive(Primitive),
    /// `[element; len]`, `len >= 1`.
    Array {
        /// The element type.
        element: Box<TypeRef>,
        /// Number of elements.
        len: u64,
    },
    /// A struct of the schema, by name.
    Struct(String),
}

impl TypeRef {
    /// The innermost element type of (possibly nested) arrays, or `self`.
    pub fn innermost(&self) -> &TypeRef {
        let mut t = self;
        while let TypeRef::Array { element, .. } = t {
            t = element;
        }
        t
    }
}

/// Schema spelling, e.g. `[[f32; 6]; 6]` (the canonical form drops the space).
impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeRef::Primitive(p) => f.write_str(p.name()),
            TypeRef::Array { element, len } => write!(f, "[{element}; {len}]"),
            TypeRef::Struct(name) => f.write_str(name),
        }
    }
}

/// How deeply arrays may nest in one type expression.
pub const MAX_ARRAY_DEPTH: usize = 32;

/// Why a type expression could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TypeSyntaxError {
    /// Not of the form `NAME` or `[T; N]`; the message says what was expected.
    Malformed(String),
    /// An array length of 0.
    ZeroLength,
    /// More than [`MAX_ARRAY_DEPTH`] nested arrays.
    TooDeep,
}

/// Parses a type expression: `NAME` or `[T; N]` with optional spaces around
/// tokens. Names are returned as [`TypeRef::Struct`] unless they spell a
/// primitive; whether the struct exists is the resolver's question.
pub(crate) fn parse_type(text: &str) -> Result<TypeRef, TypeSyntaxError> {
    let mut s = text.trim();
    // Peel `[` ... `; N]` from the outside in, iteratively, so that a hostile
    // input cannot recurse deeply.
    let mut lens = Vec::new();
    while let Some(inner) = s.strip_prefix('[') {
        if lens.len() == MAX_ARRAY_DEPTH {
            return Err(TypeSyntaxError::TooDeep);
        }
        let Some(inner) = inner.trim_end().strip_suffix(']') else {
            return Err(TypeSyntaxError::Malformed(
                "an array type ends with `]`, as in `[f32; 1024]`".into(),
            ));
        };
        let Some((element, len)) = inner.rsplit_once(';') else {
            return Err(TypeSyntaxError::Malformed(
                "an array type is `[ELEMENT; LENGTH]`, as in `[f32; 1024]`".into(),
            ));
        };
        let len = len.trim();
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TypeSyntaxError::Malformed(format!(
                "an array length is a decimal number, found `{len}`"
            )));
        }
        let len: u64 = len.parse().map_err(|_| {
            TypeSyntaxError::Malformed(format!("array length `{len}` does not fit in 64 bits"))
        })?;
        if len == 0 {
            return Err(TypeSyntaxError::ZeroLength);
        }
        lens.push(len);
        s = element.trim();
    }
    if s.is_empty() {
        return Err(TypeSyntaxError::Malformed(
            "expected a type name such as `u32`, `atomic_u64` or a struct name".into(),
        ));
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(TypeSyntaxError::Malformed(format!(
            "`{s}` is not a type name: expected a primitive such as `u32`, an array `[T; N]`, or a struct name"
        )));
    }
    let mut ty = match Primitive::from_name(s) {
        Some(p) => TypeRef::Primitive(p),
        None => TypeRef::Struct(s.to_owned()),
    };
    for len in lens.into_iter().rev() {
        ty = TypeRef::Array {
            element: Box::new(ty),
            len,
        };
    }
    Ok(ty)
}

/// Why a familiar Rust or C type name is not a schema type, with what to use
/// instead; `None` when the name is not one of those.
pub(crate) fn forbidden_type_reason(name: &str) -> Option<&'static str> {
    Some(match name {
        "bool" => {
            "`bool` has invalid bit patterns and a peer process can write any byte: use `u8` (0 or 1)"
        }
        "char" => {
            "`char` has invalid bit patterns and a peer process can write any bytes: use `u32` or `[u8; N]`"
        }
        "usize" | "isize" => {
            "its width depends on the target, so peers could disagree: use `u64` or `i64`"
        }
        "u128" | "i128" => {
            "128-bit integers have different alignment in C and Rust on some targets: use `[u64; 2]`"
        }
        "f16" | "f128" => "half and quad floats are not in format v1: use `u16` bits or `[u64; 2]`",
        "str" | "String" | "Vec" | "Box" => {
            "a pointer into one process's heap means nothing to another process: use a fixed `[u8; N]`"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_arrays_parse_outside_in() {
        let t = parse_type("[[f32; 6]; 4]").unwrap();
        assert_eq!(t.to_string(), "[[f32; 6]; 4]");
        let TypeRef::Array { len, element } = &t else {
            panic!("{t:?}")
        };
        assert_eq!(*len, 4);
        assert!(matches!(**element, TypeRef::Array { len: 6, .. }));
        assert_eq!(t.innermost(), &TypeRef::Primitive(Primitive::F32));
    }

    #[test]
    fn malformed_type_expressions_are_refused_not_panicked_on() {
        for bad in [
            "",
            "[",
            "]",
            "[u8]",
            "[u8; ]",
            "[u8; x]",
            "[; 3]",
            "[u8; -1]",
            "u 8",
            "[u8;3",
            "[[u8;1]",
            "[u8; 99999999999999999999999]",
            "é",
        ] {
            assert!(parse_type(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(parse_type("[u8; 0]"), Err(TypeSyntaxError::ZeroLength));
        let deep = format!("{}u8{}", "[".repeat(40), "; 1]".repeat(40));
        assert_eq!(parse_type(&deep), Err(TypeSyntaxError::TooDeep));
    }

    #[test]
    fn every_primitive_round_trips_by_name_and_is_as_wide_as_it_is_aligned() {
        for p in Primitive::ALL {
            assert_eq!(Primitive::from_name(p.name()), Some(p));
            assert!(p.size().is_power_of_two());
            assert_eq!(p.is_atomic(), p.name().starts_with("atomic_"));
        }
    }
}
