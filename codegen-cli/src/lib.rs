//! `datahub-codegen`: tooling over DataHub channel schemas: hashes,
//! layouts, and typed Rust generated from a schema ([`generate`], and
//! [`Builder`] for a `build.rs`).
//!
//! The `datahub-codegen` command is a thin shell over this library, so a
//! `build.rs` can do what the command does.
//!
//! ```
//! use datahub_codegen::HashReport;
//! use datahub_schema::Schema;
//!
//! let schema = Schema::load("../schemas/sensor.toml")?;
//! let report = HashReport::new(&schema);
//! let json = serde_json::to_value(&report).unwrap();
//! assert!(json["channels"]["sensor"]["hash"].as_str().unwrap().starts_with("dh1:"));
//! # Ok::<(), datahub_schema::Error>(())
//! ```

mod builder;
mod crate_path;
mod describe;
mod generate;
mod report;

pub use builder::{BuildError, Builder, generate_file, generate_file_with};
pub use crate_path::{CratePath, CratePathError};
pub use describe::describe;
pub use generate::{GenerateError, generate, generate_with, module_name};
pub use report::{ChannelReport, HashReport, StructReport};
