//! Canonical forms read back (`docs/schema.md`, "Canonical form and hashes"): the one parser and differ of
//! the text `{SIZE/ALIGN:NAME:TYPE@OFFSET,...}` that a segment stores for
//! its slot type and zones. The runtime names the first differing field
//! of a schema mismatch with it, the `datahub` command draws layout tables
//! with it, and the language bindings build their views of a slot from it.
//!
//! The text comes from a segment another process wrote, so parsing is
//! total: any input gives a [`Canon`] or `None`, never a panic, nesting is
//! bounded and sizes are checked for overflow.
//!
//! ```
//! use datahub_schema::canon::{self, Canon};
//!
//! let form = "{16/8:t:u64@0,v:[f32;2]@8}";
//! let Some(Canon::Struct(sample)) = Canon::parse(form) else { panic!() };
//! assert_eq!((sample.size, sample.fields[1].name.as_str()), (16, "v"));
//! assert_eq!(Canon::parse(form).unwrap().to_string(), form);
//!
//! let theirs = "{16/8:t:u64@0,v:[f32;2]@8}";
//! let mine = "{16/8:t:u64@0,v:[i32;2]@8}";
//! assert_eq!(
//!     canon::first_difference(theirs, mine).to_string(),
//!     "field `v`: the segment has `[f32;2]@8`, you expect `[i32;2]@8`"
//! );
//! ```

use std::fmt;

use crate::types::Primitive;

/// Deeper nesting than this is refused: a schema nests at most
/// [`MAX_NESTING_DEPTH`](crate::MAX_NESTING_DEPTH) structs, each with
/// arrays of at most [`MAX_ARRAY_DEPTH`](crate::MAX_ARRAY_DEPTH) levels.
const MAX_DEPTH: usize = 64;

/// A type, as its canonical form describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Canon {
    /// A `#[repr(C)]` struct: `{SIZE/ALIGN:field,...}`.
    Struct(CanonStruct),
    /// `[ELEM;LEN]`.
    Array {
        /// The element type.
        elem: Box<Canon>,
        /// How many elements.
        len: u64,
    },
    /// A primitive (`u8` ... `f64`, `atomic_*`).
    Primitive(Primitive),
}

/// A struct's size, alignment and fields, in offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CanonStruct {
    /// Bytes, padding included.
    pub size: u64,
    /// Alignment in bytes.
    pub align: u64,
    /// The fields, as the form lists them.
    pub fields: Vec<CanonField>,
}

/// One field of a struct: `NAME:TYPE@OFFSET`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CanonField {
    /// The field's name.
    pub name: String,
    /// Its type.
    pub ty: Canon,
    /// Its offset from the start of the struct.
    pub offset: u64,
}

impl Canon {
    /// Reads a canonical form; `None` if `text` is not one (malformed,
    /// nested deeper than any schema allows, an unknown primitive, or a
    /// size that overflows `u64`).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parser = Parser {
            rest: text.as_bytes(),
        };
        let canon = parser.ty(0)?;
        parser.rest.is_empty().then_some(canon)
    }

    /// Bytes of the type (for an array, its elements' total).
    pub fn size(&self) -> u64 {
        match self {
            Self::Struct(s) => s.size,
            // `parse` checked the product.
            Self::Array { elem, len } => elem.size().saturating_mul(*len),
            Self::Primitive(p) => p.size(),
        }
    }
}

impl fmt::Display for Canon {
    /// The canonical form again, byte for byte.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Struct(s) => {
                write!(f, "{{{}/{}:", s.size, s.align)?;
                for (i, field) in s.fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{field}")?;
                }
                f.write_str("}")
            }
            Self::Array { elem, len } => write!(f, "[{elem};{len}]"),
            Self::Primitive(p) => f.write_str(p.name()),
        }
    }
}

impl fmt::Display for CanonField {
    /// `NAME:TYPE@OFFSET`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}@{}", self.name, self.ty, self.offset)
    }
}

struct Parser<'a> {
    rest: &'a [u8],
}

