//! The hash report of a schema: every struct's layout, canonical string and
//! type hash, and every channel's canonical string and hash, as JSON (the
//! shape of `shared/vectors/expected.json`) or as tables for people.

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_BORDERS_ONLY};
use datahub_schema::{Channel, Schema, SlotType, StructDef};
use serde::Serialize;

/// One struct in a [`HashReport`].
#[derive(Debug, Clone, Serialize)]
pub struct StructReport {
    /// Size in bytes.
    pub size: u64,
    /// Alignment in bytes.
    pub align: u64,
    /// Canonical string.
    pub canon: String,
    /// Type hash, `dh1:...`.
    pub hash: String,
}

/// One channel in a [`HashReport`].
#[derive(Debug, Clone, Serialize)]
pub struct ChannelReport {
    /// Canonical string (the bytes that are hashed).
    pub canon: String,
    /// Channel hash, `dh1:...`.
    pub hash: String,
}

/// Every hash of a schema, in declaration order.
///
/// Serializes as `{"structs": {NAME: {size, align, canon, hash}}, "channels": {NAME: {canon, hash}}}`.
#[derive(Debug, Clone)]
pub struct HashReport {
    structs: Vec<(String, StructReport)>,
    channels: Vec<(String, ChannelReport)>,
    /// Kept for the human table.
    details: Vec<String>,
}

impl HashReport {
    /// The report of a checked schema.
    pub fn new(schema: &Schema) -> Self {
        let structs = schema
            .structs()
            .iter()
            .map(|s: &StructDef| {
                (
                    s.name.clone(),
                    StructReport {
                        size: s.layout.size,
                        align: s.layout.align,
                        canon: s.canonical().to_owned(),
                        hash: s.type_hash().to_string(),
                    },
                )
            })
            .collect();
        let channels = schema
            .channels()
            .iter()
            .map(|c: &Channel| {
                (
                    c.name.clone(),
                    ChannelReport {
                        canon: c.canonical().to_owned(),
                        hash: c.hash().to_string(),
                    },
                )
            })
            .collect();
        let details = schema.channels().iter().map(channel_summary).collect();
        Self {
            structs,
            channels,
            details,
        }
    }

    /// Structs by name, in declaration order.
    pub fn structs(&self) -> &[(String, StructReport)] {
        &self.structs
    }

    /// Channels by name, in declaration order.
    pub fn channels(&self) -> &[(String, ChannelReport)] {
        &self.channels
    }

    /// Tables for people: structs (size, alignment, hash, canonical form)
    /// and channels (hash, ring parameters, zones).
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        if !self.structs.is_empty() {
            let mut t = Table::new();
            t.load_style(UTF8_BORDERS_ONLY).set_header([
                "struct",
                "size",
                "align",
                "type hash",
                "canonical form",
            ]);
            for (name, s) in &self.structs {
                t.add_row([
                    Cell::new(name),
                    Cell::new(s.size).set_alignment(CellAlignment::Right),
                    Cell::new(s.align).set_alignment(CellAlignment::Right),
                    Cell::new(&s.hash),
                    Cell::new(&s.canon),
                ]);
            }
            out.push_str(&t.to_string());
            out.push('\n');
        }
        if !self.channels.is_empty() {
            let mut t = Table::new();
            t.load_style(UTF8_BORDERS_ONLY).set_header([
                "channel",
                "channel hash",
                "ring and zones",
            ]);
            for ((name, c), detail) in self.channels.iter().zip(&self.details) {
                t.add_row([Cell::new(name), Cell::new(&c.hash), Cell::new(detail)]);
            }
            out.push_str(&t.to_string());
            out.push('\n');
        }
        if out.is_empty() {
            out.push_str("(no structs and no channels)\n");
        }
        out
    }
}

impl Serialize for HashReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;

        /// A list of pairs serialized as a map, keeping its order.
        struct Ordered<'a, T>(&'a [(String, T)]);
        impl<T: Serialize> Serialize for Ordered<'_, T> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("structs", &Ordered(&self.structs))?;
        map.serialize_entry("channels", &Ordered(&self.channels))?;
        map.end()
    }
}

fn channel_summary(c: &Channel) -> String {
    let slot = match &c.slot {
        SlotType::Struct(name) => format!("slot {name}"),
        SlotType::Bytes { size } => format!("slot bytes, {size} max"),
        other => format!("slot {other:?}"),
    };
    let zones = if c.zones.is_empty() {
        "no zones".to_owned()
    } else {
        let list: Vec<String> = c
            .zones
            .iter()
            .map(|z| {
                format!(
                    "{}: {}{}",
                    z.name,
                    z.ty,
                    if z.locked { " (locked)" } else { "" }
                )
            })
            .collect();
        format!("zones {}", list.join(", "))
    };
    format!(
        "{slot}; {} x{}, {}, checksum {}, up to {} consumers\n{zones}",
        c.policy, c.capacity, c.overflow, c.checksum, c.max_consumers
    )
}
