//! The checked schema model shared by the codegen, the derive tests and the
//! runtime: structs with their C layout, channels with their ring
//! parameters and zones, and the canonical strings and hashes of both.
//!
//! A [`Schema`] only exists once every rule of `docs/schema.md` holds, so code
//! that receives one never re-validates it.

use crate::hash::{CHANNEL_HASH_DOMAIN, SchemaHash};
use crate::types::TypeRef;

/// Size and alignment of a type, in bytes, as `#[repr(C)]` lays it out on a
/// 64-bit target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Size in bytes (a multiple of `align`).
    pub size: u64,
    /// Alignment in bytes (a power of two).
    pub align: u64,
}

/// Whether a struct holds atomics, plain data, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StructKind {
    /// Only plain numbers: usable as a slot or a locked zone.
    Plain,
    /// Only atomics: usable as a lock-free zone.
    Atomic,
    /// Both: declared but unusable by a channel.
    Mixed,
}

/// A field of a struct, placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name (an ASCII Rust identifier).
    pub name: String,
    /// Its type.
    pub ty: TypeRef,
    /// Documentation from the schema's `doc`.
    pub doc: Option<String>,
    /// Offset from the start of the struct.
    pub offset: u64,
    /// Size and alignment of the field's type.
    pub layout: Layout,
    /// Canonical string of the field's type (`[f32;1024]`, `{24/8:...}`).
    pub canonical_type: String,
}

/// A struct of the schema with its C layout, canonical string and type hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDef {
    /// The struct's name (not part of its identity: renaming it keeps the hash).
    pub name: String,
    /// Documentation from the schema's `doc`.
    pub doc: Option<String>,
    /// Fields in declaration order, with offsets.
    pub fields: Vec<Field>,
    /// Size and alignment.
    pub layout: Layout,
    /// Plain, atomic or mixed.
    pub kind: StructKind,
    pub(crate) canonical: String,
    pub(crate) hash: SchemaHash,
}

impl StructDef {
    /// The canonical string, e.g. `{16/8:timestamp_ns:u64@0,seq:u32@8,_pad0:[u8;4]@12}`.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The type hash: BLAKE2b-256 of `"datahub.type.v1 " + canonical`.
    pub fn type_hash(&self) -> SchemaHash {
        self.hash
    }
}

/// The type of a channel's slots.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotType {
    /// A plain-data struct of the schema, by name.
    Struct(String),
    /// Raw bytes of a fixed maximum size (`slot = "bytes"`, `slot_size = N`);
    /// canonically `[u8;N]`.
    Bytes {
        /// `slot_size`.
        size: u64,
    },
}

/// How many slots a channel's ring has (`docs/protocol.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Policy {
    /// One slot.
    Single,
    /// Two slots.
    Double,
    /// `capacity` slots.
    Ring,
}

/// What the producer does when the ring is full (`docs/protocol.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Overflow {
    /// Lossless: wait for the slowest consumer.
    Block,
    /// Lossy, latest wins: never wait; lapped consumers are told their loss.
    Overwrite,
}

/// Slot checksums (`docs/locks-and-checksums.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ChecksumPolicy {
    /// No checksums.
    None,
    /// The user updates and verifies explicitly.
    Manual,
    /// Computed at commit, verified before a reader sees the slot.
    Enforced,
}

macro_rules! schema_spelling {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The spelling used in schema files.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

schema_spelling!(Policy { Single => "single", Double => "double", Ring => "ring" });
schema_spelling!(Overflow { Block => "block", Overwrite => "overwrite" });
schema_spelling!(ChecksumPolicy { None => "none", Manual => "manual", Enforced => "enforced" });

/// A flexible zone of a channel (Table 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// The zone's name (an ASCII Rust identifier).
    pub name: String,
    /// Its struct, by name.
    pub ty: String,
    /// `true`: plain data under a spin lock; `false`: atomics only.
    pub locked: bool,
    /// Documentation from the schema's `doc`.
    pub doc: Option<String>,
}

