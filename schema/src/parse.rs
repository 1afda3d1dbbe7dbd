//! First pass: walk the spanned TOML document and collect raw, located
//! declarations, reporting every key-level problem (unknown keys, missing
//! keys, wrong value types, unreadable type expressions).
//!
//! This is a hand-written walker over `toml`'s spanned document rather than
//! `#[derive(Deserialize)]`, because serde stops at the first error and a
//! schema author should see every problem of a file at once; serde still
//! reads the enumerated values (`policy`, `overflow`, `checksum`).

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::diag::{ErrorKind, Sink};
use crate::limits::{MAX_CHANNELS, MAX_DOC_LEN, MAX_FIELDS, MAX_STRUCTS};
use crate::model::{ChecksumPolicy, Overflow, Policy};
use crate::text::{describe_char, forbidden_in_doc};
use crate::types::{TypeRef, TypeSyntaxError, parse_type};

pub(crate) type Span = Range<usize>;

/// A value with the span of its source text.
#[derive(Debug, Clone)]
pub(crate) struct At<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

#[derive(Debug)]
pub(crate) struct RawSchema {
    pub(crate) structs: Vec<RawStruct>,
    pub(crate) channels: Vec<RawChannel>,
}

#[derive(Debug)]
pub(crate) struct RawStruct {
    pub(crate) name: At<String>,
    pub(crate) doc: Option<String>,
    /// `None` when `fields` is missing or not an array (already reported).
    pub(crate) fields: Option<At<Vec<RawField>>>,
}

#[derive(Debug)]
pub(crate) struct RawField {
    pub(crate) name: Option<At<String>>,
    /// `None` when missing or unreadable (already reported).
    pub(crate) ty: Option<At<TypeRef>>,
    pub(crate) doc: Option<String>,
    /// The whole `{ name = .., type = .. }` entry.
    pub(crate) span: Span,
}

#[derive(Debug)]
pub(crate) struct RawChannel {
    pub(crate) name: At<String>,
    pub(crate) doc: Option<String>,
    pub(crate) slot: Option<At<String>>,
    pub(crate) slot_size: Option<At<u64>>,
    pub(crate) policy: Option<At<Policy>>,
    pub(crate) capacity: Option<At<u64>>,
    pub(crate) overflow: Option<At<Overflow>>,
    pub(crate) checksum: Option<At<ChecksumPolicy>>,
    pub(crate) max_consumers: Option<At<u64>>,
    pub(crate) zones: Option<At<Vec<RawZone>>>,
    /// False when a key of the channel was refused (so later checks that
    /// depend on it stay quiet).
    pub(crate) complete: bool,
}

#[derive(Debug)]
pub(crate) struct RawZone {
    pub(crate) name: Option<At<String>>,
    pub(crate) ty: Option<At<String>>,
    pub(crate) locked: bool,
    pub(crate) doc: Option<String>,
    pub(crate) span: Span,
}

const ROOT_KEYS: &[&str] = &["format", "structs", "channels"];
const STRUCT_KEYS: &[&str] = &["doc", "fields"];
const FIELD_KEYS: &[&str] = &["name", "type", "doc"];
const CHANNEL_KEYS: &[&str] = &[
    "doc",
    "slot",
    "slot_size",
    "policy",
    "capacity",
    "overflow",
    "checksum",
    "max_consumers",
    "zones",
];
const ZONE_KEYS: &[&str] = &["name", "type", "locked", "doc"];

/// An entry's table, `name` and `type` (each `None` when already reported).
type NamedEntry<'v, 'i> = (&'v DeTable<'i>, Option<At<String>>, Option<At<String>>);

/// How to speak of the items of a `fields` or `zones` list.
struct Entry {
    list: &'static str,
    what: &'static str,
    keys: &'static [&'static str],
    example: &'static str,
    name_help: &'static str,
    type_expected: &'static str,
    type_help: &'static str,
}

