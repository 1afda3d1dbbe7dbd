//! Errors of the schema crate: one [`ErrorKind`] per refusal rule, each with
//! a stable code, located at a file, line and column, and rendered the way
//! rustc renders its diagnostics (`FILE:LINE:COL: error[CODE]: ...`, the
//! source line with a caret, then `help:` with the exact fix).

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

/// What is wrong with a schema: one variant per refusal rule of `docs/schema.md`.
///
/// Every variant has a stable [`code`](ErrorKind::code) (`DH1xx`); the
/// message says what was expected and what was found, and the
/// [`Diagnostic::help`] that comes with it says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file is not TOML.
    #[error("invalid TOML: {message}")]
    Syntax {
        /// The TOML parser's message.
        message: String,
    },
    /// The file is not UTF-8.
    #[error("the schema file is not UTF-8: invalid byte at offset {offset}")]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// `format` is missing or not 1.
    #[error("unsupported schema format {found}: this version of DataHub reads `format = 1`")]
    UnsupportedFormat {
        /// The value found, as written.
        found: String,
    },
    /// A required key is absent.
    #[error("missing key `{key}` in {within}")]
    MissingKey {
        /// The key that must be present.
        key: &'static str,
        /// Where it is missing, e.g. ``struct `Frame` ``.
        within: String,
    },
    /// A key that format v1 does not define.
    #[error("unknown key `{key}` in {within}: expected one of {expected}")]
    UnknownKey {
        /// The key found.
        key: String,
        /// Where it was found.
        within: String,
        /// The keys allowed there.
        expected: String,
    },
    /// A value of the wrong TOML type.
    #[error("`{key}` must be {expected}, found {found}")]
    WrongType {
        /// The key (or `fields[2]` for array items).
        key: String,
        /// The TOML type expected, with an example.
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A value of the right TOML type that is out of range or contradicts another.
    #[error("invalid `{key}`: {message}")]
    InvalidValue {
        /// The key.
        key: String,
        /// What was expected and found.
        message: String,
    },
    /// A name that is not allowed for what it names.
    #[error("{what} name `{name}` is not {rule}")]
    InvalidName {
        /// `struct`, `field`, `zone` or `channel`.
        what: &'static str,
        /// The name found.
        name: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A name that is a Rust keyword.
    #[error("{what} name `{name}` is a Rust keyword, and generated code could not use it")]
    KeywordName {
        /// `struct`, `field` or `zone`.
        what: &'static str,
        /// The keyword.
        name: String,
    },
    /// The same name twice where names must be unique.
    #[error("duplicate {what} name `{name}` in {within}")]
    DuplicateName {
        /// `field` or `zone`.
        what: &'static str,
        /// The repeated name.
        name: String,
        /// The struct or channel that repeats it.
        within: String,
    },
    /// A type name that is neither a primitive nor a struct of this file.
    #[error("unknown type `{name}`: expected {expected}")]
    UnknownType {
        /// The name found.
        name: String,
        /// What the name could be.
        expected: String,
    },
    /// A familiar type that format v1 refuses (bool, char, usize, ...).
    #[error("type `{name}` is not allowed: {reason}")]
    ForbiddenType {
        /// The type named.
        name: String,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// A type expression that cannot be read.
    #[error("cannot read type `{text}`: {message}")]
    InvalidTypeSyntax {
        /// The expression as written.
        text: String,
        /// What was expected.
        message: String,
    },
    /// A struct that contains itself, directly or through others.
    #[error("recursive type: {cycle}, so its size would be infinite")]
    RecursiveType {
        /// The cycle, e.g. ``struct `A` contains `B`, which contains `A` ``.
        cycle: String,
    },
    /// `[T; 0]`.
    #[error("array of length 0 in `{text}`: a zero-sized field has no bytes to share")]
    ZeroLengthArray {
        /// The type expression.
        text: String,
    },
    /// A struct without fields.
    #[error(
        "struct `{name}` has no fields, so its size is 0: every shared type needs at least one byte"
    )]
    ZeroSizedStruct {
        /// The struct.
        name: String,
    },
    /// Bytes that `#[repr(C)]` would insert silently, and that a C or Python
    /// peer could lay out differently.
    #[error(
        "struct `{struct_name}` has {size} byte{s} of implicit padding at offset {offset}, {place}",
        s = if *size == 1 { "" } else { "s" }
    )]
    ImplicitPadding {
        /// The struct.
        struct_name: String,
        /// Offset of the gap.
        offset: u64,
        /// Size of the gap in bytes.
        size: u64,
        /// ``after field `seq` `` or ``at the end, after field `seq` ``.
        place: String,
    },
    /// A slot type with an atomic inside.
    #[error(
        "channel `{channel}`'s slot type `{ty}` contains atomic field `{field}` ({field_ty}): a slot holds plain data that the ring coordinates"
    )]
    AtomicInSlot {
        /// The channel.
        channel: String,
        /// The slot struct.
        ty: String,
        /// Path to the first atomic field, e.g. `stats.count`.
        field: String,
        /// Its type.
        field_ty: String,
    },
    /// A lock-free zone type with a plain field.
    #[error(
        "zone `{zone}` is lock-free, but its type `{ty}` has non-atomic field `{field}` ({field_ty}): two processes could tear it"
    )]
    NonAtomicInLockFreeZone {
        /// The zone.
        zone: String,
        /// The zone's struct.
        ty: String,
        /// Path to the first non-atomic field.
        field: String,
        /// Its type.
        field_ty: String,
    },
    /// A locked zone type with an atomic inside.
    #[error(
        "zone `{zone}` is locked, but its type `{ty}` has atomic field `{field}` ({field_ty}): a locked zone holds plain data guarded by its spin lock"
    )]
    AtomicInLockedZone {
        /// The zone.
        zone: String,
        /// The zone's struct.
        ty: String,
        /// Path to the first atomic field.
        field: String,
        /// Its type.
        field_ty: String,
    },
    /// More than 16 zones in one channel.
    #[error("channel `{channel}` has {count} zones: at most {max} are allowed")]
    TooManyZones {
        /// The channel.
        channel: String,
        /// How many it declares.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A type or canonical form beyond what DataHub can represent.
    #[error("{what} is too large: {found}, the limit is {limit}")]
    TooLarge {
        /// What is too large.
        what: String,
        /// Its size.
        found: String,
        /// The limit.
        limit: String,
    },
    /// Two names of the schema that generated Rust would spell the same in
    /// one namespace (two channel modules, a channel module and a struct,
    /// two zone accessors of a handle).
    #[error("{what} and {other} would both be {rust} in the generated Rust")]
    NameClash {
        /// The later of the two, e.g. ``channel `a_b` ``.
        what: String,
        /// The earlier one, with its line, e.g. ``channel `a-b` (line 3)``.
        other: String,
        /// The Rust item both would be, e.g. ``the module `a_b` ``.
        rust: String,
    },
    /// A control or text-direction character in a string that generated
    /// code carries (a `doc`): it could make the code read differently
    /// than it compiles, or not compile.
    #[error(
        "`{key}` contains {character} at character {position}: control and text-direction characters are not allowed in text that reaches generated code"
    )]
    ForbiddenCharacter {
        /// The key of the string, e.g. `doc`.
        key: String,
        /// The character, named: `U+202E (RIGHT-TO-LEFT OVERRIDE)`.
        character: String,
        /// Its 1-based position among the string's characters.
        position: usize,
    },
    /// A struct with both atomic and plain fields that no channel uses: no
    /// derive can lay it out, so no code can be generated for it.
    #[error(
        "struct `{name}` mixes atomic field `{atomic_field}` ({atomic_ty}) and plain field `{plain_field}` ({plain_ty}): \
         a slot or a locked zone holds only plain data and a lock-free zone only atomics, so nothing can use it"
    )]
    MixedStruct {
        /// The struct.
        name: String,
        /// Its first atomic field.
        atomic_field: String,
        /// That field's type.
        atomic_ty: String,
        /// Its first plain field.
        plain_field: String,
        /// That field's type.
        plain_ty: String,
    },
}

