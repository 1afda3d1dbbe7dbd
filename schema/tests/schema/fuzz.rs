//! Property tests: no input, however hostile, makes the checker panic, and
//! every schema it accepts satisfies the layout and hash invariants.
//!
//! Three generators, each well over 100,000 inputs: arbitrary bytes,
//! syntactically valid TOML documents built from the schema grammar with
//! random (often wrong) names, types, keys and values, and byte-level
//! mutations of the example schemas users copy.

use datahub_schema::{Schema, SchemaHash, channel_canonical};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// `cases` unless `PROPTEST_CASES` says otherwise (e.g. for a longer soak).
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// Whatever the input, checking returns; and what it returns is coherent.
fn check(bytes: &[u8]) {
    match Schema::parse_bytes(bytes, "fuzz.toml") {
        Ok(schema) => assert_invariants(&schema),
        Err(err) => {
            let d = err.diagnostics().expect("parse errors are located");
            assert!(!d.items().is_empty());
            let lines = bytes.split(|&b| b == b'\n').count();
            for item in d.items() {
                assert!(
                    item.line >= 1 && item.line <= lines.max(1),
                    "line {} of {lines}",
                    item.line
                );
                assert!(item.column >= 1);
            }
            let text = err.render(false);
            assert!(text.starts_with("fuzz.toml:"), "{text}");
        }
    }
}

fn assert_invariants(schema: &Schema) {
    for s in schema.structs() {
        let l = s.layout;
        assert!(l.align.is_power_of_two() && l.size % l.align == 0 && l.size > 0);
        // No implicit padding: fields tile the struct exactly.
        let mut end = 0;
        for f in &s.fields {
            assert_eq!(f.offset, end, "{} has a gap before {}", s.name, f.name);
            assert_eq!(f.offset % f.layout.align, 0);
            end = f.offset + f.layout.size;
        }
        assert_eq!(end, l.size);
        assert_eq!(s.type_hash(), SchemaHash::of_type_canon(s.canonical()));
        assert!(
            s.canonical()
                .starts_with(&format!("{{{}/{}:", l.size, l.align))
        );
    }
    for c in schema.channels() {
        assert!(c.capacity >= 1 && (1..=64).contains(&c.max_consumers) && c.zones.len() <= 16);
        let zones: Vec<(&str, &str, bool)> = c
            .zones
            .iter()
            .zip(c.zone_canonicals())
            .map(|(z, canon)| (z.name.as_str(), canon.as_str(), z.locked))
            .collect();
        assert_eq!(c.canonical(), channel_canonical(c.slot_canonical(), &zones));
        assert_eq!(c.hash(), SchemaHash::of_channel_canon(c.canonical()));
    }
}

proptest! {
    #![proptest_config(config(100_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check(&bytes);
    }
}

// --- Documents from the schema grammar -------------------------------------

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(vec!["A", "B", "C", "Frame", "Vec3", "x", "y", "seq", "_pad0", "telemetry"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["type", "self", "u8", "bytes", "_", "2d", "a-b", "é", "", "cam/0"]).prop_map(str::to_owned),
        1 => "[a-zA-Z_][a-zA-Z0-9_]{0,12}",
    ]
}

fn type_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        6 => prop::sample::select(vec![
            "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64",
            "atomic_u8", "atomic_u16", "atomic_u32", "atomic_u64", "atomic_i64", "atomic_f32", "atomic_f64",
        ]).prop_map(str::to_owned),
        3 => prop::sample::select(vec!["A", "B", "C", "Frame", "Vec3"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["bool", "usize", "char", "u128", "", "[", "]", ";", "[u8]", "[u8; x]", "Nope"]).prop_map(str::to_owned),
    ];
    leaf.prop_recursive(3, 8, 1, |inner| {
        (
            inner,
            prop_oneof![
                Just(0u64),
                1u64..5,
                Just(4096),
                Just(u64::MAX),
                Just(1 << 62)
            ],
        )
            .prop_map(|(t, n)| format!("[{t}; {n}]"))
    })
}

/// A TOML value that may or may not be what a key expects.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..100).prop_map(|n| n.to_string()),
        Just("-1".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("true".to_owned()),
        Just("1.5".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("1979-05-27".to_owned()),
        prop::sample::select(vec![
            "ring",
            "single",
            "double",
            "rng",
            "block",
            "overwrite",
            "none",
            "manual",
            "enforced",
            "bytes",
            "A",
            "Frame"
        ])
        .prop_map(|s| format!("{s:?}")),
    ]
}

