//! `datahub-codegen`: tooling over DataHub channel schemas.
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

mod report;

pub use report::{ChannelReport, HashReport, StructReport};