impl ErrorKind {
    /// The stable code of this kind of error (`DH100`..`DH199`), for
    /// documentation, metrics and any C API.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Syntax { .. } => "DH100",
            Self::NotUtf8 { .. } => "DH101",
            Self::UnsupportedFormat { .. } => "DH102",
            Self::MissingKey { .. } => "DH103",
            Self::UnknownKey { .. } => "DH104",
            Self::WrongType { .. } => "DH105",
            Self::InvalidValue { .. } => "DH106",
            Self::InvalidName { .. } => "DH107",
            Self::KeywordName { .. } => "DH108",
            Self::DuplicateName { .. } => "DH109",
            Self::UnknownType { .. } => "DH110",
            Self::ForbiddenType { .. } => "DH111",
            Self::InvalidTypeSyntax { .. } => "DH112",
            Self::RecursiveType { .. } => "DH113",
            Self::ZeroLengthArray { .. } => "DH114",
            Self::ZeroSizedStruct { .. } => "DH115",
            Self::ImplicitPadding { .. } => "DH116",
            Self::AtomicInSlot { .. } => "DH117",
            Self::NonAtomicInLockFreeZone { .. } => "DH118",
            Self::AtomicInLockedZone { .. } => "DH119",
            Self::TooManyZones { .. } => "DH120",
            Self::TooLarge { .. } => "DH121",
            Self::NameClash { .. } => "DH122",
            Self::ForbiddenCharacter { .. } => "DH123",
            Self::MixedStruct { .. } => "DH124",
        }
    }
}

