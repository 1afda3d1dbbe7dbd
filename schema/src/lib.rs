//! DataHub channel schemas.
//!
//! A schema file (TOML, format v1) declares plain-data and atomic structs and
//! the channels that carry them. This crate parses it with precise,
//! rustc-style diagnostics, lays every struct out as C (`#[repr(C)]`) would
//! on a 64-bit target, and reduces types and channels to the canonical form
//! and BLAKE2b-256 schema hashes of DESIGN.md §4.

mod hash;

pub use hash::{CHANNEL_HASH_DOMAIN, ParseHashError, SchemaHash, TEXT_PREFIX, TYPE_HASH_DOMAIN};
