//! Entry point of checking: parse, then resolve; collect every diagnostic.

use crate::diag::{Error, ErrorKind, Sink};
use crate::model::Schema;

pub(crate) fn check(source: &str, file: &str) -> Result<Schema, Error> {
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
