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
use crate::ident::{did_you_mean, is_ascii_identifier, is_channel_name, is_rust_keyword};
use crate::model::{
    Channel, ChecksumPolicy, Field, Layout, Overflow, Policy, Schema, SlotType, StructDef,
    StructKind, Zone, channel_canonical,
};
use crate::parse::{At, RawChannel, RawField, RawSchema, RawStruct, Span};
use crate::types::{Primitive, TypeRef, forbidden_type_reason};

/// Largest size of any type: rustc's limit for an object on a 64-bit target.
pub const MAX_TYPE_SIZE: u64 = i64::MAX as u64;
/// Longest canonical string of one type (nested structs are written inline).
pub const MAX_CANONICAL_LEN: usize = 1 << 20;
/// Most bytes of canonical strings built for one file, all types together:
/// nested structs are written inline, so a chain of structs would otherwise
/// cost memory quadratic in the file's length.
pub const MAX_TOTAL_CANONICAL_LEN: usize = 64 << 20;
/// Most slots in one ring.
pub const MAX_CAPACITY: u64 = 1 << 20;
/// Most consumers of one channel.
pub const MAX_CONSUMERS: u64 = 64;
/// Most zones in one channel.
pub const MAX_ZONES: usize = 16;
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
}

pub(crate) fn resolve(raw: RawSchema, sink: &mut Sink<'_>) -> Option<Schema> {
    let structs = &raw.structs;
    let index: HashMap<&str, usize> = structs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.value.as_str(), i))
        .collect();

    // Own problems of each struct (names, fields, unknown types).
    let mut invalid: Vec<bool> = structs
        .iter()
        .map(|s| !check_struct_shape(s, &index, sink))
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
        .filter_map(|c| check_channel(c, &index, structs, &resolved, sink))
        .collect();

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
fn check_struct_shape(s: &RawStruct, index: &HashMap<&str, usize>, sink: &mut Sink<'_>) -> bool {
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
                    unknown_type(target, &ty.span, index.keys().copied(), sink);
                    ok = false;
                }
            }
            None => ok = false,
        }
    }
    ok
}

fn unknown_type<'a>(
    name: &str,
    span: &Span,
    structs: impl Iterator<Item = &'a str>,
    sink: &mut Sink<'_>,
) {
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
    let mut known: Vec<&str> = structs.collect();
    known.sort_unstable();
    let candidates = Primitive::ALL
        .iter()
        .map(|p| p.name())
        .chain(known.iter().copied());
    let suggestion = did_you_mean(name, candidates);
    let expected = if known.is_empty() {
        "a primitive (u8..u64, i8..i64, f32, f64, atomic_*) or a struct declared in [structs]"
            .to_owned()
    } else {
        format!(
            "a primitive (u8..u64, i8..i64, f32, f64, atomic_*) or one of the structs {}",
            known
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

/// Checks that a struct, field or zone name is an ASCII identifier and no keyword.
fn check_name(what: &'static str, name: &At<String>, sink: &mut Sink<'_>) -> bool {
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
                        limit: format!("{MAX_TYPE_SIZE} bytes"),
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
    let size = round_up(offset, align).filter(|&s| s <= MAX_TYPE_SIZE)?;
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

fn check_channel(
    c: &RawChannel,
    index: &HashMap<&str, usize>,
    structs: &[RawStruct],
    resolved: &[Option<Resolved>],
    sink: &mut Sink<'_>,
) -> Option<Channel> {
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

    // The slot.
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
                    ok = false;
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
                    ok = false;
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
                ok = false;
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
                    ok = false;
                }
                None => {
                    unknown_type(&s.value, &s.span, index.keys().copied(), sink);
                    ok = false;
                }
                Some(&i) => match &resolved[i] {
                    None => ok = false,
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
                            ok = false;
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

    // Ring parameters.
    let policy = c.policy.as_ref().map_or(Policy::Ring, |p| p.value);
    let capacity = match (policy, &c.capacity) {
        (Policy::Single, None) => 1,
        (Policy::Double, None) => 2,
        (Policy::Ring, None) => DEFAULT_CAPACITY,
        (Policy::Single, Some(n)) if n.value == 1 => 1,
        (Policy::Double, Some(n)) if n.value == 2 => 2,
        (Policy::Ring, Some(n)) if (1..=MAX_CAPACITY).contains(&n.value) => n.value,
        (Policy::Ring, Some(n)) => {
            sink.error(
                ErrorKind::InvalidValue {
                    key: "capacity".into(),
                    message: format!("a ring has 1 to {MAX_CAPACITY} slots, found {}", n.value),
                },
                n.span.clone(),
            );
            ok = false;
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
            ok = false;
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
            ok = false;
            0
        }
    };

    // Zones.
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
            ok = false;
        }
        let mut seen = HashSet::new();
        for z in &raw_zones.value {
            let (Some(zname), Some(zty)) = (&z.name, &z.ty) else {
                ok = false;
                continue;
            };
            ok &= check_unique_name(
                "zone",
                zname,
                &mut seen,
                &format!("channel `{name}`"),
                "rename one of them: zones are found by name",
                sink,
            );
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
                    unknown_type(&zty.value, &zty.span, index.keys().copied(), sink);
                }
                ok = false;
                continue;
            };
            let Some(r) = &resolved[i] else {
                ok = false;
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
                ok = false;
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
                ok = false;
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

    let (slot, slot_canonical) = slot?;
    if !ok {
        return None;
    }
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
        checksum: c
            .checksum
            .as_ref()
            .map_or(ChecksumPolicy::None, |o| o.value),
        max_consumers: u32::try_from(max_consumers).ok()?,
        zones,
        hash: SchemaHash::of_channel_canon(&canonical),
        slot_canonical,
        zone_canonicals,
        canonical,
    })
}
