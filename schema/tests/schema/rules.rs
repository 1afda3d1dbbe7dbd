//! One test per refusal rule of `docs/schema.md` (and the channel rules): each
//! asserts the kind of error and where it points, and snapshots the
//! rendered diagnostic, so that a reader sees exactly what a user sees.

use datahub_schema::{ErrorKind, Schema};

/// Checks `body` (after `format = 1`) and returns every problem's kind, its
/// `line:col`, and the rendered diagnostics.
pub(crate) fn refuse(body: &str) -> (Vec<ErrorKind>, Vec<String>, String) {
    let source = format!("format = 1\n{body}");
    let err = Schema::parse(&source, "schema.toml").expect_err("the schema should be refused");
    let d = err.diagnostics().expect("located diagnostics");
    let kinds = d.items().iter().map(|d| d.kind.clone()).collect();
    let at = d
        .items()
        .iter()
        .map(|d| format!("{}:{}", d.line, d.column))
        .collect();
    (kinds, at, err.render(false))
}

#[test]
fn unknown_keys_are_refused_with_the_keys_that_exist() {
    let (kinds, at, text) = refuse(
        r#"
[structs.S]
fields = [{ name = "a", type = "u64", unit = "ms" }]
[channels.c]
slot = "S"
capcity = 4
"#,
    );
    assert!(matches!(&kinds[0], ErrorKind::UnknownKey { key, .. } if key == "unit"));
    assert!(matches!(&kinds[1], ErrorKind::UnknownKey { key, .. } if key == "capcity"));
    assert_eq!(at, ["4:39", "7:1"]);
    assert!(text.contains("did you mean `capacity`?"));
    insta::assert_snapshot!(text);
}

#[test]
fn unknown_types_are_refused_with_the_closest_name() {
    let (kinds, at, text) = refuse(
        r#"
[structs.Vec3]
fields = [{ name = "x", type = "f64" }]
[structs.S]
fields = [{ name = "a", type = "u36" }, { name = "b", type = "[Vec4; 2]" }]
"#,
    );
    assert!(matches!(&kinds[0], ErrorKind::UnknownType { name, .. } if name == "u36"));
    assert!(matches!(&kinds[1], ErrorKind::UnknownType { name, .. } if name == "Vec4"));
    assert_eq!(at, ["6:32", "6:62"]);
    assert!(text.contains("did you mean `u16` or `u32`?") && text.contains("did you mean `Vec3`?"));
    insta::assert_snapshot!(text);
}

#[test]
fn types_with_invalid_bit_patterns_or_target_widths_are_refused_with_an_alternative() {
    let (kinds, _, text) = refuse(
        r#"
[structs.S]
fields = [
  { name = "on", type = "bool" },
  { name = "c", type = "char" },
  { name = "n", type = "usize" },
]
"#,
    );
    assert_eq!(kinds.len(), 3);
    assert!(
        kinds
            .iter()
            .all(|k| matches!(k, ErrorKind::ForbiddenType { .. }))
    );
    assert!(text.contains("use `u8`") && text.contains("use `u64`"));
    insta::assert_snapshot!(text);
}

#[test]
fn malformed_type_expressions_are_refused() {
    let (kinds, _, text) = refuse(
        r#"
[structs.S]
fields = [{ name = "a", type = "[u8, 4]" }, { name = "b", type = "[u8; many]" }, { name = "c", type = "f32*" }]
"#,
    );
    assert_eq!(kinds.len(), 3);
    assert!(
        kinds
            .iter()
            .all(|k| matches!(k, ErrorKind::InvalidTypeSyntax { .. }))
    );
    insta::assert_snapshot!(text);
}

#[test]
fn recursive_types_are_refused_with_the_cycle() {
    let (kinds, at, text) = refuse(
        r#"
[structs.A]
fields = [{ name = "b", type = "B" }]
[structs.B]
fields = [{ name = "a", type = "[A; 2]" }]
[structs.Node]
fields = [{ name = "next", type = "Node" }]
"#,
    );
    assert_eq!(kinds.len(), 2);
    assert!(
        matches!(&kinds[0], ErrorKind::RecursiveType { cycle } if cycle == "struct `A` contains `B`, which contains `A`")
    );
    assert!(
        matches!(&kinds[1], ErrorKind::RecursiveType { cycle } if cycle == "struct `Node` contains itself")
    );
    assert_eq!(at, ["6:32", "8:35"]);
    insta::assert_snapshot!(text);
}

