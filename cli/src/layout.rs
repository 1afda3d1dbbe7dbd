//! The field layout of a type, read back from the canonical form a segment
//! stores (DESIGN.md §4): `{SIZE/ALIGN:NAME:TYPE@OFFSET,...}`. The string
//! comes from a segment another process wrote, so parsing is total: any
//! input gives rows or `None`, never a panic, and nesting is bounded.

use datahub_schema::Primitive;

/// One row of a layout table: a field (nested fields have dotted names)
/// at its offset from the start of the outermost type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) ty: String,
    pub(crate) field: String,
}

/// Deeper nesting than this is refused (a schema nests a handful deep).
const MAX_DEPTH: usize = 32;

/// The rows of canonical form `canon`: a struct's fields, or one row for
/// a non-struct type (a bytes slot is `[u8;N]`). `None` if it is not a
/// well-formed canonical form.
pub(crate) fn rows(canon: &str) -> Option<Vec<Row>> {
    let mut parser = Parser {
        rest: canon.as_bytes(),
        rows: Vec::new(),
    };
    let (ty, _) = parser.ty(0, 0, "")?;
    if !parser.rest.is_empty() {
        return None;
    }
    if parser.rows.is_empty() {
        let size = size_of_canon(canon)?;
        parser.rows.push(Row {
            offset: 0,
            size,
            ty,
            field: "(whole slot)".into(),
        });
    }
    Some(parser.rows)
}

fn size_of_canon(canon: &str) -> Option<u64> {
    let mut parser = Parser {
        rest: canon.as_bytes(),
        rows: Vec::new(),
    };
    parser.ty(0, 0, "").map(|(_, size)| size)
}

struct Parser<'a> {
    rest: &'a [u8],
    rows: Vec<Row>,
}

impl Parser<'_> {
    fn eat(&mut self, byte: u8) -> Option<()> {
        let (&first, rest) = self.rest.split_first()?;
        (first == byte).then(|| self.rest = rest)
    }

    fn number(&mut self) -> Option<u64> {
        let digits = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 19 {
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
        Some(String::from_utf8_lossy(head).into_owned())
    }

    /// A type at absolute `offset`; struct fields become rows named under
    /// `path`. Returns its display name and size.
    fn ty(&mut self, depth: usize, offset: u64, path: &str) -> Option<(String, u64)> {
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
                loop {
                    let name = self.name()?;
                    self.eat(b':')?;
                    let field = if path.is_empty() {
                        name
                    } else {
                        format!("{path}.{name}")
                    };
                    let row = self.rows.len();
                    // The offset follows the type: parse the type with a
                    // placeholder, then fix up its rows.
                    let (ty, field_size) = self.ty(depth + 1, 0, &field)?;
                    self.eat(b'@')?;
                    let at = offset.checked_add(self.number()?)?;
                    for nested in &mut self.rows[row..] {
                        nested.offset = nested.offset.checked_add(at)?;
                    }
                    self.rows.insert(
                        row,
                        Row {
                            offset: at,
                            size: field_size,
                            ty,
                            field,
                        },
                    );
                    if self.eat(b',').is_none() {
                        break;
                    }
                }
                self.eat(b'}')?;
                Some((format!("struct ({size} bytes, align {align})"), size))
            }
            b'[' => {
                self.eat(b'[')?;
                // Array elements are not expanded into rows.
                let mut inner = Parser {
                    rest: self.rest,
                    rows: Vec::new(),
                };
                let (elem, elem_size) = inner.ty(depth + 1, 0, path)?;
                self.rest = inner.rest;
                self.eat(b';')?;
                let n = self.number()?;
                self.eat(b']')?;
                let elem = if elem.starts_with("struct") {
                    "struct".to_owned()
                } else {
                    elem
                };
                Some((format!("[{elem}; {n}]"), elem_size.checked_mul(n)?))
            }
            _ => {
                let name = self.name()?;
                let prim = Primitive::from_name(&name)?;
                Some((name, prim.size()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(offset: u64, size: u64, ty: &str, field: &str) -> Row {
        Row {
            offset,
            size,
            ty: ty.into(),
            field: field.into(),
        }
    }

    #[test]
    fn flat_nested_and_array_fields() {
        assert_eq!(
            rows("{16/8:timestamp_ns:u64@0,seq:u32@8,_pad0:[u8;4]@12}").unwrap(),
            vec![
                row(0, 8, "u64", "timestamp_ns"),
                row(8, 4, "u32", "seq"),
                row(12, 4, "[u8; 4]", "_pad0"),
            ]
        );
        assert_eq!(
            rows("{24/8:id:u64@0,pos:{16/8:x:f64@0,y:f64@8}@8}").unwrap(),
            vec![
                row(0, 8, "u64", "id"),
                row(8, 16, "struct (16 bytes, align 8)", "pos"),
                row(8, 8, "f64", "pos.x"),
                row(16, 8, "f64", "pos.y"),
            ]
        );
        assert_eq!(
            rows("{32/8:p:[{16/8:x:f64@0,y:f64@8};2]@0}").unwrap(),
            vec![row(0, 32, "[struct; 2]", "p")]
        );
        assert_eq!(
            rows("[u8;4096]").unwrap(),
            vec![row(0, 4096, "[u8; 4096]", "(whole slot)")]
        );
    }

    #[test]
    fn malformed_forms_give_none_never_a_panic() {
        for bad in [
            "",
            "{",
            "}",
            "{8/4}",
            "{8/4:a:f32}",
            "{8/4:a:f32@}",
            "{8/4:a:nope@0}",
            "{8/4:a:f32@0,}",
            "{8/4:a:f32@0}x",
            "[u8;]",
            "[u8;99999999999999999999]",
            "[[[[u64;4294967296];4294967296];4294967296];4294967296]",
            "{8/4:a:f32@18446744073709551615,b:{8/4:c:f32@18446744073709551615}@1}",
            "{8/4:é:f32@0}",
        ] {
            assert_eq!(rows(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(10_000) + "u8" + &";1]".repeat(10_000);
        assert_eq!(rows(&deep), None);
        let deep = "{1/1:a:".repeat(10_000);
        assert_eq!(rows(&deep), None);
    }
}
