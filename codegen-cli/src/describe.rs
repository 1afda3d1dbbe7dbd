//! `datahub-codegen describe`: each struct's layout as a table, for people
//! reading a schema (offsets, sizes, explicit padding, hashes).

use std::fmt::Write as _;

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_BORDERS_ONLY};
use datahub_schema::{Schema, SlotType, StructKind};

/// Every struct's layout (offset, size, type, field) with its type hash,
/// then every channel with its hash, slot and zones.
///
/// ```
/// let schema = datahub_schema::Schema::load("../schemas/sensor.toml")?;
/// let text = datahub_codegen::describe(&schema);
/// assert!(text.contains("struct SensorFrame: 4112 bytes, align 8"));
/// # Ok::<(), datahub_schema::Error>(())
/// ```
pub fn describe(schema: &Schema) -> String {
    let mut out = String::new();
    for s in schema.structs() {
        let kind = match s.kind {
            StructKind::Plain => "plain data: a slot or a locked zone",
            StructKind::Atomic => "atomics: a lock-free zone",
            _ => "atomics and plain data mixed: usable by no channel",
        };
        let _ = writeln!(
            out,
            "struct {}: {} bytes, align {} ({kind})",
            s.name, s.layout.size, s.layout.align
        );
        if let Some(doc) = &s.doc {
            let _ = writeln!(out, "  {doc}");
        }
        let mut t = Table::new();
        t.load_style(UTF8_BORDERS_ONLY)
            .set_header(["offset", "size", "type", "field"]);
        for f in &s.fields {
            let name = match &f.doc {
                Some(doc) => format!("{}  ({doc})", f.name),
                None => f.name.clone(),
            };
            t.add_row([
                Cell::new(f.offset).set_alignment(CellAlignment::Right),
                Cell::new(f.layout.size).set_alignment(CellAlignment::Right),
                Cell::new(f.ty.to_string()),
                Cell::new(name),
            ]);
        }
        let _ = writeln!(out, "{t}");
        let _ = writeln!(out, "  type hash {}\n", s.type_hash());
    }
    for c in schema.channels() {
        let slot = match &c.slot {
            SlotType::Struct(name) => name.clone(),
            SlotType::Bytes { size } => format!("bytes, up to {size}"),
            other => format!("{other:?}"),
        };
        let _ = writeln!(out, "channel {}: slot {slot}", c.name);
        if let Some(doc) = &c.doc {
            let _ = writeln!(out, "  {doc}");
        }
        let _ = writeln!(
            out,
            "  {} x{}, {}, checksum {}, up to {} consumers",
            c.policy, c.capacity, c.overflow, c.checksum, c.max_consumers
        );
        for z in &c.zones {
            let kind = if z.locked {
                "locked zone"
            } else {
                "lock-free zone"
            };
            let _ = writeln!(out, "  {kind} {}: {}", z.name, z.ty);
        }
        let _ = writeln!(out, "  channel hash {}\n", c.hash());
    }
    if out.is_empty() {
        out.push_str("(no structs and no channels)\n");
    }
    out
}