/// One problem in a schema file, located to the key or value at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong.
    pub kind: ErrorKind,
    /// The file, as given to the parser.
    pub file: String,
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// 1-based column (in characters) of the offending key or value.
    pub column: usize,
    /// Byte range in the source.
    pub span: Range<usize>,
    /// A note under the caret, e.g. what the offending value means.
    pub label: Option<String>,
    /// What to do, e.g. the exact field to add.
    pub help: Option<String>,
}

impl Diagnostic {
    /// The stable code of [`Self::kind`].
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

/// `FILE:LINE:COL: error[CODE]: MESSAGE`.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error[{}]: {}",
            self.file,
            self.line,
            self.column,
            self.code(),
            self.kind
        )
    }
}

/// Every problem found in one schema file, with the source to show them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    file: String,
    source: String,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn new(file: String, source: String, mut items: Vec<Diagnostic>) -> Self {
        // Read top to bottom, as a user fixes them.
        items.sort_by_key(|d| (d.span.start, d.span.end));
        Self {
            file,
            source,
            items,
        }
    }

    /// The file the problems are in.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The problems, in source order (never empty).
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// Renders every problem as rustc does: a `FILE:LINE:COL: error[CODE]:`
    /// line, the offending source line with a caret, and the help. `color`
    /// adds ANSI styles for a terminal.
    pub fn render(&self, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut out = String::new();
        let lines = LineIndex::new(&self.source);
        for d in &self.items {
            out.push_str(&d.to_string());
            out.push('\n');
            // Show only the lines of the span (and at most EXCERPT_CONTEXT
            // bytes either side of it on those lines): handing the whole
            // source to the renderer for each problem would make a file
            // with many problems cost quadratic time.
            let span = clamp_span(&self.source, &d.span);
            let (first, last) = (lines.line(span.start), lines.line(span.end));
            let from = floor_char_boundary(
                &self.source,
                lines
                    .start(first)
                    .max(span.start.saturating_sub(EXCERPT_CONTEXT)),
            );
            let to = ceil_char_boundary(
                &self.source,
                lines
                    .end(last, &self.source)
                    .min(span.end.saturating_add(EXCERPT_CONTEXT)),
            );
            let excerpt = &self.source[from..to];
            let mut annotation = AnnotationKind::Primary.span(span.start - from..span.end - from);
            if let Some(label) = &d.label {
                annotation = annotation.label(label.as_str());
            }
            let mut group = Group::with_level(Level::ERROR).element(
                Snippet::source(excerpt)
                    .line_start(first + 1)
                    .path(self.file.as_str())
                    .fold(true)
                    .annotation(annotation),
            );
            if let Some(help) = &d.help {
                group = group.element(Level::HELP.message(help.as_str()));
            }
            out.push_str(&renderer.render(&[group]));
            out.push_str("\n\n");
        }
        let n = self.items.len();
        out.push_str(&format!(
            "error: {n} problem{} in {}\n",
            if n == 1 { "" } else { "s" },
            self.file
        ));
        out
    }
}

/// One line per problem: `FILE:LINE:COL: error[CODE]: MESSAGE`.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
            if let Some(help) = &d.help {
                write!(f, " (help: {help})")?;
            }
        }
        Ok(())
    }
}

/// Why a schema could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read schema file `{}`: {source}: check the path and its permissions", path.display())]
    Read {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read, and has problems; every one found is listed.
    #[error("{0}")]
    Invalid(Diagnostics),
}

impl Error {
    /// The stable code: `DH190` for an unreadable file, else the first
    /// problem's code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Read { .. } => "DH190",
            Self::Invalid(d) => d.items.first().map_or("DH100", Diagnostic::code),
        }
    }

    /// The diagnostics, when the file was read.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            Self::Invalid(d) => Some(d),
            Self::Read { .. } => None,
        }
    }

    /// The full rustc-style rendering (see [`Diagnostics::render`]).
    pub fn render(&self, color: bool) -> String {
        match self {
            Self::Invalid(d) => d.render(color),
            Self::Read { .. } => format!("error[{}]: {self}\n", self.code()),
        }
    }
}

/// Bytes of a long line shown on either side of a problem's span (the
/// renderer trims lines to 140 columns anyway).
const EXCERPT_CONTEXT: usize = 512;

