//! `check` and `generate` agree: a file that `check` accepts, `generate`
//! (and the `Builder`) turn into Rust whose names are distinct and whose
//! text is plain, and that rustc compiles (a sample, in `generate.rs`); a
//! file that one refuses, the other refuses with the same diagnostics.
//!
//! The corpus is drawn from a grammar of names and docs chosen to collide
//! once mapped to Rust (`a-b` and `a_b`, a struct and a channel `S`, zones
//! `next` and `next_zone`) or to break out of a comment (`*/`, `\r`,
//! text-direction characters), with a fixed seed so that the sample rustc
//! compiles is the same on every run.

use std::collections::HashSet;
use std::path::PathBuf;

use datahub_schema::Schema;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::cli::{run, text};

const CHANNEL_NAMES: &[&str] = &[
    "-", "_", "__", "a-b", "a_b", "1", "ch_1", "self", "self_", "S", "T", "u8", "x",
];
const STRUCT_NAMES: &[&str] = &["S", "Slot", "Producer", "a_b", "self_", "lower", "__"];
const ZONE_NAMES: &[&str] = &[
    "next",
    "next_zone",
    "inner",
    "inner_zone",
    "t",
    "T",
    "zone",
    "config",
    "Slot",
];
const FIELD_NAMES: &[&str] = &["v", "size", "offset", "_pad0", "Gain", "inner", "x"];
/// Docs as TOML basic-string bodies: some plain, some to be refused.
const DOCS: &[&str] = &[
    "plain",
    "*/ closes a block comment",
    "/* opens one",
    "two\\nlines",
    "a Windows\\r\\nline end",
    "a bare\\rreturn",
    "override \\u202E here",
    "isolate \\u2066x\\u2069",
    "escape \\u001B[31m",
    "line separator \\u2028 here",
    "{braces} and \\\"quotes\\\" and \\\\",
    "é 😀 \\u200F",
    "ends with /",
];

fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(pool)
}

fn doc() -> impl Strategy<Value = String> {
    prop::option::weighted(0.1, pick(DOCS))
        .prop_map(|d| d.map_or(String::new(), |d| format!(", doc = \"{d}\"")))
}

