//! Second pass: resolve type names, refuse recursion, lay every struct out
//! as `#[repr(C)]` does on a 64-bit target, build canonical strings and
//! hashes, and check each channel's slot, ring parameters and zones.
//!
//! Everything here is iterative or bounded: a hostile file (a chain of
//! thousands of structs, arrays of 2^63 elements, canonical strings that
//! would double at each level) gets a located error, never a stack overflow
//! or an allocation it cannot afford.

use std::collections::{HashMap, HashSet};

use crate::diag::{ErrorKind, Sink};
use crate::hash::SchemaHash;
use crate::ident::{
    channel_module_name, did_you_mean, is_ascii_identifier, is_channel_name, is_rust_keyword,
    zone_accessor_name,
};
use crate::limits::{
    MAX_CANONICAL_LEN, MAX_CAPACITY, MAX_CONSUMERS, MAX_NAME_LEN, MAX_NESTING_DEPTH,
    MAX_SEGMENT_SIZE, MAX_TOTAL_CANONICAL_LEN, MAX_TYPE_SIZE, MAX_ZONE_NAME_LEN, MAX_ZONES,
};
use crate::model::{
    Channel, ChecksumPolicy, Field, Layout, Overflow, Policy, Schema, SlotType, StructDef,
    StructKind, Zone, channel_canonical,
};
use crate::parse::{At, RawChannel, RawField, RawSchema, RawStruct, Span};
use crate::segment::{SegmentParams, segment_size};
use crate::types::{Primitive, TypeRef, forbidden_type_reason};

/// Ring depth when `policy = "ring"` and `capacity` is absent.
pub const DEFAULT_CAPACITY: u64 = 8;
/// `max_consumers` when absent.
pub const DEFAULT_MAX_CONSUMERS: u64 = 8;

/// What the layout pass learned about one struct.
struct Resolved {
    fields: Vec<Field>,
    layout: Layout,
    canonical: String,
    /// Index of the first field that is (or contains) an atomic.
    first_atomic: Option<usize>,
    /// Index of the first field that is (or contains) a plain number.
    first_plain: Option<usize>,
    /// A field's type mixes atomics and plain data (so the mix is that
    /// type's problem, not this struct's).
    mixed_inside: bool,
    /// Levels of structs and arrays, this struct included (see
    /// [`MAX_NESTING_DEPTH`]).
    depth: usize,
}

/// What is left of [`MAX_TOTAL_CANONICAL_LEN`] for this file.
struct Budget {
    left: usize,
}

impl Budget {
    fn charge(&mut self, bytes: usize) -> Result<(), String> {
        self.left = self.left.checked_sub(bytes).ok_or_else(|| {
            format!("canonical forms of more than {MAX_TOTAL_CANONICAL_LEN} bytes in all (nested structs are written inline)")
        })?;
        Ok(())
    }
}

/// A field type's layout, canonical string and content.
struct TypeInfo {
    layout: Layout,
    canonical: String,
    has_atomic: bool,
    has_plain: bool,
    /// Levels of structs and arrays (0 for a primitive).
    depth: usize,
}

/// The struct names a type name could have meant, for "unknown type"
/// errors: sorted once per file, and suggestions computed once per name,
/// for a bounded number of names and edit-distance cells, so that a file
/// full of unknown types cannot make the checker spend quadratic time.
struct KnownTypes<'a> {
    sorted: Vec<&'a str>,
    suggestions: HashMap<String, Option<String>>,
    /// Bytes of all candidate names together.
    candidates_len: u64,
    work_left: u64,
}

impl<'a> KnownTypes<'a> {
    const MAX_SUGGESTIONS: usize = 256;
    /// Edit-distance cells computed for one file, at most.
    const MAX_WORK: u64 = 20_000_000;
    /// Struct names listed in an "expected" message.
    const MAX_LISTED: usize = 16;

    fn new(index: &HashMap<&'a str, usize>) -> Self {
        let mut sorted: Vec<&str> = index.keys().copied().collect();
        sorted.sort_unstable();
        let primitives = Primitive::ALL.iter().map(|p| p.name().len());
        let candidates_len = sorted
            .iter()
            .map(|s| s.len())
            .chain(primitives)
            .sum::<usize>() as u64;
        Self {
            sorted,
            suggestions: HashMap::new(),
            candidates_len,
            work_left: Self::MAX_WORK,
        }
    }

    fn suggestion(&mut self, name: &str) -> Option<String> {
        if let Some(s) = self.suggestions.get(name) {
            return s.clone();
        }
        // Edit distances cost the product of the lengths compared: bound
        // the cells computed for the whole file (far more than a file of
        // typos needs), and the number of names looked up.
        let cost = (name.len() as u64).saturating_mul(self.candidates_len);
        if self.suggestions.len() >= Self::MAX_SUGGESTIONS || cost > self.work_left {
            return None;
        }
        self.work_left -= cost;
        let candidates = Primitive::ALL
            .iter()
            .map(|p| p.name())
            .chain(self.sorted.iter().copied());
        let s = did_you_mean(name, candidates);
        self.suggestions.insert(name.to_owned(), s.clone());
        s
    }
}