const FIELD_ENTRY: Entry = Entry {
    list: "fields",
    what: "field",
    keys: FIELD_KEYS,
    example: r#"an inline table, as in `{ name = "x", type = "f64" }`"#,
    name_help: r#"give the field a name: `name = "value"`"#,
    type_expected: "a string, as in `type = \"u32\"`",
    type_help: r#"give the field a type: `type = "u32"`"#,
};

const ZONE_ENTRY: Entry = Entry {
    list: "zones",
    what: "zone",
    keys: ZONE_KEYS,
    example: r#"an inline table, as in `{ name = "telemetry", type = "Telemetry" }`"#,
    name_help: r#"give the zone a name: `name = "telemetry"`"#,
    type_expected: "a string naming a struct",
    type_help: r#"give the zone a struct type: `type = "Telemetry"`"#,
};

/// Walks the document; `None` when it is not TOML (the syntax errors are in `sink`).
pub(crate) fn parse(source: &str, sink: &mut Sink<'_>) -> Option<RawSchema> {
    let (root, errors) = DeTable::parse_recoverable(source);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            sink.error(
                ErrorKind::Syntax {
                    message: e.message().trim().to_owned(),
                },
                span,
            );
        }
        return None;
    }
    let root_span = root.span();
    let root = root.into_inner();
    let mut w = Walker { sink };
    w.unknown_keys(&root, ROOT_KEYS, "the top level of the file");

    match root.get("format") {
        None => {
            w.sink
                .error(
                    ErrorKind::MissingKey {
                        key: "format",
                        within: "the top level of the file".into(),
                    },
                    root_span.start..root_span.start,
                )
                .with_help("start the file with `format = 1`");
        }
        Some(v) => {
            let ok =
                matches!(v.get_ref(), DeValue::Integer(i) if i.radix() == 10 && i.as_str() == "1");
            if !ok {
                let found = source.get(v.span()).unwrap_or("?").to_owned();
                w.sink
                    .error(ErrorKind::UnsupportedFormat { found }, v.span())
                    .with_help("write `format = 1`, or use a newer DataHub for newer formats");
            }
        }
    }

    let mut schema = RawSchema {
        structs: Vec::new(),
        channels: Vec::new(),
    };
    if let Some(structs) = root.get("structs")
        && let Some(table) = w.table(
            structs,
            "structs",
            "a table of structs, as in `[structs.Frame]`",
        )
    {
        w.too_many(table, "structs", MAX_STRUCTS);
        schema.structs = table
            .iter()
            .take(MAX_STRUCTS)
            .filter_map(|(name, def)| w.structure(name, def))
            .collect();
    }
    if let Some(channels) = root.get("channels")
        && let Some(table) = w.table(
            channels,
            "channels",
            "a table of channels, as in `[channels.sensor]`",
        )
    {
        w.too_many(table, "channels", MAX_CHANNELS);
        schema.channels = table
            .iter()
            .take(MAX_CHANNELS)
            .filter_map(|(name, def)| w.channel(name, def))
            .collect();
    }
    Some(schema)
}

struct Walker<'a, 's> {
    sink: &'a mut Sink<'s>,
}