/// One struct: atomic or plain, and its fields: (name, an earlier struct
/// to hold, as an index to be resolved, whether an array, doc).
type StructSpec = (
    bool,
    Vec<(&'static str, Option<usize>, bool, String)>,
    String,
);
/// One channel: name, slot (an index into the structs, or raw bytes),
/// zones (name, struct index, locked as its kind asks), doc.
type ChannelSpec = (
    &'static str,
    Option<usize>,
    Vec<(&'static str, usize, bool, String)>,
    String,
);

fn struct_spec() -> impl Strategy<Value = StructSpec> {
    let names = prop::sample::subsequence(FIELD_NAMES, 1..4).prop_shuffle();
    (any::<bool>(), names, doc()).prop_flat_map(|(atomic, names, struct_doc)| {
        let n = names.len();
        let fields = prop::collection::vec(
            (
                prop_oneof![3 => Just(None), 1 => (0usize..8).prop_map(Some)],
                any::<bool>(),
                doc(),
            ),
            n,
        );
        (Just(atomic), Just(names), fields, Just(struct_doc)).prop_map(
            |(atomic, names, fields, doc)| {
                let fields = names
                    .into_iter()
                    .zip(fields)
                    .map(|(name, (reference, array, doc))| (name, reference, array, doc))
                    .collect();
                (atomic, fields, doc)
            },
        )
    })
}

fn channel_spec() -> impl Strategy<Value = ChannelSpec> {
    // Most zones are locked exactly when their struct is plain (decided
    // once the structs are known); `true` here flips that, to be refused.
    let zone = (
        pick(ZONE_NAMES),
        0usize..8,
        prop::bool::weighted(0.1),
        doc(),
    );
    (
        pick(CHANNEL_NAMES),
        prop_oneof![1 => Just(None), 3 => (0usize..8).prop_map(Some)],
        prop::collection::vec(zone, 0..3),
        doc(),
    )
}

fn document() -> impl Strategy<Value = String> {
    (
        prop::sample::subsequence(STRUCT_NAMES, 1..=STRUCT_NAMES.len()).prop_shuffle(),
        prop::collection::vec(struct_spec(), STRUCT_NAMES.len()),
        prop::collection::vec(channel_spec(), 0..4),
    )
        .prop_map(|(names, specs, channels)| {
            let mut out = String::from("format = 1\n");
            let mut atomic_of = Vec::new();
            for (i, (name, (atomic, fields, doc))) in names.iter().zip(specs).enumerate() {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(field, reference, array, doc)| {
                        // Hold an earlier struct of the same kind, if any.
                        let held = reference.and_then(|r| {
                            (0..i)
                                .cycle()
                                .skip(r)
                                .take(i)
                                .find(|&j| atomic_of[j] == atomic)
                        });
                        let ty = match held {
                            Some(j) => names[j].to_owned(),
                            None if atomic => "atomic_u64".to_owned(),
                            None => "f64".to_owned(),
                        };
                        let ty = if array { format!("[{ty}; 2]") } else { ty };
                        format!("{{ name = \"{field}\", type = \"{ty}\"{doc} }}")
                    })
                    .collect();
                atomic_of.push(atomic);
                out.push_str(&format!(
                    "[structs.\"{name}\"]\nfields = [{}]\n{}\n",
                    fields.join(", "),
                    doc.trim_start_matches(", ")
                ));
            }
            let mut seen = HashSet::new();
            for (name, slot, zones, doc) in channels {
                if !seen.insert(name) {
                    continue; // TOML refuses a table declared twice
                }
                let slot = match slot {
                    Some(i) => format!("slot = \"{}\"", names[i % names.len()]),
                    None => "slot = \"bytes\"\nslot_size = 24".to_owned(),
                };
                let zones: Vec<String> = zones
                    .into_iter()
                    .map(|(zone, ty, flip, doc)| {
                        let ty = ty % names.len();
                        let locked = !atomic_of[ty] ^ flip;
                        format!(
                            "{{ name = \"{zone}\", type = \"{}\", locked = {locked}{doc} }}",
                            names[ty]
                        )
                    })
                    .collect();
                out.push_str(&format!(
                    "[channels.\"{name}\"]\n{slot}\nzones = [{}]\n{}\n",
                    zones.join(", "),
                    doc.trim_start_matches(", ")
                ));
            }
            out
        })
}

/// `n` documents of the corpus, the same on every run.
pub(crate) fn corpus(n: usize) -> Vec<String> {
    let seed = [7u8; 32];
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    let strategy = document();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// What rustc would refuse in generated code and a `syn` parse does not:
/// two items of one name, two fields of a handle of one name, and text
/// that is not plain in a comment or a literal.
fn assert_generated_code_is_sound(code: &str, doc: &str) {
    let file = syn::parse_file(code).unwrap_or_else(|e| panic!("{e}\n{code}"));
    let mut items = HashSet::new();
    for item in &file.items {
        let name = match item {
            syn::Item::Struct(s) => s.ident.to_string(),
            syn::Item::Mod(m) => {
                for inner in m.content.iter().flat_map(|(_, items)| items) {
                    if let syn::Item::Struct(handle) = inner {
                        let mut fields = HashSet::new();
                        for f in &handle.fields {
                            let f = f.ident.as_ref().map(ToString::to_string);
                            assert!(
                                fields.insert(f.clone()),
                                "{}::{} has two fields {f:?}\n{doc}",
                                m.ident,
                                handle.ident
                            );
                        }
                    }
                }
                m.ident.to_string()
            }
            _ => continue,
        };
        assert!(
            items.insert(name.clone()),
            "two items named `{name}`\n{doc}"
        );
    }
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        let plain = match c {
            '\n' | '\t' => true,
            '\r' => chars.peek() == Some(&'\n'),
            '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => false,
            c => !c.is_control(),
        };
        assert!(plain, "{c:?} in the generated code of\n{doc}");
    }
}

#[test]
fn whatever_check_accepts_generate_writes_as_sound_rust() {
    let cases: usize = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let (mut accepted, mut refused) = (0, 0);
    for doc in corpus(cases) {
        match Schema::parse(&doc, "corpus.toml") {
            Ok(schema) => {
                accepted += 1;
                let code = datahub_codegen::generate(&schema, "corpus.toml")
                    .unwrap_or_else(|e| panic!("check accepted, generate refused: {e}\n{doc}"));
                assert_generated_code_is_sound(&code, &doc);
            }
            Err(e) => {
                refused += 1;
                assert!(e.code().starts_with("DH1"), "{e}");
            }
        }
    }
    // Both sides of the property are exercised.
    assert!(
        accepted * 10 >= cases && refused * 10 >= cases,
        "{accepted} accepted, {refused} refused"
    );
}

/// Files `check` once accepted and `generate` (or rustc) refused.
fn refused_files() -> Vec<(&'static str, String, &'static str)> {
    let bytes = |name: &str| format!("[channels.\"{name}\"]\nslot = \"bytes\"\nslot_size = 8\n");
    let fields: Vec<String> = (0..5000)
        .map(|i| format!("{{ name = \"f{i}\", type = \"u8\" }}"))
        .collect();
    let mut chain = String::from("[structs.S0]\nfields = [{ name = \"v\", type = \"u8\" }]\n");
    for i in 1..200 {
        chain.push_str(&format!(
            "[structs.S{i}]\nfields = [{{ name = \"v\", type = \"S{}\" }}]\n",
            i - 1
        ));
    }
    let zones = "[structs.T]\nfields = [{ name = \"n\", type = \"atomic_u64\" }]\n[channels.c]\nslot = \"bytes\"\nslot_size = 8\n";
    vec![
        ("dash_and_underscore", bytes("-") + &bytes("_"), "DH122"),
        ("a-b_and_a_b", bytes("a-b") + &bytes("a_b"), "DH122"),
        (
            "struct_and_channel",
            "[structs.A]\nfields = [{ name = \"v\", type = \"u64\" }]\n[channels.A]\nslot = \"A\"\n".into(),
            "DH122",
        ),
        (
            "zone_accessors",
            format!("{zones}zones = [{{ name = \"next\", type = \"T\" }}, {{ name = \"next_zone\", type = \"T\" }}]\n"),
            "DH122",
        ),
        (
            "mixed_struct",
            "[structs.M]\nfields = [{ name = \"a\", type = \"atomic_u64\" }, { name = \"b\", type = \"u64\" }]\n".into(),
            "DH124",
        ),
        (
            "doc_direction",
            "[structs.S]\ndoc = \"safe \\u202E evil\"\nfields = [{ name = \"v\", type = \"u64\" }]\n".into(),
            "DH123",
        ),
        (
            "doc_carriage_return",
            "[structs.S]\nfields = [{ name = \"v\", type = \"u64\", doc = \"a\\rb\" }]\n".into(),
            "DH123",
        ),
        (
            "array_too_big_for_rustc",
            "[structs.S]\nfields = [{ name = \"v\", type = \"[u8; 2305843009213693952]\" }]\n".into(),
            "DH121",
        ),
        (
            "struct_of_5000_fields",
            format!("[structs.S]\nfields = [{}]\n", fields.join(", ")),
            "DH121",
        ),
        ("chain_of_200_structs", chain, "DH121"),
        (
            "zone_name_of_32_bytes",
            format!("{zones}zones = [{{ name = \"{}\", type = \"T\" }}]\n", "z".repeat(32)),
            "DH107",
        ),
    ]
}

#[test]
fn check_generate_and_the_builder_refuse_the_same_files_with_the_same_diagnostics() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agree");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.rs");
    for (name, body, code) in refused_files() {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, format!("format = 1\n{body}")).unwrap();
        let path = path.to_str().unwrap();
        let check = run(&["check", path]);
        let generate = run(&["generate", path, "-o", out.to_str().unwrap()]);
        assert_eq!(check.status.code(), Some(1), "{name}: check accepted it");
        assert_eq!(
            generate.status.code(),
            Some(1),
            "{name}: generate accepted it"
        );
        let diagnostics = text(&check.stderr);
        assert!(
            diagnostics.starts_with(&format!("{path}:"))
                && diagnostics.contains(&format!("error[{code}]")),
            "{name}: {diagnostics}"
        );
        // `check` adds a summary line of its own after the diagnostics.
        let summary = "error: 1 of 1 schema file invalid\n";
        assert_eq!(
            text(&generate.stderr),
            diagnostics.strip_suffix(summary).unwrap(),
            "{name}"
        );
        let built = datahub_codegen::Builder::new()
            .schema(path)
            .out_dir(&dir)
            .generate()
            .unwrap_err();
        assert_eq!(
            built.to_string(),
            diagnostics.strip_suffix(summary).unwrap(),
            "{name}"
        );
    }
}

