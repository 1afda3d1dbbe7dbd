//! The build.rs API: [`Builder`] generates one Rust file per schema into a
//! directory (by default Cargo's `OUT_DIR`), the way prost-build does.

use std::path::{Path, PathBuf};

use datahub_schema::Schema;

use crate::crate_path::{CratePath, CratePathError};
use crate::generate::{GenerateError, generate_with};

/// Why a [`Builder`] run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A schema file is invalid; `rendered` holds every diagnostic, as
    /// `datahub-codegen check` prints them.
    #[error("{rendered}")]
    Schema {
        /// The diagnostics, rendered (`FILE:LINE:COL: error[CODE]: ...`).
        rendered: String,
    },
    /// Valid schema, but no Rust can be generated from it.
    #[error("{path}: {source}")]
    Generate {
        /// The schema file.
        path: PathBuf,
        /// What stands in the way.
        #[source]
        source: GenerateError,
    },
    /// The path given to [`Builder::crate_path`] is not one generated code
    /// can use.
    #[error(transparent)]
    CratePath(#[from] CratePathError),
    /// No output directory: neither [`Builder::out_dir`] nor `OUT_DIR` (set
    /// by Cargo for build scripts).
    #[error(
        "no output directory: call `.out_dir(..)`, or run from a build script (Cargo sets OUT_DIR)"
    )]
    NoOutDir,
    /// Writing a generated file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Generates Rust from schemas, for a `build.rs`.
///
/// In `build.rs`'s `main`:
///
/// ```no_run
/// datahub_codegen::Builder::new()
///     .schema("schemas/sensor.toml")
///     .generate()
///     .unwrap_or_else(|e| panic!("{e}"));
/// ```
///
/// and in the crate: `include!(concat!(env!("OUT_DIR"), "/sensor.rs"));`
///
/// Each schema `DIR/NAME.toml` becomes `OUT/NAME.rs`; in a build script,
/// Cargo is told to re-run it when a schema changes.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    schemas: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    crate_path: Option<String>,
}

impl Builder {
    /// A builder with no schemas, writing to `OUT_DIR`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a schema file.
    pub fn schema(mut self, path: impl AsRef<Path>) -> Self {
        self.schemas.push(path.as_ref().to_owned());
        self
    }

    /// Writes the generated files into `dir` instead of `OUT_DIR`.
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// The path by which the generated code names the `datahub` crate,
    /// instead of `::datahub`: `"::dh"` when the dependency is renamed
    /// (`dh = { package = "datahub", .. }` in `Cargo.toml`), or
    /// `"crate::path::to::datahub"` when the crate reaches datahub through
    /// a re-export. Derived structs get `#[datahub(crate = "...")]` with
    /// the same path. It must be absolute (see [`CratePath`]);
    /// [`generate`](Self::generate) refuses another.
    ///
    /// With `dh = { package = "datahub", .. }` under `[dependencies]`, in
    /// `build.rs`:
    ///
    /// ```no_run
    /// datahub_codegen::Builder::new()
    ///     .schema("schemas/sensor.toml")
    ///     .crate_path("::dh")
    ///     .generate()
    ///     .unwrap_or_else(|e| panic!("{e}"));
    /// ```
    ///
    /// The generated code names nothing from the prelude either, so it may
    /// be included in a module under `#![no_implicit_prelude]`.
    pub fn crate_path(mut self, path: impl Into<String>) -> Self {
        self.crate_path = Some(path.into());
        self
    }

    /// Generates every schema; returns the files written. A file whose
    /// content would not change is left untouched (its mtime too).
    pub fn generate(self) -> Result<Vec<PathBuf>, BuildError> {
        let crate_path = match &self.crate_path {
            Some(path) => CratePath::new(path)?,
            None => CratePath::default(),
        };
        let in_build_script = std::env::var_os("OUT_DIR").is_some();
        let out_dir = match self.out_dir {
            Some(dir) => dir,
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(BuildError::NoOutDir)?,
        };
        let mut written = Vec::with_capacity(self.schemas.len());
        for path in &self.schemas {
            if in_build_script {
                println!("cargo::rerun-if-changed={}", path.display());
            }
            let code = generate_file_with(path, &crate_path)?;
            let stem = path
                .file_stem()
                .map_or_else(|| "schema".into(), |s| s.to_string_lossy().into_owned());
            let out = out_dir.join(format!("{stem}.rs"));
            if std::fs::read_to_string(&out).ok().as_deref() != Some(code.as_str()) {
                std::fs::write(&out, &code).map_err(|source| BuildError::Write {
                    path: out.clone(),
                    source,
                })?;
            }
            written.push(out);
        }
        Ok(written)
    }
}

/// The Rust code for the schema file at `path` (named in its header as
/// given).
pub fn generate_file(path: &Path) -> Result<String, BuildError> {
    generate_file_with(path, &CratePath::default())
}

/// [`generate_file`], with the code naming the runtime by `crate_path`.
pub fn generate_file_with(path: &Path, crate_path: &CratePath) -> Result<String, BuildError> {
    let schema = Schema::load(path).map_err(|e| BuildError::Schema {
        rendered: e.render(false),
    })?;
    generate_with(&schema, &path.display().to_string(), crate_path).map_err(|source| {
        BuildError::Generate {
            path: path.to_owned(),
            source,
        }
    })
}