pub(crate) fn resolve(raw: RawSchema, sink: &mut Sink<'_>) -> Option<Schema> {
    let structs = &raw.structs;
    let index: HashMap<&str, usize> = structs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.value.as_str(), i))
        .collect();

    let mut known = KnownTypes::new(&index);

    // Own problems of each struct (names, fields, unknown types).
    let mut invalid: Vec<bool> = structs
        .iter()
        .map(|s| !check_struct_shape(s, &index, &mut known, sink))
        .collect();

    // Dependency edges: struct -> struct, with the field type that makes it.
    let edges: Vec<Vec<(usize, Span)>> = structs
        .iter()
        .map(|s| {
            fields_of(s)
                .iter()
                .filter_map(|f| {
                    let ty = f.ty.as_ref()?;
                    match ty.value.innermost() {
                        TypeRef::Struct(name) => {
                            index.get(name.as_str()).map(|&j| (j, ty.span.clone()))
                        }
                        _ => None,
                    }
                })
                .collect()
        })
        .collect();
    let order = topological_order(structs, &edges, &mut invalid, sink);

    // Lay out in dependency order; a struct that depends on an invalid one
    // is invalid too, silently (its dependency's error says it all).
    let mut resolved: Vec<Option<Resolved>> = (0..structs.len()).map(|_| None).collect();
    let mut budget = Budget {
        left: MAX_TOTAL_CANONICAL_LEN,
    };
    for &i in &order {
        if invalid[i] || edges[i].iter().any(|&(j, _)| resolved[j].is_none()) {
            invalid[i] = true;
            continue;
        }
        resolved[i] = layout_struct(&structs[i], &index, &resolved, &mut budget, sink);
    }

    let channels: Vec<Channel> = raw
        .channels
        .iter()
        .filter_map(|c| {
            check_channel(
                c,
                &Context {
                    index: &index,
                    structs,
                    resolved: &resolved,
                },
                &mut budget,
                &mut known,
                sink,
            )
        })
        .collect();
    check_mixed_structs(structs, &raw.channels, &index, &edges, &resolved, sink);
    check_item_names(structs, &raw.channels, sink);

    if !sink.is_empty() {
        return None;
    }
    let structs = structs
        .iter()
        .zip(resolved)
        .filter_map(|(s, r)| {
            let r = r?;
            let kind = match (r.first_atomic, r.first_plain) {
                (Some(_), Some(_)) => StructKind::Mixed,
                (Some(_), None) => StructKind::Atomic,
                _ => StructKind::Plain,
            };
            Some(StructDef {
                name: s.name.value.clone(),
                doc: s.doc.clone(),
                hash: SchemaHash::of_type_canon(&r.canonical),
                canonical: r.canonical,
                fields: r.fields,
                layout: r.layout,
                kind,
            })
        })
        .collect();
    Some(Schema { structs, channels })
}

fn fields_of(s: &RawStruct) -> &[RawField] {
    s.fields.as_ref().map_or(&[], |f| f.value.as_slice())
}

