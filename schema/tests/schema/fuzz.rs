//! Property tests: no input, however hostile, makes the checker panic, and
//! every schema it accepts satisfies the layout and hash invariants.
//!
//! Four generators: arbitrary bytes (100,000 cases), documents of the schema
//! grammar (30,000: one in three well-formed by construction, the rest
//! with random, often wrong, names, types, keys and values; the run fails
//! unless at least a tenth of them are accepted with a channel), schemas
//! valid by construction (10,000), and byte-level mutations of the example
//! schemas users copy (40,000). Each prints its case count and seed;
//! `PROPTEST_CASES` and `PROPTEST_RNG_SEED` override them, and a failure
//! is saved under `schema/tests/proptest-regressions/` and replayed first
//! on every later run.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use datahub_schema::{MAX_CAPACITY, Schema, SchemaHash, channel_canonical};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};

/// The configuration of fuzz target `name`: `cases` cases unless
/// `PROPTEST_CASES` says otherwise, the seed from `PROPTEST_RNG_SEED` or a
/// fresh one, printed either way (`cargo test` shows it when the target
/// fails, or with `--nocapture`).
fn config(name: &str, cases: u32) -> Config {
    let env = Config::default();
    let cases = match std::env::var_os("PROPTEST_CASES") {
        Some(_) => env.cases,
        None => cases,
    };
    let seed = match env.rng_seed {
        RngSeed::Fixed(seed) => seed,
        // A fresh seed per run: the std hasher's keys are random per process.
        RngSeed::Random => {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(name)
        }
    };
    eprintln!(
        "fuzz {name}: {cases} cases, seed {seed} (replay: PROPTEST_RNG_SEED={seed}); \
         failures are saved under schema/tests/proptest-regressions/"
    );
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..env
    }
}