/// A schema path that tries to end the `// @generated` comment, to inject
/// an item, to open a format argument in the messages of `assert!`, and to
/// reverse the text after it.
pub(crate) const HOSTILE_PATH: &str =
    "schemas/evil\n#[cfg(all())] pub fn injected() {}\n// {size} \u{202E}.toml";

#[test]
fn the_schema_path_is_escaped_wherever_generated_code_shows_it() {
    let schema = Schema::load(crate::cli::root().join("schemas/sensor.toml")).unwrap();
    let code = datahub_codegen::generate(&schema, HOSTILE_PATH).unwrap();
    let escaped = r#""schemas/evil\n#[cfg(all())] pub fn injected() {}\n// {size} \u{202e}.toml""#;
    let mut lines = code.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "// @generated by datahub-codegen {} from {escaped} — DO NOT EDIT.",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(
        lines.next().unwrap(),
        format!("// Regenerate: datahub-codegen generate {escaped} -o <this file>")
    );
    let file = syn::parse_file(&code).unwrap();
    assert!(
        file.items.iter().all(|i| !matches!(i, syn::Item::Fn(_))),
        "no item comes from the path"
    );
    assert!(!code.contains('\u{202E}'));
    // In `assert!` messages (format strings), braces are doubled.
    assert!(
        code.contains(r#"// {{size}} \\u{{202e}}.toml\" says"#),
        "{code}"
    );
    assert_generated_code_is_sound(&code, HOSTILE_PATH);
    // A plain path is shown as it is.
    let plain = datahub_codegen::generate(&schema, "schemas/sensor v2 (é).toml").unwrap();
    assert!(plain.starts_with(&format!(
        "// @generated by datahub-codegen {} from schemas/sensor v2 (é).toml — DO NOT EDIT.\n",
        env!("CARGO_PKG_VERSION")
    )));
}