impl Walker<'_, '_> {
    fn unknown_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], within: &str) -> bool {
        let mut clean = true;
        for key in table.keys() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                clean = false;
                let expected = allowed
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let d = self.sink.error(
                    ErrorKind::UnknownKey {
                        key: key.get_ref().to_string(),
                        within: within.to_owned(),
                        expected,
                    },
                    key.span(),
                );
                match crate::ident::did_you_mean(key.get_ref(), allowed.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean {s}?")),
                    None => d.with_help("remove it: format v1 defines no such key"),
                };
            }
        }
        clean
    }

    /// Reports a table of structs or channels with more than `max` entries,
    /// at the first one too many (only the first `max` are checked).
    fn too_many(&mut self, table: &DeTable<'_>, what: &str, max: usize) {
        if let Some((key, _)) = table.iter().nth(max) {
            self.sink
                .error(
                    ErrorKind::TooLarge {
                        what: format!("the number of {what} in the file"),
                        found: format!("{} {what}", table.len()),
                        limit: format!("{max} {what}"),
                    },
                    key.span(),
                )
                .with_label(format!("the {} is here", ordinal(max + 1)))
                .with_help("split the schema into several files");
        }
    }

    fn wrong_type(&mut self, key: &str, expected: &'static str, value: &Spanned<DeValue<'_>>) {
        self.sink.error(
            ErrorKind::WrongType {
                key: key.to_owned(),
                expected,
                found: value.get_ref().type_str(),
            },
            value.span(),
        );
    }

    fn table<'v, 'i>(
        &mut self,
        value: &'v Spanned<DeValue<'i>>,
        key: &str,
        expected: &'static str,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_type(key, expected, value);
                None
            }
        }
    }

    fn string(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        expected: &'static str,
    ) -> Result<Option<At<String>>, ()> {
        match table.get(key) {
            None => Ok(None),
            Some(v) => match v.get_ref() {
                DeValue::String(s) => Ok(Some(At {
                    value: s.to_string(),
                    span: v.span(),
                })),
                _ => {
                    self.wrong_type(key, expected, v);
                    Err(())
                }
            },
        }
    }

    /// A `doc` string: generated code carries it, so it is bounded and
    /// holds only plain lines of text (see [`forbidden_in_doc`]).
    fn doc(&mut self, table: &DeTable<'_>) -> Option<String> {
        let doc = self.string(table, "doc", "a string").ok().flatten()?;
        if doc.value.len() > MAX_DOC_LEN {
            self.sink
                .error(
                    ErrorKind::TooLarge {
                        what: "`doc`".into(),
                        found: format!("{} bytes", doc.value.len()),
                        limit: format!("{MAX_DOC_LEN} bytes"),
                    },
                    doc.span,
                )
                .with_help(
                    "shorten it: a doc is a summary, longer prose belongs in your documentation",
                );
            return None;
        }
        if let Some((position, c)) = forbidden_in_doc(&doc.value) {
            let help = match c {
                '\r' => "remove it: write line breaks as `\\n`".to_owned(),
                _ => "remove it: a doc is lines of plain text (line breaks and tabs are fine)"
                    .to_owned(),
            };
            self.sink
                .error(
                    ErrorKind::ForbiddenCharacter {
                        key: "doc".into(),
                        character: describe_char(c),
                        position,
                    },
                    doc.span,
                )
                .with_help(help);
            return None;
        }
        Some(doc.value)
    }

    fn unsigned(&mut self, table: &DeTable<'_>, key: &str) -> Result<Option<At<u64>>, ()> {
        let Some(v) = table.get(key) else {
            return Ok(None);
        };
        let DeValue::Integer(i) = v.get_ref() else {
            self.wrong_type(key, "a positive integer", v);
            return Err(());
        };
        match u64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Ok(Some(At {
                value: n,
                span: v.span(),
            })),
            Err(_) => {
                self.sink.error(
                    ErrorKind::InvalidValue {
                        key: key.to_owned(),
                        message: format!("expected a positive integer, found `{}`", i),
                    },
                    v.span(),
                );
                Err(())
            }
        }
    }

    /// An enumerated value read by serde (`policy = "ring"`).
    fn enumerated<T: for<'de> Deserialize<'de>>(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
    ) -> Result<Option<At<T>>, ()> {
        let Some(v) = table.get(key) else {
            return Ok(None);
        };
        if !matches!(v.get_ref(), DeValue::String(_)) {
            self.wrong_type(key, "a string", v);
            return Err(());
        }
        let mut owned = v.clone();
        owned.get_mut().make_owned();
        match T::deserialize(ValueDeserializer::from(owned)) {
            Ok(value) => Ok(Some(At {
                value,
                span: v.span(),
            })),
            Err(e) => {
                self.sink.error(
                    ErrorKind::InvalidValue {
                        key: key.to_owned(),
                        message: e.message().trim().to_owned(),
                    },
                    v.span(),
                );
                Err(())
            }
        }
    }

    fn required<T>(
        &mut self,
        found: Result<Option<At<T>>, ()>,
        key: &'static str,
        within: &str,
        at: &Span,
        help: &str,
    ) -> Option<At<T>> {
        match found {
            Ok(Some(v)) => Some(v),
            Ok(None) => {
                self.sink
                    .error(
                        ErrorKind::MissingKey {
                            key,
                            within: within.to_owned(),
                        },
                        at.clone(),
                    )
                    .with_help(help.to_owned());
                None
            }
            Err(()) => None,
        }
    }

    fn structure(
        &mut self,
        name: &Spanned<std::borrow::Cow<'_, str>>,
        def: &Spanned<DeValue<'_>>,
    ) -> Option<RawStruct> {
        let within = format!("struct `{}`", name.get_ref());
        let table = self.table(
            def,
            &format!("structs.{}", name.get_ref()),
            "a table with `fields`",
        )?;
        self.unknown_keys(table, STRUCT_KEYS, &within);
        let doc = self.doc(table);
        let fields = match table.get("fields") {
            None => {
                self.sink
                    .error(
                        ErrorKind::MissingKey {
                            key: "fields",
                            within: within.clone(),
                        },
                        name.span(),
                    )
                    .with_help(r#"add `fields = [{ name = "value", type = "u64" }]`"#);
                None
            }
            Some(v) => match v.get_ref() {
                DeValue::Array(items) => {
                    let fields = items
                        .iter()
                        .take(MAX_FIELDS)
                        .enumerate()
                        .filter_map(|(i, item)| self.field(&within, i, item))
                        .collect();
                    if let Some(extra) = items.get(MAX_FIELDS) {
                        self.sink
                            .error(
                                ErrorKind::TooLarge {
                                    what: format!("the number of fields of {within}"),
                                    found: format!("{} fields", items.len()),
                                    limit: format!("{MAX_FIELDS} fields"),
                                },
                                extra.span(),
                            )
                            .with_label(format!("the {} is here", ordinal(MAX_FIELDS + 1)))
                            .with_help("group fields into arrays or nested structs");
                        // Refused: resolve stays quiet about the struct.
                        None
                    } else {
                        Some(At {
                            value: fields,
                            span: v.span(),
                        })
                    }
                }
                _ => {
                    self.wrong_type(
                        "fields",
                        r#"an array of fields, as in `[{ name = "x", type = "f64" }]`"#,
                        v,
                    );
                    None
                }
            },
        };
        Some(RawStruct {
            name: At {
                value: name.get_ref().to_string(),
                span: name.span(),
            },
            doc,
            fields,
        })
    }

    fn field(
        &mut self,
        within: &str,
        index: usize,
        item: &Spanned<DeValue<'_>>,
    ) -> Option<RawField> {
        let (t, name, ty) = self.named_entry(&FIELD_ENTRY, within, index, item)?;
        let ty = ty.and_then(|text| self.type_expr(text));
        let doc = self.doc(t);
        Some(RawField {
            name,
            ty,
            doc,
            span: item.span(),
        })
    }

    /// An item of `fields` or `zones`: an inline table with a `name` and a
    /// `type`; returns the table and both (each `None` when already reported).
    fn named_entry<'v, 'i>(
        &mut self,
        entry: &Entry,
        within: &str,
        index: usize,
        item: &'v Spanned<DeValue<'i>>,
    ) -> Option<NamedEntry<'v, 'i>> {
        let DeValue::Table(t) = item.get_ref() else {
            self.wrong_type(&format!("{}[{index}]", entry.list), entry.example, item);
            return None;
        };
        let within = format!("{} {} of {within}", entry.what, index + 1);
        self.unknown_keys(t, entry.keys, &within);
        let name = self.string(t, "name", "a string");
        let name = self.required(name, "name", &within, &item.span(), entry.name_help);
        let ty = self.string(t, "type", entry.type_expected);
        let ty = self.required(ty, "type", &within, &item.span(), entry.type_help);
        Some((t, name, ty))
    }

    fn type_expr(&mut self, text: At<String>) -> Option<At<TypeRef>> {
        match parse_type(&text.value) {
            Ok(ty) => Some(At {
                value: ty,
                span: text.span,
            }),
            Err(TypeSyntaxError::ZeroLength) => {
                self.sink
                    .error(ErrorKind::ZeroLengthArray { text: text.value }, text.span)
                    .with_help("give the array at least one element, or remove the field");
                None
            }
            Err(TypeSyntaxError::TooDeep) => {
                self.sink.error(
                    ErrorKind::TooLarge {
                        what: format!("the nesting of `{}`", text.value),
                        found: "more than 32 nested arrays".into(),
                        limit: "32".into(),
                    },
                    text.span,
                );
                None
            }
            Err(TypeSyntaxError::Malformed(message)) => {
                self.sink.error(
                    ErrorKind::InvalidTypeSyntax {
                        text: text.value,
                        message,
                    },
                    text.span,
                );
                None
            }
        }
    }

    fn channel(
        &mut self,
        name: &Spanned<std::borrow::Cow<'_, str>>,
        def: &Spanned<DeValue<'_>>,
    ) -> Option<RawChannel> {
        let within = format!("channel `{}`", name.get_ref());
        let table = self.table(
            def,
            &format!("channels.{}", name.get_ref()),
            "a table with `slot`",
        )?;
        let mut complete = self.unknown_keys(table, CHANNEL_KEYS, &within);

        let doc = self.doc(table);
        let slot = self.string(table, "slot", r#"a string: a struct's name or "bytes""#);
        complete &= slot.is_ok();
        let slot = self.required(slot, "slot", &within, &name.span(), r#"name the slot type: `slot = "Frame"` (a struct above) or `slot = "bytes"` with `slot_size`"#);
        let slot_size = self.unsigned(table, "slot_size");
        complete &= slot_size.is_ok();
        let policy = self.enumerated::<Policy>(table, "policy");
        complete &= policy.is_ok();
        let capacity = self.unsigned(table, "capacity");
        complete &= capacity.is_ok();
        let overflow = self.enumerated::<Overflow>(table, "overflow");
        complete &= overflow.is_ok();
        let checksum = self.enumerated::<ChecksumPolicy>(table, "checksum");
        complete &= checksum.is_ok();
        let max_consumers = self.unsigned(table, "max_consumers");
        complete &= max_consumers.is_ok();
        let zones = match table.get("zones") {
            None => Ok(None),
            Some(v) => match v.get_ref() {
                DeValue::Array(items) => Ok(Some(At {
                    value: items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, item)| self.zone(&within, i, item))
                        .collect(),
                    span: v.span(),
                })),
                _ => {
                    self.wrong_type("zones", r#"an array of zones, as in `[{ name = "telemetry", type = "Telemetry" }]`"#, v);
                    Err(())
                }
            },
        };
        complete &= zones.is_ok();
        Some(RawChannel {
            name: At {
                value: name.get_ref().to_string(),
                span: name.span(),
            },
            doc,
            slot,
            slot_size: slot_size.ok().flatten(),
            policy: policy.ok().flatten(),
            capacity: capacity.ok().flatten(),
            overflow: overflow.ok().flatten(),
            checksum: checksum.ok().flatten(),
            max_consumers: max_consumers.ok().flatten(),
            zones: zones.ok().flatten(),
            complete,
        })
    }

    fn zone(&mut self, within: &str, index: usize, item: &Spanned<DeValue<'_>>) -> Option<RawZone> {
        let (t, name, ty) = self.named_entry(&ZONE_ENTRY, within, index, item)?;
        let locked = match t.get("locked") {
            None => false,
            Some(v) => match v.get_ref() {
                DeValue::Boolean(b) => *b,
                _ => {
                    self.wrong_type("locked", "`true` or `false`", v);
                    false
                }
            },
        };
        let doc = self.doc(t);
        Some(RawZone {
            name,
            ty,
            locked,
            doc,
            span: item.span(),
        })
    }
}

/// `1025th`, for labels.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}
