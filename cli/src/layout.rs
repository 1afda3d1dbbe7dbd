//! The field layout of a type, read back from the canonical form a segment
//! stores (`docs/schema.md`, "Canonical form and hashes"): `{SIZE/ALIGN:NAME:TYPE@OFFSET,...}`. The string
//! comes from a segment another process wrote, so parsing is total: any
//! input gives rows or `None`, never a panic, and nesting is bounded.

use datahub_schema::canon::Canon;

/// One row of a layout table: a field (nested fields have dotted names)
/// at its offset from the start of the outermost type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) ty: String,
    pub(crate) field: String,
}

/// The rows of canonical form `canon`: a struct's fields, or one row for
/// a non-struct type (a bytes slot is `[u8;N]`). `None` if it is not a
/// well-formed canonical form (`datahub_schema::canon` reads it).
pub(crate) fn rows(canon: &str) -> Option<Vec<Row>> {
    let canon = Canon::parse(canon)?;
    let mut rows = Vec::new();
    match &canon {
        Canon::Struct(_) => push_fields(&canon, 0, "", &mut rows)?,
        other => rows.push(Row {
            offset: 0,
            size: other.size(),
            ty: display(other),
            field: "(whole slot)".into(),
        }),
    }
    Some(rows)
}

/// A row per field of struct `canon` at absolute `offset`, nested structs'
/// fields after theirs, named under `path`.
fn push_fields(canon: &Canon, offset: u64, path: &str, rows: &mut Vec<Row>) -> Option<()> {
    let Canon::Struct(s) = canon else {
        return Some(());
    };
    for field in &s.fields {
        let at = offset.checked_add(field.offset)?;
        let name = if path.is_empty() {
            field.name.clone()
        } else {
            format!("{path}.{}", field.name)
        };
        rows.push(Row {
            offset: at,
            size: field.ty.size(),
            ty: display(&field.ty),
            field: name.clone(),
        });
        push_fields(&field.ty, at, &name, rows)?;
    }
    Some(())
}

/// How a table shows a type: `u64`, `[u8; 4]`, `[struct; 2]`,
/// `struct (16 bytes, align 8)`.
fn display(canon: &Canon) -> String {
    match canon {
        Canon::Struct(s) => format!("struct ({} bytes, align {})", s.size, s.align),
        Canon::Array { elem, len } => {
            let elem = match elem.as_ref() {
                Canon::Struct(_) => "struct".to_owned(),
                other => display(other),
            };
            format!("[{elem}; {len}]")
        }
        Canon::Primitive(p) => p.name().to_owned(),
        // A kind this version does not know: its canonical text.
        other => other.to_string(),
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
