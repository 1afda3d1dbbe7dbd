//! Entry point of checking: parse, then resolve; collect every diagnostic.

use crate::diag::{Error, ErrorKind, Sink};
use crate::limits::MAX_FILE_SIZE;
use crate::model::Schema;

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