impl Parser<'_> {
    fn eat(&mut self, byte: u8) -> Option<()> {
        let (&first, rest) = self.rest.split_first()?;
        (first == byte).then(|| self.rest = rest)
    }

    fn number(&mut self) -> Option<u64> {
        let digits = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 20 {
            return None;
        }
        let (head, rest) = self.rest.split_at(digits);
        self.rest = rest;
        std::str::from_utf8(head).ok()?.parse().ok()
    }

    fn name(&mut self) -> Option<String> {
        let len = self
            .rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        if len == 0 {
            return None;
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        // ASCII, checked above.
        Some(String::from_utf8_lossy(head).into_owned())
    }

    fn ty(&mut self, depth: usize) -> Option<Canon> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.rest.first()? {
            b'{' => {
                self.eat(b'{')?;
                let size = self.number()?;
                self.eat(b'/')?;
                let align = self.number()?;
                self.eat(b':')?;
                let mut fields = Vec::new();
                loop {
                    let name = self.name()?;
                    self.eat(b':')?;
                    let ty = self.ty(depth + 1)?;
                    self.eat(b'@')?;
                    let offset = self.number()?;
                    fields.push(CanonField { name, ty, offset });
                    if self.eat(b',').is_none() {
                        break;
                    }
                }
                self.eat(b'}')?;
                Some(Canon::Struct(CanonStruct {
                    size,
                    align,
                    fields,
                }))
            }
            b'[' => {
                self.eat(b'[')?;
                let elem = self.ty(depth + 1)?;
                self.eat(b';')?;
                let len = self.number()?;
                self.eat(b']')?;
                elem.size().checked_mul(len)?;
                Some(Canon::Array {
                    elem: Box::new(elem),
                    len,
                })
            }
            _ => Primitive::from_name(&self.name()?).map(Canon::Primitive),
        }
    }
}

/// How two canonical forms differ first, as a schema mismatch reports it:
/// `found` is the one a segment stores, `expected` the caller's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Difference {
    /// The field at the same place with the same name has another type or
    /// offset.
    Field {
        /// The field's name.
        name: String,
        /// `TYPE@OFFSET` in the segment.
        found: String,
        /// `TYPE@OFFSET` expected.
        expected: String,
    },
    /// The fields at position `position` (from 1) differ by name.
    Position {
        /// From 1.
        position: usize,
        /// `NAME:TYPE@OFFSET` in the segment.
        found: String,
        /// `NAME:TYPE@OFFSET` expected.
        expected: String,
    },
    /// The segment's struct has a field after the last expected one.
    Extra(String),
    /// The segment's struct ends before an expected field.
    Missing(String),
    /// Same fields, another size or alignment (`SIZE/ALIGN`).
    SizeAlign {
        /// In the segment.
        found: String,
        /// Expected.
        expected: String,
    },
    /// The two forms are identical: the hashes that differed are damaged.
    Identical(String),
    /// Not two structs (or not both readable): the whole forms.
    Whole {
        /// In the segment.
        found: String,
        /// Expected.
        expected: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field {
                name,
                found,
                expected,
            } => write!(
                f,
                "field `{name}`: the segment has `{found}`, you expect `{expected}`"
            ),
            Self::Position {
                position,
                found,
                expected,
            } => write!(
                f,
                "field {position}: the segment has `{found}`, you expect `{expected}`"
            ),
            Self::Extra(field) => write!(f, "the segment has an extra field `{field}`"),
            Self::Missing(field) => write!(f, "the segment lacks field `{field}`"),
            Self::SizeAlign { found, expected } => write!(
                f,
                "size/alignment: the segment has {found}, you expect {expected}"
            ),
            Self::Identical(form) => write!(
                f,
                "the segment stores the same layout as yours (`{form}`) under another hash: its \
                 hash is damaged; remove the segment and restart its producer"
            ),
            Self::Whole { found, expected } => {
                write!(f, "the segment has `{found}`, you expect `{expected}`")
            }
        }
    }
}

/// The first difference between canonical forms `found` (a segment's) and
/// `expected`, field by field at the top level.
pub fn first_difference(found: &str, expected: &str) -> Difference {
    if found == expected {
        return Difference::Identical(found.to_owned());
    }
    let whole = || Difference::Whole {
        found: found.to_owned(),
        expected: expected.to_owned(),
    };
    let (Some(Canon::Struct(theirs)), Some(Canon::Struct(mine))) =
        (Canon::parse(found), Canon::parse(expected))
    else {
        return whole();
    };
    let body = |f: &CanonField| format!("{}@{}", f.ty, f.offset);
    for i in 0..theirs.fields.len().max(mine.fields.len()) {
        match (theirs.fields.get(i), mine.fields.get(i)) {
            (Some(s), Some(e)) if s != e => {
                return if s.name == e.name {
                    Difference::Field {
                        name: s.name.clone(),
                        found: body(s),
                        expected: body(e),
                    }
                } else {
                    Difference::Position {
                        position: i + 1,
                        found: s.to_string(),
                        expected: e.to_string(),
                    }
                };
            }
            (Some(s), None) => return Difference::Extra(s.to_string()),
            (None, Some(e)) => return Difference::Missing(e.to_string()),
            _ => {}
        }
    }
    if (theirs.size, theirs.align) != (mine.size, mine.align) {
        return Difference::SizeAlign {
            found: format!("{}/{}", theirs.size, theirs.align),
            expected: format!("{}/{}", mine.size, mine.align),
        };
    }
    // Equal trees from different texts (leading zeros, say).
    whole()
}

#[cfg(test)]
mod tests;
