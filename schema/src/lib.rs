//! DataHub channel schemas.
//!
//! A schema file (TOML, format v1) declares plain-data and atomic structs and
//! the channels that carry them. This crate parses it with precise,
//! rustc-style diagnostics (every problem of a file, each at its line and
//! column), lays every struct out as C (`#[repr(C)]`) would on a 64-bit
//! target, and reduces types and channels to the canonical form and
//! BLAKE2b-256 schema hashes of `docs/schema.md`, "Canonical form and hashes".
//!
//! ```
//! use datahub_schema::Schema;
//!
//! let schema = Schema::parse(r#"
//! format = 1
//! [structs.Sample]
//! fields = [{ name = "t", type = "u64" }, { name = "v", type = "[f32; 2]" }]
//! [channels.samples]
//! slot = "Sample"
//! "#, "inline.toml")?;
//! let sample = schema.struct_def("Sample").unwrap();
//! assert_eq!(sample.canonical(), "{16/8:t:u64@0,v:[f32;2]@8}");
//! assert_eq!(schema.channel("samples").unwrap().capacity, 8);
//! # Ok::<(), datahub_schema::Error>(())
//! ```
//!
//! The model ([`Schema`], [`StructDef`], [`Channel`], ...) exists only once
//! every rule holds, so the codegen and the runtime never re-validate it.

pub mod canon;
mod check;
mod diag;
mod hash;
mod ident;
mod limits;
mod model;
mod parse;
mod resolve;
mod segment;
mod text;
mod types;

pub use diag::{Diagnostic, Diagnostics, Error, ErrorKind};
pub use hash::{CHANNEL_HASH_DOMAIN, ParseHashError, SchemaHash, TEXT_PREFIX, TYPE_HASH_DOMAIN};
pub use ident::{
    MAX_CHANNEL_NAME_LEN, RESERVED_ZONE_ACCESSORS, channel_module_name, is_ascii_identifier,
    is_channel_name, is_rust_keyword, zone_accessor_name,
};
pub use limits::{
    MAX_CANONICAL_LEN, MAX_CAPACITY, MAX_CHANNELS, MAX_CONSUMERS, MAX_DOC_LEN, MAX_FIELDS,
    MAX_FILE_SIZE, MAX_NAME_LEN, MAX_NESTING_DEPTH, MAX_SEGMENT_SIZE, MAX_STRUCTS,
    MAX_TOTAL_CANONICAL_LEN, MAX_TYPE_SIZE, MAX_ZONE_NAME_LEN, MAX_ZONES,
};
pub use model::{
    Channel, ChecksumPolicy, Field, Layout, Overflow, Policy, Schema, SlotType, StructDef,
    StructKind, Zone, channel_canonical,
};
pub use resolve::{DEFAULT_CAPACITY, DEFAULT_MAX_CONSUMERS};
pub use types::{MAX_ARRAY_DEPTH, Primitive, TypeRef};