/// Checks a struct's name, its field names and that every type it names
/// exists; true when all is well.
fn check_struct_shape(
    s: &RawStruct,
    index: &HashMap<&str, usize>,
    known: &mut KnownTypes<'_>,
    sink: &mut Sink<'_>,
) -> bool {
    let mut ok = check_name("struct", &s.name, sink);
    let name = &s.name.value;
    if Primitive::from_name(name).is_some()
        || name == "bytes"
        || forbidden_type_reason(name).is_some()
    {
        sink.error(
            ErrorKind::InvalidName {
                what: "struct",
                name: name.clone(),
                rule: "allowed: it is the name of a built-in type",
            },
            s.name.span.clone(),
        )
        .with_help(format!("rename it, e.g. `{}Data`", capitalize(name)));
        ok = false;
    }
    let Some(fields) = &s.fields else {
        return false;
    };
    if fields.value.is_empty() {
        sink.error(
            ErrorKind::ZeroSizedStruct { name: name.clone() },
            fields.span.clone(),
        )
        .with_help(r#"add a field, e.g. `{ name = "value", type = "u64" }`, or remove the struct"#);
        ok = false;
    }
    let mut seen = HashSet::new();
    for f in &fields.value {
        match &f.name {
            Some(n) => {
                ok &= check_unique_name(
                    "field",
                    n,
                    &mut seen,
                    &format!("struct `{name}`"),
                    "rename one of them: field names identify the data in the canonical form",
                    sink,
                );
            }
            None => ok = false,
        }
        match &f.ty {
            Some(ty) => {
                if let TypeRef::Struct(target) = ty.value.innermost()
                    && !index.contains_key(target.as_str())
                {
                    unknown_type(target, &ty.span, known, sink);
                    ok = false;
                }
            }
            None => ok = false,
        }
    }
    ok
}

fn unknown_type(name: &str, span: &Span, known: &mut KnownTypes<'_>, sink: &mut Sink<'_>) {
    if let Some(reason) = forbidden_type_reason(name) {
        sink.error(
            ErrorKind::ForbiddenType {
                name: name.to_owned(),
                reason,
            },
            span.clone(),
        );
        return;
    }
    let suggestion = known.suggestion(name);
    let listed = &known.sorted[..known.sorted.len().min(KnownTypes::MAX_LISTED)];
    let more = match known.sorted.len() - listed.len() {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let expected = if listed.is_empty() {
        "a primitive (u8..u64, i8..i64, f32, f64, atomic_*) or a struct declared in [structs]"
            .to_owned()
    } else {
        format!(
            "a primitive (u8..u64, i8..i64, f32, f64, atomic_*) or one of the structs {}{more}",
            listed
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let d = sink.error(
        ErrorKind::UnknownType {
            name: name.to_owned(),
            expected,
        },
        span.clone(),
    );
    match suggestion {
        Some(s) => d.with_help(format!("did you mean {s}?")),
        None => d.with_help(format!(
            "declare it: `[structs.{name}]` with `fields = [...]`"
        )),
    };
}

/// Checks a field or zone name (see [`check_name`]) and that `within` has
/// not used it yet; both problems are reported.
fn check_unique_name<'a>(
    what: &'static str,
    name: &'a At<String>,
    seen: &mut HashSet<&'a str>,
    within: &str,
    help: &str,
    sink: &mut Sink<'_>,
) -> bool {
    let mut ok = check_name(what, name, sink);
    if !seen.insert(name.value.as_str()) {
        sink.error(
            ErrorKind::DuplicateName {
                what,
                name: name.value.clone(),
                within: within.to_owned(),
            },
            name.span.clone(),
        )
        .with_help(help.to_owned());
        ok = false;
    }
    ok
}

/// Checks that a struct, field or zone name is an ASCII identifier, no
/// keyword, and not too long ([`MAX_NAME_LEN`], [`MAX_ZONE_NAME_LEN`] for a zone).
fn check_name(what: &'static str, name: &At<String>, sink: &mut Sink<'_>) -> bool {
    let (max, rule) = if what == "zone" {
        (
            MAX_ZONE_NAME_LEN,
            "at most 31 bytes long (the segment's zone table holds 31)",
        )
    } else {
        (MAX_NAME_LEN, "at most 128 bytes long")
    };
    if name.value.len() > max {
        sink.error(
            ErrorKind::InvalidName {
                what,
                name: name.value.clone(),
                rule,
            },
            name.span.clone(),
        )
        .with_label(format!("{} bytes", name.value.len()))
        .with_help("shorten it");
        return false;
    }
    if !is_ascii_identifier(&name.value) {
        sink.error(
            ErrorKind::InvalidName {
                what,
                name: name.value.clone(),
                rule: "an ASCII Rust identifier ([A-Za-z_][A-Za-z0-9_]*, not `_`)",
            },
            name.span.clone(),
        )
        .with_help("use letters, digits and underscores, starting with a letter or `_`");
        return false;
    }
    if is_rust_keyword(&name.value) {
        sink.error(
            ErrorKind::KeywordName {
                what,
                name: name.value.clone(),
            },
            name.span.clone(),
        )
        .with_help(format!("rename it, e.g. `{}_`", name.value));
        return false;
    }
    true
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Dependencies-first order of the structs (iterative depth-first search);
/// reports each cycle at the field that closes it and marks its members invalid.
fn topological_order(
    structs: &[RawStruct],
    edges: &[Vec<(usize, Span)>],
    invalid: &mut [bool],
    sink: &mut Sink<'_>,
) -> Vec<usize> {
    const WHITE: u8 = 0;
    const GRAY: u8 = 1;
    const BLACK: u8 = 2;
    let mut state = vec![WHITE; structs.len()];
    let mut order = Vec::with_capacity(structs.len());
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..structs.len() {
        if state[root] != WHITE {
            continue;
        }
        state[root] = GRAY;
        stack.push((root, 0));
        while let Some(top) = stack.last_mut() {
            let (u, next) = *top;
            if let Some((v, span)) = edges[u].get(next) {
                top.1 += 1;
                match state[*v] {
                    WHITE => {
                        state[*v] = GRAY;
                        stack.push((*v, 0));
                    }
                    GRAY => {
                        let from = stack.iter().position(|&(n, _)| n == *v).unwrap_or(0);
                        let members: Vec<usize> = stack[from..].iter().map(|&(n, _)| n).collect();
                        for &m in &members {
                            invalid[m] = true;
                        }
                        let name = |i: usize| structs[i].name.value.as_str();
                        let cycle = if members.len() == 1 {
                            format!("struct `{}` contains itself", name(*v))
                        } else {
                            let mut text = format!(
                                "struct `{}` contains `{}`",
                                name(members[0]),
                                name(members[1])
                            );
                            for &m in &members[2..] {
                                text.push_str(&format!(", which contains `{}`", name(m)));
                            }
                            text.push_str(&format!(", which contains `{}`", name(*v)));
                            text
                        };
                        sink.error(ErrorKind::RecursiveType { cycle }, span.clone())
                            .with_help("break the cycle: shared memory cannot hold pointers, so a struct cannot contain itself");
                    }
                    _ => {}
                }
            } else {
                state[u] = BLACK;
                order.push(u);
                stack.pop();
            }
        }
    }
    order
}

fn round_up(value: u64, align: u64) -> Option<u64> {
    value.checked_add(align - 1).map(|v| v / align * align)
}

fn type_info(
    ty: &TypeRef,
    index: &HashMap<&str, usize>,
    resolved: &[Option<Resolved>],
    budget: &mut Budget,
) -> Result<TypeInfo, String> {
    // Arrays nest at most MAX_ARRAY_DEPTH deep: collect lengths iteratively.
    let mut lens = Vec::new();
    let mut t = ty;
    while let TypeRef::Array { element, len } = t {
        lens.push(*len);
        t = element;
    }
    let mut info = match t {
        TypeRef::Primitive(p) => TypeInfo {
            layout: Layout {
                size: p.size(),
                align: p.size(),
            },
            canonical: p.name().to_owned(),
            has_atomic: p.is_atomic(),
            has_plain: !p.is_atomic(),
            depth: 0,
        },
        TypeRef::Struct(name) => {
            let r = index
                .get(name.as_str())
                .and_then(|&i| resolved[i].as_ref())
                .ok_or_else(|| format!("struct `{name}` is not resolved"))?;
            budget.charge(r.canonical.len())?;
            TypeInfo {
                layout: r.layout,
                canonical: r.canonical.clone(),
                has_atomic: r.first_atomic.is_some(),
                has_plain: r.first_plain.is_some(),
                depth: r.depth,
            }
        }
        TypeRef::Array { .. } => unreachable!("arrays were peeled above"),
    };
    for len in lens.into_iter().rev() {
        info.layout.size = info
            .layout
            .size
            .checked_mul(len)
            .filter(|&s| s <= MAX_TYPE_SIZE)
            .ok_or_else(|| format!("{} elements of {} bytes", len, info.layout.size))?;
        if info.canonical.len() + 22 > MAX_CANONICAL_LEN {
            return Err(format!(
                "a canonical form of more than {MAX_CANONICAL_LEN} bytes"
            ));
        }
        info.canonical = format!("[{};{}]", info.canonical, len);
        info.depth += 1;
        budget.charge(info.canonical.len())?;
    }
    Ok(info)
}

fn layout_struct(
    s: &RawStruct,
    index: &HashMap<&str, usize>,
    resolved: &[Option<Resolved>],
    budget: &mut Budget,
    sink: &mut Sink<'_>,
) -> Option<Resolved> {
    let raw_fields = fields_of(s);
    let names: HashSet<&str> = raw_fields
        .iter()
        .filter_map(|f| f.name.as_ref().map(|n| n.value.as_str()))
        .collect();
    let mut pad_names = (0..)
        .map(|i| format!("_pad{i}"))
        .filter(|n| !names.contains(n.as_str()));

    let mut fields = Vec::with_capacity(raw_fields.len());
    let mut offset: u64 = 0;
    let mut align: u64 = 1;
    let mut first_atomic = None;
    let mut first_plain = None;
    let mut mixed_inside = false;
    let mut depth = 1;
    let mut ok = true;
    for (i, f) in raw_fields.iter().enumerate() {
        let (Some(name), Some(ty)) = (&f.name, &f.ty) else {
            return None;
        };
        let info = match type_info(&ty.value, index, resolved, budget) {
            Ok(info) => info,
            Err(found) => {
                sink.error(
                    ErrorKind::TooLarge {
                        what: format!("type `{}`", ty.value),
                        found,
                        limit: format!(
                            "{MAX_TYPE_SIZE} bytes and a {MAX_CANONICAL_LEN}-byte canonical form"
                        ),
                    },
                    ty.span.clone(),
                );
                return None;
            }
        };
        if info.depth + 1 > MAX_NESTING_DEPTH {
            sink.error(
                ErrorKind::TooLarge {
                    what: format!("the nesting of struct `{}`", s.name.value),
                    found: format!(
                        "{} levels of structs and arrays through field `{}`",
                        info.depth + 1,
                        name.value
                    ),
                    limit: format!(
                        "{MAX_NESTING_DEPTH} (rustc's recursion limit, 128, bounds how deep it lays out and hashes types)"
                    ),
                },
                ty.span.clone(),
            )
            .with_help("flatten the nesting: inline a level of structs, or use one longer array instead of nested ones");
            return None;
        }
        depth = depth.max(info.depth + 1);
        mixed_inside |= info.has_atomic && info.has_plain;
        let field_offset = round_up(offset, info.layout.align)?;
        if field_offset > offset {
            let prev = fields
                .last()
                .map_or("", |p: &Field| p.name.as_str())
                .to_owned();
            let gap = field_offset - offset;
            let pad = pad_names.next().unwrap_or_default();
            sink.error(
                ErrorKind::ImplicitPadding {
                    struct_name: s.name.value.clone(),
                    offset,
                    size: gap,
                    place: format!("after field `{prev}`"),
                },
                f.span.clone(),
            )
            .with_label(format!(
                "`{}` is {}-byte aligned, so it starts at offset {field_offset}, not {offset}",
                name.value, info.layout.align
            ))
            .with_help(format!(
                r#"add {{ name = "{pad}", type = "[u8; {gap}]" }} after "{prev}""#
            ));
            ok = false;
        }
        if info.has_atomic && first_atomic.is_none() {
            first_atomic = Some(i);
        }
        if info.has_plain && first_plain.is_none() {
            first_plain = Some(i);
        }
        align = align.max(info.layout.align);
        offset = match field_offset
            .checked_add(info.layout.size)
            .filter(|&e| e <= MAX_TYPE_SIZE)
        {
            Some(end) => end,
            None => {
                sink.error(
                    ErrorKind::TooLarge {
                        what: format!("struct `{}`", s.name.value),
                        found: format!("more than {MAX_TYPE_SIZE} bytes at field `{}`", name.value),
                        limit: format!("{MAX_TYPE_SIZE} bytes (rustc's limit for a type)"),
                    },
                    ty.span.clone(),
                );
                return None;
            }
        };
        fields.push(Field {
            name: name.value.clone(),
            ty: ty.value.clone(),
            doc: f.doc.clone(),
            offset: field_offset,
            layout: info.layout,
            canonical_type: info.canonical,
        });
    }
    let Some(size) = round_up(offset, align).filter(|&s| s <= MAX_TYPE_SIZE) else {
        sink.error(
            ErrorKind::TooLarge {
                what: format!("struct `{}`", s.name.value),
                found: format!(
                    "{offset} bytes of fields, rounded up to its alignment {align}: more than {MAX_TYPE_SIZE} bytes"
                ),
                limit: format!("{MAX_TYPE_SIZE} bytes (rustc's limit for a type)"),
            },
            s.name.span.clone(),
        );
        return None;
    };
    if size > offset
        && let (Some(last), Some(raw_last)) = (fields.last(), raw_fields.last())
    {
        let gap = size - offset;
        let pad = pad_names.next().unwrap_or_default();
        sink.error(
            ErrorKind::ImplicitPadding {
                struct_name: s.name.value.clone(),
                offset,
                size: gap,
                place: format!("at the end, after field `{}`", last.name),
            },
            raw_last.span.clone(),
        )
        .with_label(format!(
            "the struct is {align}-byte aligned, so its size rounds up from {offset} to {size}"
        ))
        .with_help(format!(
            r#"add {{ name = "{pad}", type = "[u8; {gap}]" }} after "{}""#,
            last.name
        ));
        ok = false;
    }

    let mut canonical = format!("{{{size}/{align}:");
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        if canonical.len() + f.name.len() + f.canonical_type.len() + 24 > MAX_CANONICAL_LEN {
            sink.error(
                ErrorKind::TooLarge {
                    what: format!("the canonical form of struct `{}`", s.name.value),
                    found: format!("more than {MAX_CANONICAL_LEN} bytes"),
                    limit: format!("{MAX_CANONICAL_LEN} bytes (nested structs are written inline)"),
                },
                s.name.span.clone(),
            );
            return None;
        }
        canonical.push_str(&format!("{}:{}@{}", f.name, f.canonical_type, f.offset));
    }
    canonical.push('}');
    if let Err(found) = budget.charge(canonical.len()) {
        sink.error(
            ErrorKind::TooLarge {
                what: format!("the schema, at struct `{}`,", s.name.value),
                found,
                limit: format!("{MAX_TOTAL_CANONICAL_LEN} bytes"),
            },
            s.name.span.clone(),
        );
        return None;
    }
    // A padded struct is refused, but its layout is still known, so that
    // the checks of channels that use it can run and report too.
    let _ = ok;
    Some(Resolved {
        fields,
        layout: Layout { size, align },
        canonical,
        first_atomic,
        first_plain,
        mixed_inside,
        depth,
    })
}

/// The dotted path to the first atomic (or plain) leaf of a struct, and its
/// type, followed iteratively through nested structs.
fn first_leaf(
    start: usize,
    atomic: bool,
    index: &HashMap<&str, usize>,
    resolved: &[Option<Resolved>],
) -> Option<(String, String)> {
    let mut path = Vec::new();
    let mut current = start;
    loop {
        let r = resolved[current].as_ref()?;
        let fi = if atomic {
            r.first_atomic
        } else {
            r.first_plain
        }?;
        let field = &r.fields[fi];
        path.push(field.name.as_str());
        match field.ty.innermost() {
            TypeRef::Struct(name) => current = *index.get(name.as_str())?,
            _ => return Some((path.join("."), field.ty.to_string())),
        }
    }
}

/// What the channel checks read of the structs.
struct Context<'r, 'a> {
    index: &'r HashMap<&'a str, usize>,
    structs: &'r [RawStruct],
    resolved: &'r [Option<Resolved>],
}

fn check_channel(
    c: &RawChannel,
    cx: &Context<'_, '_>,
    budget: &mut Budget,
    known: &mut KnownTypes<'_>,
    sink: &mut Sink<'_>,
) -> Option<Channel> {
    let (index, resolved) = (cx.index, cx.resolved);
    let name = &c.name.value;
    let mut ok = c.complete;
    if !is_channel_name(name) {
        sink.error(
            ErrorKind::InvalidName {
                what: "channel",
                name: name.clone(),
                rule: "1 to 63 ASCII letters, digits, `_` or `-` (it names /dev/shm/datahub.<channel>)",
            },
            c.name.span.clone(),
        );
        ok = false;
    }

    let slot = check_slot(c, cx, known, sink, &mut ok);
    let (policy, capacity, max_consumers) = ring_parameters(c, sink, &mut ok);
    let (zones, zone_canonicals) = check_zones(c, cx, known, sink, &mut ok);

    let (slot, slot_canonical) = slot?;
    if !ok {
        return None;
    }
    // The channel keeps the strings of its slot and zones, and its own
    // string holds them all again.
    let strings = slot_canonical.len() + zone_canonicals.iter().map(String::len).sum::<usize>();
    if let Err(found) = budget.charge(strings.saturating_mul(2)) {
        sink.error(
            ErrorKind::TooLarge {
                what: format!("the schema, at channel `{name}`,"),
                found,
                limit: format!("{MAX_TOTAL_CANONICAL_LEN} bytes"),
            },
            c.name.span.clone(),
        );
        return None;
    }
    let slot_size = match &slot {
        SlotType::Struct(s) => index
            .get(s.as_str())
            .and_then(|&i| resolved[i].as_ref())
            .map_or(0, |r| r.layout.size),
        SlotType::Bytes { size } => *size,
    };
    let zone_sizes: Vec<u64> = zones
        .iter()
        .filter_map(|z| index.get(z.ty.as_str()))
        .filter_map(|&i| resolved[i].as_ref())
        .map(|r| r.layout.size)
        .collect();
    let checksum = c
        .checksum
        .as_ref()
        .map_or(ChecksumPolicy::None, |o| o.value);
    let strings_len = std::iter::once(&slot_canonical)
        .chain(&zone_canonicals)
        .map(|s| 4 + s.len() as u64)
        .sum();
    let segment = SegmentParams {
        capacity,
        max_consumers,
        slot_size,
        checksums: checksum != ChecksumPolicy::None,
        strings_len,
        zone_sizes: &zone_sizes,
    };
    let segment_size = match segment_size(&segment).filter(|&s| s <= MAX_SEGMENT_SIZE) {
        Some(size) => size,
        None => {
            let at = c.capacity.as_ref().map_or(&c.name.span, |n| &n.span);
            sink.error(
                ErrorKind::TooLarge {
                    what: format!("the shared-memory segment of channel `{name}`"),
                    found: format!(
                        "more than {MAX_SEGMENT_SIZE} bytes for {capacity} slots of {slot_size} bytes{}",
                        if zone_sizes.is_empty() { "" } else { " and its zones" }
                    ),
                    limit: format!("{MAX_SEGMENT_SIZE} bytes (1 TiB), the largest segment the runtime creates"),
                },
                at.clone(),
            )
            .with_help("lower `capacity`, or make the slot type smaller");
            return None;
        }
    };
    let zone_refs: Vec<(&str, &str, bool)> = zones
        .iter()
        .zip(&zone_canonicals)
        .map(|(z, canon)| (z.name.as_str(), canon.as_str(), z.locked))
        .collect();
    let canonical = channel_canonical(&slot_canonical, &zone_refs);
    Some(Channel {
        name: name.clone(),
        doc: c.doc.clone(),
        slot,
        policy,
        capacity: u32::try_from(capacity).ok()?,
        overflow: c.overflow.as_ref().map_or(Overflow::Block, |o| o.value),
        checksum,
        max_consumers: u32::try_from(max_consumers).ok()?,
        segment_size,
        zones,
        hash: SchemaHash::of_channel_canon(&canonical),
        slot_canonical,
        zone_canonicals,
        canonical,
    })
}

/// The channel's slot type and its canonical form; `None` when it has
/// none that can be used (each reason reported, and `ok` cleared).
fn check_slot(
    c: &RawChannel,
    cx: &Context<'_, '_>,
    known: &mut KnownTypes<'_>,
    sink: &mut Sink<'_>,
    ok: &mut bool,
) -> Option<(SlotType, String)> {
    let (index, structs, resolved) = (cx.index, cx.structs, cx.resolved);
    let name = &c.name.value;
    let mut slot = None;
    if let Some(s) = &c.slot {
        if s.value == "bytes" {
            match &c.slot_size {
                None => {
                    sink.error(
                        ErrorKind::MissingKey {
                            key: "slot_size",
                            within: format!("channel `{name}` (a `bytes` slot)"),
                        },
                        s.span.clone(),
                    )
                    .with_help("give the largest payload in bytes, e.g. `slot_size = 4096`");
                    *ok = false;
                }
                Some(size) if size.value == 0 || size.value > MAX_TYPE_SIZE => {
                    sink.error(
                        ErrorKind::InvalidValue {
                            key: "slot_size".into(),
                            message: format!(
                                "expected 1 to {MAX_TYPE_SIZE} bytes, found {}",
                                size.value
                            ),
                        },
                        size.span.clone(),
                    );
                    *ok = false;
                }
                Some(size) => {
                    slot = Some((
                        SlotType::Bytes { size: size.value },
                        format!("[u8;{}]", size.value),
                    ))
                }
            }
        } else {
            if let Some(size) = &c.slot_size {
                sink.error(
                    ErrorKind::InvalidValue {
                        key: "slot_size".into(),
                        message: "`slot_size` is only for `slot = \"bytes\"`; a struct slot's size is its struct's".to_owned(),
                    },
                    size.span.clone(),
                )
                .with_help("remove `slot_size`");
                *ok = false;
            }
            match index.get(s.value.as_str()) {
                None if Primitive::from_name(&s.value).is_some() => {
                    sink.error(
                        ErrorKind::InvalidValue {
                            key: "slot".into(),
                            message: format!("a slot type is a struct declared in [structs] or \"bytes\", found the primitive `{}`", s.value),
                        },
                        s.span.clone(),
                    )
                    .with_help(format!(r#"wrap it in a struct: `[structs.Sample]` with `fields = [{{ name = "value", type = "{}" }}]`"#, s.value));
                    *ok = false;
                }
                None => {
                    unknown_type(&s.value, &s.span, known, sink);
                    *ok = false;
                }
                Some(&i) => match &resolved[i] {
                    None => *ok = false,
                    Some(r) => {
                        if r.first_atomic.is_some() {
                            let (field, field_ty) =
                                first_leaf(i, true, index, resolved).unwrap_or_default();
                            sink.error(
                                ErrorKind::AtomicInSlot {
                                    channel: name.clone(),
                                    ty: s.value.clone(),
                                    field,
                                    field_ty,
                                },
                                s.span.clone(),
                            )
                            .with_help("use plain types in the slot struct, and put shared counters in a lock-free zone");
                            *ok = false;
                        } else {
                            slot = Some((
                                SlotType::Struct(structs[i].name.value.clone()),
                                r.canonical.clone(),
                            ));
                        }
                    }
                },
            }
        }
    }

    slot
}

/// The channel's policy, capacity and consumer entries (0 where a value
/// is refused: reported, and `ok` cleared).
fn ring_parameters(c: &RawChannel, sink: &mut Sink<'_>, ok: &mut bool) -> (Policy, u64, u64) {
    let policy = c.policy.as_ref().map_or(Policy::Ring, |p| p.value);
    let capacity = match (policy, &c.capacity) {
        (Policy::Single, None) => 1,
        (Policy::Double, None) => 2,
        (Policy::Ring, None) => DEFAULT_CAPACITY,
        (Policy::Single, Some(n)) if n.value == 1 => 1,
        (Policy::Double, Some(n)) if n.value == 2 => 2,
        // 0: no ring, a zones-only channel (state shared through zones).
        (Policy::Ring, Some(n)) if n.value <= MAX_CAPACITY => n.value,
        (Policy::Ring, Some(n)) => {
            sink.error(
                ErrorKind::InvalidValue {
                    key: "capacity".into(),
                    message: format!(
                        "a ring has 1 to {MAX_CAPACITY} slots (0: no ring, zones only), found {}",
                        n.value
                    ),
                },
                n.span.clone(),
            );
            *ok = false;
            0
        }
        (p, Some(n)) => {
            let fixed = if p == Policy::Single { 1 } else { 2 };
            sink.error(
                ErrorKind::InvalidValue {
                    key: "capacity".into(),
                    message: format!(
                        "policy `{}` has exactly {fixed} slot{}, found capacity = {}",
                        if p == Policy::Single {
                            "single"
                        } else {
                            "double"
                        },
                        if fixed == 1 { "" } else { "s" },
                        n.value
                    ),
                },
                n.span.clone(),
            )
            .with_help("remove `capacity`, or use `policy = \"ring\"` for another depth");
            *ok = false;
            0
        }
    };
    let max_consumers = match &c.max_consumers {
        None => DEFAULT_MAX_CONSUMERS,
        Some(n) if (1..=MAX_CONSUMERS).contains(&n.value) => n.value,
        Some(n) => {
            sink.error(
                ErrorKind::InvalidValue {
                    key: "max_consumers".into(),
                    message: format!("expected 1 to {MAX_CONSUMERS}, found {}", n.value),
                },
                n.span.clone(),
            );
            *ok = false;
            0
        }
    };

    (policy, capacity, max_consumers)
}

/// The channel's zones and their canonical forms, in order (a zone that
/// cannot be used is reported, and `ok` cleared).
fn check_zones(
    c: &RawChannel,
    cx: &Context<'_, '_>,
    known: &mut KnownTypes<'_>,
    sink: &mut Sink<'_>,
    ok: &mut bool,
) -> (Vec<Zone>, Vec<String>) {
    let (index, structs, resolved) = (cx.index, cx.structs, cx.resolved);
    let name = &c.name.value;
    let mut zones = Vec::new();
    let mut zone_canonicals = Vec::new();
    if let Some(raw_zones) = &c.zones {
        if raw_zones.value.len() > MAX_ZONES {
            let extra = &raw_zones.value[MAX_ZONES];
            sink.error(
                ErrorKind::TooManyZones {
                    channel: name.clone(),
                    count: raw_zones.value.len(),
                    max: MAX_ZONES,
                },
                extra.span.clone(),
            )
            .with_label(format!("zone {} is here", MAX_ZONES + 1))
            .with_help("merge related zones into one struct, or split the channel");
            *ok = false;
        }
        let mut seen = HashSet::new();
        // Accessor -> the zone that has it (generated handles have one
        // method and one field per zone).
        let mut accessors: HashMap<String, &At<String>> = HashMap::new();
        for z in &raw_zones.value {
            let (Some(zname), Some(zty)) = (&z.name, &z.ty) else {
                *ok = false;
                continue;
            };
            let unique = check_unique_name(
                "zone",
                zname,
                &mut seen,
                &format!("channel `{name}`"),
                "rename one of them: zones are found by name",
                sink,
            );
            *ok &= unique;
            if unique {
                let accessor = zone_accessor_name(&zname.value);
                if let Some(other) = accessors.get(&accessor) {
                    // One of the two is a method name, whose accessor takes `_zone`.
                    let reserved = if other.value == accessor {
                        &zname.value
                    } else {
                        &other.value
                    };
                    sink.error(
                        ErrorKind::NameClash {
                            what: format!("zone `{}`", zname.value),
                            other: format!(
                                "zone `{}` (line {})",
                                other.value,
                                sink.line_of(other.span.start)
                            ),
                            rust: format!("the accessor `{accessor}()` of the channel's handles"),
                        },
                        zname.span.clone(),
                    )
                    .with_help(format!(
                        "rename one of them: `{reserved}` is a method of the handles, so zone `{reserved}` gets the accessor `{accessor}()`"
                    ));
                    *ok = false;
                } else {
                    accessors.insert(accessor, zname);
                }
            }
            let Some(&i) = index.get(zty.value.as_str()) else {
                if Primitive::from_name(&zty.value).is_some() || zty.value.starts_with('[') {
                    sink.error(
                        ErrorKind::InvalidValue {
                            key: "type".into(),
                            message: format!(
                                "a zone's type is a struct declared in [structs], found `{}`",
                                zty.value
                            ),
                        },
                        zty.span.clone(),
                    )
                    .with_help("wrap the value in a struct and name that struct here");
                } else {
                    unknown_type(&zty.value, &zty.span, known, sink);
                }
                *ok = false;
                continue;
            };
            let Some(r) = &resolved[i] else {
                *ok = false;
                continue;
            };
            if z.locked && r.first_atomic.is_some() {
                let (field, field_ty) = first_leaf(i, true, index, resolved).unwrap_or_default();
                sink.error(
                    ErrorKind::AtomicInLockedZone {
                        zone: zname.value.clone(),
                        ty: zty.value.clone(),
                        field,
                        field_ty,
                    },
                    zty.span.clone(),
                )
                .with_help("use plain types in a locked zone, or remove `locked = true` if every field is atomic");
                *ok = false;
            } else if !z.locked && r.first_plain.is_some() {
                let (field, field_ty) = first_leaf(i, false, index, resolved).unwrap_or_default();
                sink.error(
                    ErrorKind::NonAtomicInLockFreeZone {
                        zone: zname.value.clone(),
                        ty: zty.value.clone(),
                        field: field.clone(),
                        field_ty: field_ty.clone(),
                    },
                    zty.span.clone(),
                )
                .with_help(format!(
                    "make `{field}` atomic (`atomic_{}`), or add `locked = true` to guard plain data with the zone's spin lock",
                    field_ty.trim_start_matches('[').split([';', ']']).next().unwrap_or("u64")
                ));
                *ok = false;
            }
            zones.push(Zone {
                name: zname.value.clone(),
                ty: structs[i].name.value.clone(),
                locked: z.locked,
                doc: z.doc.clone(),
            });
            zone_canonicals.push(r.canonical.clone());
        }
    }

    (zones, zone_canonicals)
}

/// DH124: a struct whose own fields mix atomics and plain data (none of them
/// mixed itself) and that no channel uses. No derive lays such a struct
/// out, so no code could be generated for it; when a channel does use it,
/// directly or inside another struct, the slot or zone check of that
/// channel (DH117 to DH119) already says what is wrong.
fn check_mixed_structs(
    structs: &[RawStruct],
    channels: &[RawChannel],
    index: &HashMap<&str, usize>,
    edges: &[Vec<(usize, Span)>],
    resolved: &[Option<Resolved>],
    sink: &mut Sink<'_>,
) {
    let mut used = vec![false; structs.len()];
    let mut stack: Vec<usize> = channels
        .iter()
        .flat_map(|c| {
            let zones = c.zones.iter().flat_map(|z| &z.value);
            c.slot
                .iter()
                .chain(zones.filter_map(|z| z.ty.as_ref()))
                .filter_map(|name| index.get(name.value.as_str()).copied())
        })
        .collect();
    while let Some(i) = stack.pop() {
        if !used[i] {
            used[i] = true;
            stack.extend(edges[i].iter().map(|&(j, _)| j));
        }
    }
    for (i, s) in structs.iter().enumerate() {
        let Some(r) = &resolved[i] else { continue };
        let (Some(atomic), Some(plain)) = (r.first_atomic, r.first_plain) else {
            continue;
        };
        if used[i] || r.mixed_inside {
            continue;
        }
        let (atomic, plain) = (&r.fields[atomic], &r.fields[plain]);
        sink.error(
            ErrorKind::MixedStruct {
                name: s.name.value.clone(),
                atomic_field: atomic.name.clone(),
                atomic_ty: atomic.ty.to_string(),
                plain_field: plain.name.clone(),
                plain_ty: plain.ty.to_string(),
            },
            s.name.span.clone(),
        )
        .with_help("split it: the atomics into a struct for a lock-free zone, the plain fields into one for a slot or a locked zone");
    }
}

/// DH122: structs and channel modules share Rust's type namespace, so no
/// two of them may be spelled the same once channel names are mapped to
/// modules ([`channel_module_name`]). Each clash is reported at the later
/// of the two names. Names already refused (DH107, DH108) are left out.
fn check_item_names(structs: &[RawStruct], channels: &[RawChannel], sink: &mut Sink<'_>) {
    struct Item<'a> {
        span: &'a Span,
        /// The name in the schema.
        name: &'a str,
        /// Its spelling in Rust.
        rust: String,
        channel: bool,
    }
    let valid_struct =
        |n: &str| is_ascii_identifier(n) && !is_rust_keyword(n) && n.len() <= MAX_NAME_LEN;
    let mut items: Vec<Item<'_>> = structs
        .iter()
        .filter(|s| valid_struct(&s.name.value))
        .map(|s| Item {
            span: &s.name.span,
            name: &s.name.value,
            rust: s.name.value.clone(),
            channel: false,
        })
        .chain(
            channels
                .iter()
                .filter(|c| is_channel_name(&c.name.value))
                .map(|c| Item {
                    span: &c.name.span,
                    name: &c.name.value,
                    rust: channel_module_name(&c.name.value),
                    channel: true,
                }),
        )
        .collect();
    items.sort_by_key(|item| item.span.start);
    let describe = |item: &Item<'_>| {
        format!(
            "{} `{}`",
            if item.channel { "channel" } else { "struct" },
            item.name
        )
    };
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(&first) = seen.get(item.rust.as_str()) else {
            seen.insert(&item.rust, i);
            continue;
        };
        let other = &items[first];
        let rust = match (other.channel, item.channel) {
            (true, true) => format!("the module `{}`", item.rust),
            _ => format!("`{}`", item.rust),
        };
        let help = match (other.channel, item.channel) {
            (true, true) => format!(
                "rename one of the channels: the module of a channel is its name with `-` as `_`, \
                 `ch_` before a leading digit and `_` after a keyword, so `{}` and `{}` meet",
                other.name, item.name
            ),
            _ => "rename the struct or the channel: a struct and a channel's module share Rust's type namespace".to_owned(),
        };
        sink.error(
            ErrorKind::NameClash {
                what: describe(item),
                other: format!(
                    "{} (line {})",
                    describe(other),
                    sink.line_of(other.span.start)
                ),
                rust,
            },
            item.span.clone(),
        )
        .with_help(help);
    }
}