/// A channel: its slot type, ring parameters and zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The channel's name (`[A-Za-z0-9_-]{1,63}`).
    pub name: String,
    /// Documentation from the schema's `doc`.
    pub doc: Option<String>,
    /// What the ring's slots hold.
    pub slot: SlotType,
    /// Single, double or ring.
    pub policy: Policy,
    /// Number of slots (1 for single, 2 for double).
    pub capacity: u32,
    /// Block or overwrite.
    pub overflow: Overflow,
    /// None, manual or enforced.
    pub checksum: ChecksumPolicy,
    /// 1..=64.
    pub max_consumers: u32,
    /// Zones in declaration order (at most 16).
    pub zones: Vec<Zone>,
    pub(crate) segment_size: u64,
    pub(crate) slot_canonical: String,
    pub(crate) zone_canonicals: Vec<String>,
    pub(crate) canonical: String,
    pub(crate) hash: SchemaHash,
}

impl Channel {
    /// The canonical string of the slot type (`[u8;N]` for bytes).
    pub fn slot_canonical(&self) -> &str {
        &self.slot_canonical
    }

    /// The type hash of the slot type.
    pub fn slot_hash(&self) -> SchemaHash {
        SchemaHash::of_type_canon(&self.slot_canonical)
    }

    /// The canonical string of each zone's type, in zone order.
    pub fn zone_canonicals(&self) -> &[String] {
        &self.zone_canonicals
    }

    /// The full canonical string that is hashed:
    /// `datahub.channel.v1 slot=CANON zones=NAME=CANON[!locked],...`.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The channel hash: BLAKE2b-256 of [`Self::canonical`].
    pub fn hash(&self) -> SchemaHash {
        self.hash
    }

    /// The size in bytes of the channel's shared-memory segment as the
    /// runtime lays it out (`docs/layout.md`): header, stored canonical strings,
    /// slot states, checksums, consumer table, zones and slots. At most
    /// [`crate::MAX_SEGMENT_SIZE`].
    ///
    /// ```
    /// let schema = datahub_schema::Schema::load("../schemas/camera.toml")?;
    /// // Two slots of 4 MiB, and the header and tables before them.
    /// assert_eq!(schema.channel("raw-camera").unwrap().segment_size(), 8 << 20 | 8192);
    /// # Ok::<(), datahub_schema::Error>(())
    /// ```
    pub fn segment_size(&self) -> u64 {
        self.segment_size
    }
}

/// Builds a channel's canonical string from the canonical strings of its
/// slot and zones (`docs/schema.md`, "Canonical form and hashes"). The runtime uses the same function, so the
/// two paths cannot drift.
///
/// ```
/// let c = datahub_schema::channel_canonical("[u8;16]", &[("tel", "{8/8:n:atomic_u64@0}", false)]);
/// assert_eq!(c, "datahub.channel.v1 slot=[u8;16] zones=tel={8/8:n:atomic_u64@0}");
/// ```
pub fn channel_canonical(slot: &str, zones: &[(&str, &str, bool)]) -> String {
    let mut out = format!("{CHANNEL_HASH_DOMAIN}slot={slot} zones=");
    for (i, (name, canon, locked)) in zones.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(canon);
        if *locked {
            out.push_str("!locked");
        }
    }
    out
}

/// A checked schema file: its structs and channels in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub(crate) structs: Vec<StructDef>,
    pub(crate) channels: Vec<Channel>,
}

impl Schema {
    /// Structs in declaration order.
    pub fn structs(&self) -> &[StructDef] {
        &self.structs
    }

    /// The struct named `name`.
    pub fn struct_def(&self, name: &str) -> Option<&StructDef> {
        self.structs.iter().find(|s| s.name == name)
    }

    /// Channels in declaration order.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The channel named `name`.
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }
}