/// Where each line of a source starts, to find lines in logarithmic time.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(source: &str) -> Self {
        let newlines = source.bytes().enumerate().filter(|&(_, b)| b == b'\n');
        Self {
            starts: std::iter::once(0)
                .chain(newlines.map(|(i, _)| i + 1))
                .collect(),
        }
    }

    /// The 0-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }

    fn start(&self, line: usize) -> usize {
        self.starts[line]
    }

    /// The offset of the end of `line`, before its `\n`.
    fn end(&self, line: usize, source: &str) -> usize {
        self.starts
            .get(line + 1)
            .map_or(source.len(), |&next| next - 1)
    }
}

/// Collects diagnostics while one file is checked.
pub(crate) struct Sink<'s> {
    file: &'s str,
    source: &'s str,
    items: Vec<Diagnostic>,
    lines: LineIndex,
    /// The offset, 0-based line and 1-based column of the last problem, so
    /// that the columns of problems recorded in source order (as most are)
    /// are counted from there, not from the start of a long line each time.
    last: (usize, usize, usize),
}

impl<'s> Sink<'s> {
    pub(crate) fn new(file: &'s str, source: &'s str) -> Self {
        Self {
            file,
            source,
            items: Vec::new(),
            lines: LineIndex::new(source),
            last: (0, 0, 1),
        }
    }

    /// 1-based line and column (in characters) of a byte offset on a
    /// character boundary.
    fn locate(&mut self, offset: usize) -> (usize, usize) {
        let line = self.lines.line(offset);
        let (last_offset, last_line, last_column) = self.last;
        let (from, column) = if line == last_line && offset >= last_offset {
            (last_offset, last_column)
        } else {
            (self.lines.start(line), 1)
        };
        let column = column + self.source[from..offset].chars().count();
        self.last = (offset, line, column);
        (line + 1, column)
    }

    /// Records a problem at `span`; returns it so a label and help can be added.
    pub(crate) fn error(&mut self, kind: ErrorKind, span: Range<usize>) -> &mut Diagnostic {
        let span = clamp_span(self.source, &span);
        let (line, column) = self.locate(span.start);
        self.items.push(Diagnostic {
            kind,
            file: self.file.to_owned(),
            line,
            column,
            span,
            label: None,
            help: None,
        });
        self.items.last_mut().expect("just pushed")
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The 1-based line of a byte offset of the source.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.lines.line(offset) + 1
    }

    pub(crate) fn finish(self) -> Option<Diagnostics> {
        (!self.items.is_empty())
            .then(|| Diagnostics::new(self.file.to_owned(), self.source.to_owned(), self.items))
    }
}

impl Diagnostic {
    /// Adds a label under the caret.
    pub(crate) fn with_label(&mut self, label: impl Into<String>) -> &mut Self {
        self.label = Some(label.into());
        self
    }

    /// Adds the fix.
    pub(crate) fn with_help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }
}

/// A span inside `source`, on character boundaries.
fn clamp_span(source: &str, span: &Range<usize>) -> Range<usize> {
    let start = floor_char_boundary(source, span.start);
    let end = ceil_char_boundary(source, span.end.max(start));
    start..end
}

/// The largest character boundary of `source` at or before `offset`.
fn floor_char_boundary(source: &str, offset: usize) -> usize {
    let mut at = offset.min(source.len());
    while !source.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The smallest character boundary of `source` at or after `offset`.
fn ceil_char_boundary(source: &str, offset: usize) -> usize {
    let mut at = offset.min(source.len());
    while !source.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// 1-based line and column (in characters) of a byte offset.
#[cfg(test)]
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters_from_one() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 6), (2, 1));
        assert_eq!(line_column(src, 9), (2, 3)); // after the two-byte é
        assert_eq!(line_column(src, 1000), (3, 1));
    }

    #[test]
    fn the_sink_locates_problems_like_a_full_count_in_any_order() {
        let src = "a = 1\nbé = 2 # é é\n\nlast";
        let mut sink = Sink::new("t.toml", src);
        for offset in [0, 9, 3, 14, 12, 6, 16, 20, 17, 1, src.len()] {
            let offset = floor_char_boundary(src, offset);
            assert_eq!(sink.locate(offset), line_column(src, offset), "{offset}");
        }
    }

    #[test]
    fn spans_are_clamped_to_character_boundaries() {
        let src = "é";
        assert_eq!(clamp_span(src, &(1..1)), 0..2);
        assert_eq!(clamp_span(src, &(0..1)), 0..2);
        assert_eq!(clamp_span(src, &(5..9)), 2..2);
    }
}