/// Whatever the input, checking returns; and what it returns is coherent.
/// Returns how many channels it accepted.
fn check(bytes: &[u8]) -> usize {
    match Schema::parse_bytes(bytes, "fuzz.toml") {
        Ok(schema) => {
            assert_invariants(&schema);
            schema.channels().len()
        }
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
            0
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
        assert!(
            u64::from(c.capacity) <= MAX_CAPACITY
                && (1..=64).contains(&c.max_consumers)
                && c.zones.len() <= 16
        );
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
    #![proptest_config(config("arbitrary bytes", 100_000))]

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

/// Documents of the grammar, one in three well-formed: none makes the
/// checker panic, and enough are accepted with a channel that the checks of
/// a valid channel (and the hashes of what it accepts) are exercised too.
#[test]
fn documents_of_the_schema_grammar_never_panic_and_valid_ones_are_coherent() {
    let accepted = AtomicU32::new(0);
    let config = config("schema grammar", 30_000);
    let cases = config.cases;
    let strategy = prop_oneof![2 => document(), 1 => well_formed_document()];
    let result = TestRunner::new(config).run(&strategy, |doc| {
        if check(doc.as_bytes()) > 0 {
            accepted.fetch_add(1, Relaxed);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let accepted = accepted.into_inner();
    eprintln!("schema grammar: {accepted} of {cases} documents accepted with a channel");
    assert!(
        accepted * 10 >= cases,
        "only {accepted} of {cases} grammar documents were accepted with a channel: \
         the generator no longer reaches the valid side"
    );
}

/// A document of the grammar built from its valid side only: distinct
/// field names, fields of one width per struct (so no padding), zones of
/// atomic structs or locked, and channels that name a struct generated
/// before them, with keys from their valid values. A few are still refused
/// (a `single` policy with a capacity other than 1, two channels of one
/// name...), which is what a user writing by hand would meet too.
fn well_formed_document() -> impl Strategy<Value = String> {
    let widths = prop::sample::select(vec![1u64, 2, 4, 8]);
    let plain = |w: u64| match w {
        1 => vec!["u8", "i8"],
        2 => vec!["u16", "i16"],
        4 => vec!["u32", "i32", "f32"],
        _ => vec!["u64", "i64", "f64"],
    };
    let atomic = |w: u64| match w {
        1 => vec!["atomic_u8"],
        2 => vec!["atomic_u16"],
        4 => vec!["atomic_u32", "atomic_i32", "atomic_f32"],
        _ => vec!["atomic_u64", "atomic_i64", "atomic_f64"],
    };
    let structure = (
        widths,
        any::<bool>(),
        prop::collection::vec((0usize..3, prop::option::weighted(0.3, 1u64..5)), 1..6),
    )
        .prop_map(move |(w, is_atomic, fields)| {
            let kinds = if is_atomic { atomic(w) } else { plain(w) };
            let fields: Vec<String> = fields
                .into_iter()
                .enumerate()
                .map(|(j, (k, dim))| {
                    let t = kinds[k % kinds.len()];
                    let t = dim.map_or(t.to_owned(), |n| format!("[{t}; {n}]"));
                    format!("{{ name = \"f{j}\", type = \"{t}\" }}")
                })
                .collect();
            (is_atomic, fields)
        });
    let keys = (
        prop::option::of(prop::sample::select(vec![
            "ring", "ring", "single", "double",
        ])),
        prop::option::of(1u32..9),
        prop::option::of(prop::sample::select(vec!["block", "overwrite"])),
        prop::option::of(prop::sample::select(vec!["none", "manual", "enforced"])),
        prop::option::of(1u32..9),
    );
    (
        prop::collection::vec(structure, 1..5),
        prop::collection::vec(
            (
                0usize..8,
                keys,
                prop::collection::vec((0usize..8, any::<bool>()), 0..4),
            ),
            1..3,
        ),
        prop::option::weighted(0.1, value()),
    )
        .prop_map(|(structs, channels, noise)| {
            let names = ["A", "B", "C", "Frame", "Vec3"];
            let mut doc = String::from("format = 1\n");
            for (i, (_, fields)) in structs.iter().enumerate() {
                doc.push_str(&format!(
                    "[structs.{}]\nfields = [\n  {}\n]\n",
                    names[i],
                    fields.join(",\n  ")
                ));
            }
            for (c, (slot, (policy, capacity, overflow, checksum, consumers), zones)) in
                channels.into_iter().enumerate()
            {
                doc.push_str(&format!("[channels.ch{c}]\n"));
                match structs
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !s.0)
                    .map(|(i, _)| i)
                    .nth(slot % structs.len())
                {
                    Some(i) => doc.push_str(&format!("slot = \"{}\"\n", names[i])),
                    None => doc.push_str("slot = \"bytes\"\nslot_size = 64\n"),
                }
                for (key, v) in [
                    ("policy", policy.map(|p| format!("{p:?}"))),
                    ("capacity", capacity.map(|n| n.to_string())),
                    ("overflow", overflow.map(|o| format!("{o:?}"))),
                    ("checksum", checksum.map(|k| format!("{k:?}"))),
                    ("max_consumers", consumers.map(|n| n.to_string())),
                ] {
                    if let Some(v) = v {
                        doc.push_str(&format!("{key} = {v}\n"));
                    }
                }
                let zones: Vec<String> = zones
                    .into_iter()
                    .enumerate()
                    .map(|(z, (s, locked))| {
                        let s = s % structs.len();
                        let locked = locked || !structs[s].0;
                        format!(
                            "{{ name = \"z{z}\", type = \"{}\"{} }}",
                            names[s],
                            if locked { ", locked = true" } else { "" }
                        )
                    })
                    .collect();
                doc.push_str(&format!("zones = [{}]\n", zones.join(", ")));
            }
            if let Some(v) = noise {
                doc.push_str(&format!("bogus = {v}\n"));
            }
            doc
        })
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
    #![proptest_config(config("valid by construction", 10_000))]

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
    #![proptest_config(config("mutated examples", 40_000))]

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
