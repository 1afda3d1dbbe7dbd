//! Integration tests of `datahub-schema`: one binary, one module per concern.

mod examples;
mod fuzz;
mod generated;
mod limits;
mod rules;
mod vectors;

use std::path::PathBuf;

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// `shared/vectors/`, which sits beside the repository (`<repo>/../shared`).
pub fn vectors_dir() -> PathBuf {
    repo_root().join("../shared/vectors")
}
