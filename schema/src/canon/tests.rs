//! The parser reads back every form the schema crate writes, refuses
//! malformed ones without panicking, and the differ names what differs.

use proptest::prelude::*;

use super::*;
use crate::Schema;

/// Every struct of the workspace's schemas and of the reference vectors.
fn every_form() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut forms = Vec::new();
    for dir in [root.join("schemas"), root.join("../shared/vectors")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // A vector that is meant to fail is not a source of forms.
            if let Ok(schema) = Schema::parse(&text, &path.display().to_string()) {
                forms.extend(schema.structs().iter().map(|s| s.canonical().to_owned()));
            }
        }
    }
    assert!(forms.len() >= 8, "{forms:?}");
    forms
}

#[test]
fn every_form_the_schema_crate_writes_reads_back_to_itself() {
    for form in every_form() {
        let canon = Canon::parse(&form).unwrap_or_else(|| panic!("{form}"));
        assert_eq!(canon.to_string(), form);
        let Canon::Struct(s) = &canon else {
            panic!("{form}")
        };
        assert_eq!(canon.size(), s.size);
        for field in &s.fields {
            assert!(field.offset + field.ty.size() <= s.size, "{form}: {field}");
        }
    }
}

#[test]
fn nested_structs_and_arrays_are_trees() {
    let form = "{40/8:id:u64@0,pos:{16/8:x:f64@0,y:f64@8}@8,p:[[atomic_u32;2];2]@24}";
    let Some(Canon::Struct(s)) = Canon::parse(form) else {
        panic!()
    };
    assert_eq!((s.size, s.align, s.fields.len()), (40, 8, 3));
    let Canon::Struct(pos) = &s.fields[1].ty else {
        panic!()
    };
    assert_eq!(
        (pos.fields[1].name.as_str(), pos.fields[1].offset),
        ("y", 8)
    );
    assert_eq!(
        s.fields[2].ty,
        Canon::Array {
            elem: Box::new(Canon::Array {
                elem: Box::new(Canon::Primitive(Primitive::AtomicU32)),
                len: 2
            }),
            len: 2
        }
    );
    assert_eq!(s.fields[2].ty.size(), 16);
    assert_eq!(
        Canon::parse("[u8;4096]").map(|c| c.size()),
        Some(4096),
        "a bytes slot"
    );
}

#[test]
fn malformed_forms_give_none_never_a_panic() {
    for bad in [
        "",
        "{",
        "}",
        "{8/4}",
        "{8/4:a:f32}",
        "{8/4:a:f32@}",
        "{8/4:a:nope@0}",
        "{8/4:a:f32@0,}",
        "{8/4:a:f32@0}x",
        "[u8;]",
        "[u8;99999999999999999999999]",
        "[[[[u64;4294967296];4294967296];4294967296];4294967296]",
        "{8/4:é:f32@0}",
        "{8/4:a b:f32@0}",
    ] {
        assert_eq!(Canon::parse(bad), None, "{bad:?}");
    }
    let deep = "[".repeat(10_000) + "u8" + &";1]".repeat(10_000);
    assert_eq!(Canon::parse(&deep), None);
    let deep = "{1/1:a:".repeat(10_000);
    assert_eq!(Canon::parse(&deep), None);
}

#[test]
fn the_first_differing_field_is_named_with_both_sides() {
    let seg = "{4112/8:timestamp_ns:u64@0,seq:u32@8,_pad0:[u8;4]@12,samples:[f32;1024]@16}";
    let mine = "{2064/8:timestamp_ns:u64@0,seq:u32@8,_pad0:[u8;4]@12,samples:[f32;512]@16}";
    let diff = |a: &str, b: &str| first_difference(a, b).to_string();
    assert_eq!(
        diff(seg, mine),
        "field `samples`: the segment has `[f32;1024]@16`, you expect `[f32;512]@16`"
    );
    assert_eq!(
        diff("{8/8:a:u64@0}", "{16/8:a:u64@0,b:u64@8}"),
        "the segment lacks field `b:u64@8`"
    );
    assert_eq!(
        diff("{16/8:a:u64@0,b:u64@8}", "{8/8:a:u64@0}"),
        "the segment has an extra field `b:u64@8`"
    );
    assert_eq!(
        diff("{8/8:a:u64@0}", "{8/8:b:u64@0}"),
        "field 1: the segment has `a:u64@0`, you expect `b:u64@0`"
    );
    assert_eq!(
        diff("{16/8:a:u64@0}", "{8/8:a:u64@0}"),
        "size/alignment: the segment has 16/8, you expect 8/8"
    );
    assert_eq!(
        diff("[u8;16]", "[u8;32]"),
        "the segment has `[u8;16]`, you expect `[u8;32]`"
    );
    assert!(diff("{8/8:a:u64@0}", "{8/8:a:u64@0}").contains("its hash is damaged"));
    assert!(diff("{8/8:a:u64@0}", "garbage").starts_with("the segment has `{8/8"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Any text: a tree or `None`, and a tree prints as a form that
    /// reads back to the same tree.
    #[test]
    fn any_text_parses_totally(text in "[{}\\[\\];:/@,0-9a-z_]{0,60}") {
        if let Some(canon) = Canon::parse(&text) {
            prop_assert_eq!(Canon::parse(&canon.to_string()), Some(canon));
        }
        let _ = first_difference(&text, "{8/8:a:u64@0}").to_string();
    }
}