fn field() -> impl Strategy<Value = String> {
    (
        name(),
        type_expr(),
        prop::option::weighted(0.1, name()),
        prop::option::weighted(0.05, value()),
    )
        .prop_map(|(n, t, doc, extra)| {
            let mut s = format!("{{ name = {n:?}, type = {t:?}");
            if let Some(d) = doc {
                s.push_str(&format!(", doc = {d:?}"));
            }
            if let Some(v) = extra {
                s.push_str(&format!(", bogus = {v}"));
            }
            s.push_str(" }");
            s
        })
}

fn structure() -> impl Strategy<Value = String> {
    (name(), prop::collection::vec(field(), 0..6)).prop_map(|(n, fields)| {
        format!(
            "[structs.{:?}]\nfields = [\n  {}\n]\n",
            n,
            fields.join(",\n  ")
        )
    })
}

fn channel() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "slot",
        "slot_size",
        "policy",
        "capacity",
        "overflow",
        "checksum",
        "max_consumers",
        "doc",
        "colour",
    ]);
    let zone = (
        name(),
        prop::sample::select(vec!["A", "B", "C", "Frame", "Vec3", "u8", "Nope"]),
        any::<Option<bool>>(),
    )
        .prop_map(|(n, t, locked)| match locked {
            Some(l) => format!("{{ name = {n:?}, type = {t:?}, locked = {l} }}"),
            None => format!("{{ name = {n:?}, type = {t:?} }}"),
        });
    (
        name(),
        prop::collection::btree_map(key, value(), 0..7),
        prop::option::of(prop::collection::vec(zone, 0..18)),
    )
        .prop_map(|(n, keys, zones)| {
            let mut s = format!("[channels.{n:?}]\n");
            for (k, v) in keys {
                s.push_str(&format!("{k} = {v}\n"));
            }
            if let Some(z) = zones {
                s.push_str(&format!("zones = [{}]\n", z.join(", ")));
            }
            s
        })
}

fn document() -> impl Strategy<Value = String> {
    (
        prop_oneof![8 => Just("format = 1\n".to_owned()), 1 => Just(String::new()), 1 => value().prop_map(|v| format!("format = {v}\n"))],
        prop::collection::vec(structure(), 0..5),
        prop::collection::vec(channel(), 0..3),
    )
        .prop_map(|(format, structs, channels)| {
            // TOML refuses a table declared twice; keep the first of each.
            let mut seen = std::collections::HashSet::new();
            let mut doc = format;
            for block in structs.iter().chain(&channels) {
                let header = block.lines().next().unwrap_or_default().to_owned();
                if seen.insert(header) {
                    doc.push_str(block);
                }
            }
            doc
        })
}

proptest! {
    #![proptest_config(config(30_000))]

    #[test]
    fn documents_of_the_schema_grammar_never_panic_and_valid_ones_are_coherent(doc in document()) {
        check(doc.as_bytes());
    }
}

// --- Valid schemas, by construction ---------------------------------------

/// A struct that is valid by construction: fields sorted by falling
/// alignment (so no gap between them), a tail pad up to the alignment, and
/// only references to structs generated before it. Returns its TOML and the
/// size and alignment the generator itself computed.
#[derive(Debug, Clone)]
struct GenStruct {
    toml: String,
    size: u64,
    align: u64,
    atomic: bool,
}

