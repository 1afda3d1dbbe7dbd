//! Rules that exist because a schema becomes Rust: names that generated
//! code would spell the same (DH122), text that could break out of or hide
//! in a doc comment (DH123), and structs no derive can lay out (DH124).
//! Before these rules, `check` accepted each of these files and
//! `datahub-codegen generate` (or rustc, on its output) refused them.

use datahub_schema::{ErrorKind, Schema};

use crate::rules::refuse;

fn codes(kinds: &[ErrorKind]) -> Vec<&'static str> {
    kinds.iter().map(ErrorKind::code).collect()
}

#[test]
fn channels_whose_modules_would_be_spelled_the_same_are_refused() {
    let (kinds, at, text) = refuse(
        r#"
[channels."-"]
slot = "bytes"
slot_size = 8
[channels._]
slot = "bytes"
slot_size = 8
[channels.a-b]
slot = "bytes"
slot_size = 8
[channels.a_b]
slot = "bytes"
slot_size = 8
[channels.1]
slot = "bytes"
slot_size = 8
[channels.ch_1]
slot = "bytes"
slot_size = 8
[channels.self]
slot = "bytes"
slot_size = 8
[channels.self_]
slot = "bytes"
slot_size = 8
"#,
    );
    assert_eq!(codes(&kinds), ["DH122"; 4]);
    assert_eq!(at, ["6:11", "12:11", "18:11", "24:11"]);
    assert!(
        matches!(&kinds[1], ErrorKind::NameClash { what, other, rust }
            if what == "channel `a_b`" && other == "channel `a-b` (line 9)" && rust == "the module `a_b`"),
        "{kinds:?}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn a_struct_and_a_channel_module_of_the_same_name_are_refused() {
    let (kinds, at, text) = refuse(
        r#"
[structs.A]
fields = [{ name = "v", type = "u64" }]
[channels.A]
slot = "A"
[channels.sample]
slot = "A"
[structs.sample]
fields = [{ name = "v", type = "u64" }]
"#,
    );
    assert_eq!(codes(&kinds), ["DH122", "DH122"]);
    assert_eq!(at, ["5:11", "9:10"]);
    assert!(text.contains("struct `sample` and channel `sample` (line 7) would both be `sample`"));
    insta::assert_snapshot!(text);
}

#[test]
fn zones_whose_accessors_would_be_spelled_the_same_are_refused() {
    let (kinds, at, text) = refuse(
        r#"
[structs.T]
fields = [{ name = "n", type = "atomic_u64" }]
[channels.c]
slot = "bytes"
slot_size = 8
zones = [
  { name = "next", type = "T" },
  { name = "next_zone", type = "T" },
  { name = "inner_zone", type = "T" },
  { name = "inner", type = "T" },
]
"#,
    );
    assert_eq!(codes(&kinds), ["DH122", "DH122"]);
    assert_eq!(at, ["10:12", "12:12"]);
    assert!(
        text.contains("help: rename one of them: `next` is a method of the handles, so zone `next` gets the accessor `next_zone()`"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn docs_with_control_or_text_direction_characters_are_refused() {
    let (kinds, at, text) = refuse(
        r#"
[structs.S]
doc = "access granted \u202E ;)"
fields = [
  { name = "a", type = "u64", doc = "line one\rline two" },
  { name = "b", type = "u64", doc = "red \u001b[31m" },
]
[structs.T]
fields = [{ name = "n", type = "atomic_u64" }]
[channels.c]
doc = "zero \u0000 byte"
slot = "S"
zones = [{ name = "t", type = "T", doc = "isolate \u2066x\u2069" }]
"#,
    );
    assert_eq!(codes(&kinds), ["DH123"; 5]);
    assert_eq!(at, ["4:7", "6:37", "7:37", "12:7", "14:42"]);
    assert!(
        matches!(&kinds[0], ErrorKind::ForbiddenCharacter { character, position: 16, .. }
            if character == "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        "{kinds:?}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn docs_of_plain_text_keep_line_breaks_tabs_and_comment_markers() {
    // TOML escapes: a line feed, a Windows line end, a tab, quotes.
    let doc = r#"two\nlines\r\nwith\ta tab, */ /* and \"quotes\" {braces} `code` é 😀"#;
    let schema = Schema::parse(
        &format!(
            "format = 1\n[structs.S]\ndoc = \"{doc}\"\nfields = [{{ name = \"v\", type = \"u8\", doc = '''x */'''}}]\n"
        ),
        "schema.toml",
    )
    .unwrap_or_else(|e| panic!("{}", e.render(false)));
    let s = schema.struct_def("S").unwrap();
    assert_eq!(
        s.doc.as_deref(),
        Some("two\nlines\r\nwith\ta tab, */ /* and \"quotes\" {braces} `code` é 😀")
    );
}

#[test]
fn a_struct_mixing_atomics_and_plain_data_that_no_channel_uses_is_refused() {
    let (kinds, at, text) = refuse(
        r#"
[structs.Stats]
fields = [{ name = "count", type = "atomic_u64" }, { name = "last", type = "u64" }]
[structs.Outer]
fields = [{ name = "stats", type = "Stats" }]
"#,
    );
    // Reported once, at the struct that mixes; `Outer` is mixed only
    // because it holds `Stats`.
    assert_eq!(
        (codes(&kinds), at),
        (vec!["DH124"], vec!["3:10".to_owned()])
    );
    insta::assert_snapshot!(text);
    // Used by a channel, the channel's own rule says it (not twice).
    let (kinds, _, _) = refuse(
        r#"
[structs.Stats]
fields = [{ name = "count", type = "atomic_u64" }, { name = "last", type = "u64" }]
[channels.c]
slot = "Stats"
"#,
    );
    assert_eq!(codes(&kinds), ["DH117"]);
}
