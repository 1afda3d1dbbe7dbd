//! Entry point of checking: parse, then resolve; collect every diagnostic.
//! [`Schema::load`], [`Schema::parse`] and [`Schema::parse_bytes`] are
//! defined here, above the model they produce, so that the model imports
//! nothing of the checker.

use std::path::Path;

use crate::diag::{Error, ErrorKind, Sink};
use crate::limits::MAX_FILE_SIZE;
use crate::model::Schema;

impl Schema {
    /// Reads and checks a schema file.
    ///
    /// ```
    /// let schema = datahub_schema::Schema::load("../schemas/sensor.toml")?;
    /// assert!(schema.channel("sensor").is_some());
    /// # Ok::<(), datahub_schema::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        use std::io::Read as _;

        let path = path.as_ref();
        let read_error = |source| Error::Read {
            path: path.to_owned(),
            source,
        };
        // Read one byte more than a schema may have, never the whole of a
        // huge file (or of an endless one, such as /dev/zero).
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| {
                f.take(crate::limits::MAX_FILE_SIZE as u64 + 1)
                    .read_to_end(&mut bytes)
            })
            .map_err(read_error)?;
        let file = path.display().to_string();
        if bytes.len() > crate::limits::MAX_FILE_SIZE {
            return Err(too_large(bytes.len(), &file));
        }
        Self::parse_bytes(&bytes, &file)
    }

    /// Checks schema text; `file` names it in diagnostics.
    ///
    /// ```
    /// let err = datahub_schema::Schema::parse(
    ///     "format = 1\n[structs.Bad]\nfields = [{ name = \"a\", type = \"u8\" }, { name = \"b\", type = \"u32\" }]\n",
    ///     "bad.toml",
    /// ).unwrap_err();
    /// assert!(err.to_string().starts_with("bad.toml:3:"));
    /// assert!(err.to_string().contains(r#"add { name = "_pad0", type = "[u8; 3]" } after "a""#));
    /// ```
    pub fn parse(source: &str, file: &str) -> Result<Self, Error> {
        check(source, file)
    }

    /// Checks schema bytes, refusing what is not UTF-8 with a located error.
    pub fn parse_bytes(bytes: &[u8], file: &str) -> Result<Self, Error> {
        if bytes.len() > crate::limits::MAX_FILE_SIZE {
            return Err(too_large(bytes.len(), file));
        }
        match std::str::from_utf8(bytes) {
            Ok(source) => Self::parse(source, file),
            Err(e) => Err(not_utf8(bytes, e.valid_up_to(), file)),
        }
    }
}

pub(crate) fn check(source: &str, file: &str) -> Result<Schema, Error> {
    if source.len() > MAX_FILE_SIZE {
        return Err(too_large(source.len(), file));
    }
    let mut sink = Sink::new(file, source);
    let schema = crate::parse::parse(source, &mut sink)
        .and_then(|raw| crate::resolve::resolve(raw, &mut sink));
    match (schema, sink.finish()) {
        (Some(schema), None) => Ok(schema),
        (_, Some(diagnostics)) => Err(Error::Invalid(diagnostics)),
        // resolve() returns None only after reporting; keep a located error
        // rather than trusting that invariant with a panic.
        (None, None) => Err(Error::Invalid(crate::diag::Diagnostics::new(
            file.to_owned(),
            source.to_owned(),
            Vec::new(),
        ))),
    }
}

pub(crate) fn not_utf8(bytes: &[u8], valid_up_to: usize, file: &str) -> Error {
    // Show the valid prefix, so that the caret lands where the bad byte is.
    let source = String::from_utf8_lossy(&bytes[..valid_up_to]).into_owned();
    let mut sink = Sink::new(file, &source);
    sink.error(
        ErrorKind::NotUtf8 {
            offset: valid_up_to,
        },
        valid_up_to..valid_up_to,
    )
    .with_help("save the schema file as UTF-8");
    match sink.finish() {
        Some(d) => Error::Invalid(d),
        None => unreachable!("one error was recorded"),
    }
}

/// A file of more than [`MAX_FILE_SIZE`] bytes (`size` is what was read: at
/// least one byte more), refused before it is parsed.
pub(crate) fn too_large(size: usize, file: &str) -> Error {
    let mut sink = Sink::new(file, "");
    sink.error(
        ErrorKind::TooLarge {
            what: "the schema file".into(),
            found: if size > MAX_FILE_SIZE + 1 {
                format!("{size} bytes")
            } else {
                format!("more than {MAX_FILE_SIZE} bytes")
            },
            limit: format!("{MAX_FILE_SIZE} bytes"),
        },
        0..0,
    )
    .with_help("split the schema into several files");
    match sink.finish() {
        Some(d) => Error::Invalid(d),
        None => unreachable!("one error was recorded"),
    }
}