fn valid_document() -> impl Strategy<Value = (String, Vec<(u64, u64)>)> {
    let plain = vec![
        ("u8", 1u64),
        ("u16", 2),
        ("u32", 4),
        ("u64", 8),
        ("i8", 1),
        ("i16", 2),
        ("i32", 4),
        ("i64", 8),
        ("f32", 4),
        ("f64", 8),
    ];
    let atomic = vec![
        ("atomic_u8", 1u64),
        ("atomic_u16", 2),
        ("atomic_u32", 4),
        ("atomic_u64", 8),
        ("atomic_i32", 4),
        ("atomic_f32", 4),
        ("atomic_f64", 8),
    ];
    let field = (
        prop::sample::select(plain),
        prop::sample::select(atomic),
        prop::collection::vec(1u64..4, 0..3),
        0usize..8,
    );
    let struct_spec = (any::<bool>(), prop::collection::vec(field, 1..7));
    (
        prop::collection::vec(struct_spec, 1..6),
        1u32..9,
        any::<bool>(),
    )
        .prop_map(|(specs, capacity, locked)| {
            let mut made: Vec<GenStruct> = Vec::new();
            for (i, (is_atomic, fields)) in specs.into_iter().enumerate() {
                // (name, type text, size, align)
                let mut members: Vec<(String, String, u64, u64)> = Vec::new();
                for (j, (p, a, dims, pick)) in fields.into_iter().enumerate() {
                    let same_kind: Vec<&GenStruct> =
                        made.iter().filter(|m| m.atomic == is_atomic).collect();
                    let (mut ty, mut size, align) = if pick == 0 && !same_kind.is_empty() {
                        let k = j % same_kind.len();
                        let target = made
                            .iter()
                            .position(|m| std::ptr::eq(m, same_kind[k]))
                            .unwrap();
                        (format!("S{target}"), same_kind[k].size, same_kind[k].align)
                    } else {
                        let (name, width) = if is_atomic { a } else { p };
                        (name.to_owned(), width, width)
                    };
                    for n in dims {
                        ty = format!("[{ty}; {n}]");
                        size *= n;
                    }
                    members.push((format!("f{j}"), ty, size, align));
                }
                members.sort_by_key(|m| std::cmp::Reverse(m.3));
                let align = members.iter().map(|m| m.3).max().unwrap();
                let mut size: u64 = members.iter().map(|m| m.2).sum();
                let tail = size.next_multiple_of(align) - size;
                if tail > 0 {
                    // Atomic structs pad with atomic bytes so they stay atomic-only.
                    let pad = if is_atomic { "atomic_u8" } else { "u8" };
                    members.push(("_tail".into(), format!("[{pad}; {tail}]"), tail, 1));
                    size += tail;
                }
                let fields: Vec<String> = members
                    .iter()
                    .map(|(n, t, _, _)| format!("{{ name = \"{n}\", type = \"{t}\" }}"))
                    .collect();
                made.push(GenStruct {
                    toml: format!("[structs.S{i}]\nfields = [{}]\n", fields.join(", ")),
                    size,
                    align,
                    atomic: is_atomic,
                });
            }
            let mut doc = String::from("format = 1\n");
            for m in &made {
                doc.push_str(&m.toml);
            }
            doc.push_str(&format!("[channels.gen]\ncapacity = {capacity}\n"));
            match made.iter().position(|m| !m.atomic) {
                Some(i) => doc.push_str(&format!("slot = \"S{i}\"\n")),
                None => doc.push_str("slot = \"bytes\"\nslot_size = 64\n"),
            }
            let zones: Vec<String> = made
                .iter()
                .enumerate()
                .filter(|(_, m)| m.atomic || locked)
                .map(|(i, m)| {
                    format!(
                        "{{ name = \"z{i}\", type = \"S{i}\"{} }}",
                        if m.atomic { "" } else { ", locked = true" }
                    )
                })
                .collect();
            doc.push_str(&format!("zones = [{}]\n", zones.join(", ")));
            (doc, made.iter().map(|m| (m.size, m.align)).collect())
        })
}

proptest! {
    #![proptest_config(config(10_000))]

    #[test]
    fn schemas_valid_by_construction_are_accepted_with_the_layout_the_generator_computed(
        (doc, layouts) in valid_document()
    ) {
        let schema = Schema::parse(&doc, "gen.toml").map_err(|e| TestCaseError::fail(format!("{doc}\n{}", e.render(false))))?;
        assert_invariants(&schema);
        for (i, (size, align)) in layouts.iter().enumerate() {
            let s = schema.struct_def(&format!("S{i}")).unwrap();
            prop_assert_eq!((s.layout.size, s.layout.align), (*size, *align), "{}", doc);
        }
        prop_assert_eq!(schema.channels().len(), 1);
    }
}

// --- Mutations of the examples ------------------------------------------------

fn examples() -> Vec<Vec<u8>> {
    let dir = crate::repo_root().join("schemas");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Replace(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    let snippet = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..4),
        prop::sample::select(vec![
            "[",
            "]",
            "{",
            "}",
            "\"",
            "=",
            ",",
            "\n",
            "0",
            "; 0",
            "atomic_",
            "locked = true",
            "# "
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), 1usize..16).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), snippet).prop_map(|(at, s)| Edit::Insert(at, s)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Replace(at, b)),
    ]
}

proptest! {
    #![proptest_config(config(40_000))]

    #[test]
    fn mutated_example_schemas_never_panic(which in any::<usize>(), edits in prop::collection::vec(edit(), 1..4)) {
        thread_local!(static EXAMPLES: Vec<Vec<u8>> = examples());
        let mut bytes = EXAMPLES.with(|e| e[which % e.len()].clone());
        for e in edits {
            let len = bytes.len().max(1);
            match e {
                Edit::Delete(at, n) => {
                    let at = at % len;
                    let end = (at + n).min(bytes.len());
                    bytes.drain(at.min(end)..end);
                }
                Edit::Insert(at, s) => {
                    let at = at % (bytes.len() + 1);
                    bytes.splice(at..at, s);
                }
                Edit::Replace(at, b) => {
                    if !bytes.is_empty() {
                        let i = at % bytes.len();
                        bytes[i] = b;
                    }
                }
            }
        }
        check(&bytes);
    }
}