#[test]
fn duplicate_field_and_zone_names_are_refused() {
    let (kinds, at, text) = refuse(
        r#"
[structs.S]
fields = [{ name = "a", type = "u64" }, { name = "a", type = "u64" }]
[structs.Z]
fields = [{ name = "n", type = "atomic_u64" }]
[channels.c]
slot = "S"
zones = [{ name = "z", type = "Z" }, { name = "z", type = "Z" }]
"#,
    );
    assert!(
        matches!(&kinds[0], ErrorKind::DuplicateName { what: "field", name, .. } if name == "a")
    );
    assert!(
        matches!(&kinds[1], ErrorKind::DuplicateName { what: "zone", name, .. } if name == "z")
    );
    assert_eq!(at, ["4:50", "9:47"]);
    insta::assert_snapshot!(text);
}

#[test]
fn names_that_are_not_rust_identifiers_are_refused() {
    let (kinds, _, text) = refuse(
        r#"
[structs.my-frame]
fields = [{ name = "2d", type = "u64" }, { name = "_", type = "u64" }]
[structs.u8]
fields = [{ name = "v", type = "u64" }]
[channels."cam/0"]
slot = "bytes"
slot_size = 16
"#,
    );
    let names: Vec<&str> = kinds
        .iter()
        .map(|k| match k {
            ErrorKind::InvalidName { name, .. } => name.as_str(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(names, ["my-frame", "2d", "_", "u8", "cam/0"]);
    insta::assert_snapshot!(text);
}

#[test]
fn rust_keywords_are_refused_as_names() {
    let (kinds, _, text) = refuse(
        r#"
[structs.S]
fields = [{ name = "type", type = "u64" }]
[structs.Z]
fields = [{ name = "n", type = "atomic_u64" }]
[structs.Self]
fields = [{ name = "v", type = "u64" }]
[channels.c]
slot = "S"
zones = [{ name = "loop", type = "Z" }]
"#,
    );
    let names: Vec<&str> = kinds
        .iter()
        .map(|k| match k {
            ErrorKind::KeywordName { name, .. } => name.as_str(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(names, ["type", "Self", "loop"]);
    insta::assert_snapshot!(text);
}

#[test]
fn a_slot_type_containing_atomics_is_refused_naming_the_field() {
    let (kinds, at, text) = refuse(
        r#"
[structs.Stats]
fields = [{ name = "count", type = "atomic_u64" }]
[structs.Frame]
fields = [{ name = "t", type = "u64" }, { name = "stats", type = "[Stats; 2]" }]
[channels.frames]
slot = "Frame"
"#,
    );
    assert!(
        matches!(&kinds[..], [ErrorKind::AtomicInSlot { field, field_ty, .. }]
        if field == "stats.count" && field_ty == "atomic_u64")
    );
    assert_eq!(at, ["8:8"]);
    insta::assert_snapshot!(text);
}

#[test]
fn a_lock_free_zone_type_with_plain_fields_is_refused_naming_the_field() {
    let (kinds, at, text) = refuse(
        r#"
[structs.Telemetry]
fields = [{ name = "frames", type = "atomic_u64" }, { name = "fps", type = "f32" }, { name = "_pad0", type = "[u8; 4]" }]
[channels.c]
slot = "bytes"
slot_size = 64
zones = [{ name = "telemetry", type = "Telemetry" }]
"#,
    );
    assert!(
        matches!(&kinds[..], [ErrorKind::NonAtomicInLockFreeZone { field, .. }] if field == "fps")
    );
    assert_eq!(at, ["8:39"]);
    assert!(text.contains("make `fps` atomic (`atomic_f32`), or add `locked = true`"));
    insta::assert_snapshot!(text);
}

#[test]
fn a_locked_zone_type_with_atomics_is_refused() {
    let (kinds, _, text) = refuse(
        r#"
[structs.Calib]
fields = [{ name = "gain", type = "f64" }, { name = "version", type = "atomic_u64" }]
[channels.c]
slot = "bytes"
slot_size = 64
zones = [{ name = "calibration", type = "Calib", locked = true }]
"#,
    );
    assert!(
        matches!(&kinds[..], [ErrorKind::AtomicInLockedZone { field, .. }] if field == "version")
    );
    insta::assert_snapshot!(text);
}

#[test]
fn implicit_padding_is_refused_with_the_exact_field_to_add() {
    let (kinds, at, text) = refuse(
        r#"
[structs.Frame]
fields = [
  { name = "seq", type = "u32" },
  { name = "timestamp_ns", type = "u64" },
  { name = "flags", type = "u16" },
]
"#,
    );
    let gaps: Vec<(u64, u64)> = kinds
        .iter()
        .map(|k| match k {
            ErrorKind::ImplicitPadding { offset, size, .. } => (*offset, *size),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    // 4 bytes before `timestamp_ns`, and 6 at the end after `flags` (size 24, not 18).
    assert_eq!(gaps, [(4, 4), (18, 6)]);
    assert_eq!(at, ["6:3", "7:3"]);
    assert!(text.contains(r#"add { name = "_pad0", type = "[u8; 4]" } after "seq""#));
    assert!(text.contains(r#"add { name = "_pad1", type = "[u8; 6]" } after "flags""#));
    insta::assert_snapshot!(text);
}

#[test]
fn padding_names_skip_names_already_taken() {
    let (_, _, text) = refuse(
        r#"
[structs.S]
fields = [{ name = "_pad0", type = "u8" }, { name = "v", type = "u16" }]
"#,
    );
    assert!(
        text.contains(r#"add { name = "_pad1", type = "[u8; 1]" } after "_pad0""#),
        "{text}"
    );
}

#[test]
fn zero_sized_structs_are_refused() {
    let (kinds, at, text) = refuse("[structs.Empty]\nfields = []\n");
    assert!(matches!(&kinds[..], [ErrorKind::ZeroSizedStruct { name }] if name == "Empty"));
    assert_eq!(at, ["3:10"]);
    insta::assert_snapshot!(text);
}

#[test]
fn arrays_of_length_zero_are_refused() {
    let (kinds, at, text) = refuse(
        r#"
[structs.S]
fields = [{ name = "v", type = "u64" }, { name = "tail", type = "[[u8; 4]; 0]" }]
"#,
    );
    assert!(matches!(&kinds[..], [ErrorKind::ZeroLengthArray { .. }]));
    assert_eq!(at, ["4:65"]);
    insta::assert_snapshot!(text);
}

#[test]
fn more_than_sixteen_zones_are_refused_at_the_seventeenth() {
    let zones: Vec<String> = (0..17)
        .map(|i| format!("{{ name = \"z{i}\", type = \"Z\" }}"))
        .collect();
    let (kinds, at, text) = refuse(&format!(
        "[structs.Z]\nfields = [{{ name = \"n\", type = \"atomic_u64\" }}]\n[channels.c]\nslot = \"bytes\"\nslot_size = 8\nzones = [\n{}\n]\n",
        zones.join(",\n")
    ));
    assert!(matches!(
        &kinds[..],
        [ErrorKind::TooManyZones {
            count: 17,
            max: 16,
            ..
        }]
    ));
    assert_eq!(at, ["24:1"]);
    insta::assert_snapshot!(text);
}

#[test]
fn channel_parameters_are_checked_against_the_policy() {
    let (kinds, _, text) = refuse(
        r#"
[structs.S]
fields = [{ name = "v", type = "u64" }]
[channels.one]
slot = "S"
policy = "single"
capacity = 4
[channels.bytes-without-size]
slot = "bytes"
[channels.odd]
slot = "S"
slot_size = 16
policy = "rng"
max_consumers = 65
overflow = 3
[channels.prim]
slot = "u64"
"#,
    );
    let codes: Vec<&str> = kinds.iter().map(ErrorKind::code).collect();
    assert_eq!(
        codes,
        [
            "DH106", "DH103", "DH106", "DH106", "DH106", "DH105", "DH106"
        ]
    );
    assert!(
        text.contains("unknown variant `rng`, expected one of `single`, `double`, `ring`"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn every_problem_of_a_file_is_reported_not_only_the_first() {
    let (kinds, _, _) = refuse(
        r#"
bogus = true
[structs.A]
fields = [{ name = "type", type = "bool" }, { name = "x", type = "[u8; 0]" }]
[structs.B]
fields = [{ name = "a", type = "u8" }, { name = "b", type = "u64" }]
[channels.c]
slot = "Nope"
"#,
    );
    let codes: Vec<&str> = kinds.iter().map(ErrorKind::code).collect();
    assert_eq!(
        codes,
        ["DH104", "DH108", "DH111", "DH114", "DH116", "DH110"]
    );
}

#[test]
fn toml_syntax_errors_are_located() {
    let err = Schema::parse(
        "format = 1\n[structs.S]\nfields = [{ name = \"a\" type = \"u8\" }]\n",
        "schema.toml",
    )
    .unwrap_err();
    let d = &err.diagnostics().unwrap().items()[0];
    assert!(matches!(d.kind, ErrorKind::Syntax { .. }));
    assert_eq!(d.line, 3);
    insta::assert_snapshot!(err.render(false));
}

#[test]
fn the_format_key_is_required_and_must_be_one() {
    let err = Schema::parse(
        "[structs.S]\nfields = [{ name = \"a\", type = \"u8\" }]\n",
        "schema.toml",
    )
    .unwrap_err();
    assert!(matches!(
        err.diagnostics().unwrap().items()[0].kind,
        ErrorKind::MissingKey { key: "format", .. }
    ));
    let err = Schema::parse("format = 2\n", "schema.toml").unwrap_err();
    assert!(
        matches!(&err.diagnostics().unwrap().items()[0].kind, ErrorKind::UnsupportedFormat { found } if found == "2")
    );
    insta::assert_snapshot!(err.render(false));
}

#[test]
fn values_of_the_wrong_toml_type_are_refused() {
    let (kinds, _, text) = refuse(
        r#"
[structs.S]
fields = [{ name = 7, type = "u8" }, "u8"]
doc = 3
[channels.c]
slot = "S"
capacity = "eight"
zones = [{ name = "z", type = "S", locked = "yes" }]
"#,
    );
    assert!(
        kinds
            .iter()
            .all(|k| matches!(k, ErrorKind::WrongType { .. })),
        "{kinds:?}"
    );
    assert_eq!(kinds.len(), 5);
    insta::assert_snapshot!(text);
}

#[test]
fn a_file_that_is_not_utf8_is_refused_at_the_bad_byte() {
    let err = Schema::parse_bytes(b"format = 1\n# caf\xe9\n", "schema.toml").unwrap_err();
    let d = &err.diagnostics().unwrap().items()[0];
    assert_eq!((d.line, d.column), (2, 6));
    assert!(matches!(d.kind, ErrorKind::NotUtf8 { offset: 16 }));
}

#[test]
fn an_unreadable_file_is_an_io_error_naming_the_path() {
    let err = Schema::load("/nonexistent/schema.toml").unwrap_err();
    assert!(matches!(err, datahub_schema::Error::Read { .. }));
    assert_eq!(err.code(), "DH190");
    assert!(err.to_string().contains("/nonexistent/schema.toml"));
}

#[test]
fn huge_types_are_refused_instead_of_overflowing() {
    let (kinds, _, _) = refuse(
        r#"
[structs.S]
fields = [{ name = "v", type = "[[u64; 4294967296]; 4294967296]" }]
"#,
    );
    assert!(
        matches!(&kinds[..], [ErrorKind::TooLarge { .. }]),
        "{kinds:?}"
    );
}

#[test]
fn canonical_forms_that_would_explode_are_refused() {
    // Each level holds two of the previous one, so canonical forms double:
    // 40 levels would be terabytes written inline.
    let mut body = String::from("[structs.L0]\nfields = [{ name = \"v\", type = \"u64\" }]\n");
    for i in 1..40 {
        body.push_str(&format!(
            "[structs.L{i}]\nfields = [{{ name = \"a\", type = \"L{p}\" }}, {{ name = \"b\", type = \"L{p}\" }}]\n",
            p = i - 1
        ));
    }
    let (kinds, _, _) = refuse(&body);
    assert!(
        matches!(&kinds[..], [ErrorKind::TooLarge { .. }]),
        "{kinds:?}"
    );
}

#[test]
fn a_deep_chain_of_structs_does_not_overflow_the_stack() {
    let mut body = String::from("[structs.S0]\nfields = [{ name = \"v\", type = \"u8\" }]\n");
    for i in 1..20_000 {
        body.push_str(&format!(
            "[structs.S{i}]\nfields = [{{ name = \"v\", type = \"S{}\" }}]\n",
            i - 1
        ));
    }
    // Refused quickly, with two located errors and no recursion: the chain
    // is deeper than 64 levels (at `S64`), and the file has more than 1024
    // structs (at `S1024`; the rest are not looked at).
    let err = Schema::parse(&format!("format = 1\n{body}"), "deep.toml").unwrap_err();
    let d = err.diagnostics().unwrap().items();
    let at: Vec<(usize, bool)> = d
        .iter()
        .map(|d| (d.line, matches!(d.kind, ErrorKind::TooLarge { .. })))
        .collect();
    assert_eq!(at, [(2 + 2 * 64 + 1, true), (2 + 2 * 1024, true)], "{err}");
}
