//! The limits of docs/schema.md: those of rustc (type size, the canonical
//! form hashed at compile time, nesting), of the runtime (zone names,
//! segment size) and those that bound the checker and the generator on a
//! hostile file (file size, counts, names, docs). Each is accepted at the
//! limit and refused one step beyond it, with a located DH121 or DH107.

use std::time::{Duration, Instant};

use datahub_schema::{ErrorKind, Schema};

use crate::rules::refuse;

fn accept(body: &str) -> Schema {
    Schema::parse(&format!("format = 1\n{body}"), "schema.toml")
        .unwrap_or_else(|e| panic!("{}", e.render(false)))
}

fn codes(kinds: &[ErrorKind]) -> Vec<&'static str> {
    kinds.iter().map(ErrorKind::code).collect()
}

fn one_field(ty: &str) -> String {
    format!("[structs.S]\nfields = [{{ name = \"v\", type = \"{ty}\" }}]\n")
}

#[test]
fn types_of_rustcs_object_size_limit_or_more_are_refused() {
    // rustc on a 64-bit target: `[u8; (1 << 61) - 1]` compiles, `[u8; 1 << 61]`
    // is "too big for the target architecture".
    let largest = accept(&one_field("[u8; 2305843009213693951]"));
    assert_eq!(largest.struct_def("S").unwrap().layout.size, (1 << 61) - 1);
    let (kinds, at, text) = refuse(&one_field("[u8; 2305843009213693952]"));
    assert_eq!(codes(&kinds), ["DH121"]);
    assert_eq!(at, ["3:32"]);
    assert!(
        text.contains("the limit is 2305843009213693951 bytes"),
        "{text}"
    );
    let (kinds, _, _) = refuse(&one_field("[[u64; 4]; 72057594037927936]"));
    assert_eq!(codes(&kinds), ["DH121"]);
    // Fields that fit, whose struct does not once rounded up to its alignment.
    let (kinds, at, text) = refuse(
        "[structs.S]\nfields = [{ name = \"a\", type = \"u16\" }, { name = \"b\", type = \"[u8; 2305843009213693949]\" }]\n",
    );
    assert_eq!(
        (codes(&kinds), at),
        (vec!["DH121"], vec!["2:10".to_owned()])
    );
    assert!(text.contains("struct `S` is too large"), "{text}");
}

#[test]
fn structs_of_more_than_1024_fields_are_refused_at_the_1025th() {
    let fields = |n: usize| {
        let list: Vec<String> = (0..n)
            .map(|i| format!("{{ name = \"f{i}\", type = \"u8\" }}"))
            .collect();
        format!("[structs.S]\nfields = [\n{}\n]\n", list.join(",\n"))
    };
    assert_eq!(accept(&fields(1024)).structs()[0].fields.len(), 1024);
    let (kinds, at, text) = refuse(&fields(1025));
    assert_eq!(codes(&kinds), ["DH121"]);
    assert_eq!(at, ["1028:1"]);
    assert!(
        text.contains(
            "the number of fields of struct `S` is too large: 1025 fields, the limit is 1024 fields"
        ),
        "{text}"
    );
    assert!(text.contains("the 1025th is here"), "{text}");
}

#[test]
fn files_of_more_than_1024_structs_or_channels_are_refused() {
    let structs: String = (0..1025)
        .map(|i| format!("[structs.S{i}]\nfields = [{{ name = \"v\", type = \"u8\" }}]\n"))
        .collect();
    let (kinds, at, _) = refuse(&structs);
    assert_eq!(
        (codes(&kinds), at),
        (vec!["DH121"], vec!["2050:10".to_owned()])
    );
    let channels: String = (0..1025)
        .map(|i| format!("[channels.c{i}]\nslot = \"bytes\"\nslot_size = 8\n"))
        .collect();
    let (kinds, at, text) = refuse(&channels);
    assert_eq!(
        (codes(&kinds), at),
        (vec!["DH121"], vec!["3074:11".to_owned()])
    );
    assert!(
        text.contains("1025 channels, the limit is 1024 channels"),
        "{text}"
    );
    let allowed: String = channels
        .lines()
        .take(3 * 1024)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(accept(&allowed).channels().len(), 1024);
}

#[test]
fn nesting_deeper_than_64_levels_of_structs_and_arrays_is_refused() {
    // A chain of structs: S0 is one level, S63 sixty-four.
    let chain = |n: usize| {
        let mut body = String::from("[structs.S0]\nfields = [{ name = \"v\", type = \"u8\" }]\n");
        for i in 1..n {
            body.push_str(&format!(
                "[structs.S{i}]\nfields = [{{ name = \"v\", type = \"S{}\" }}]\n",
                i - 1
            ));
        }
        body
    };
    assert_eq!(accept(&chain(64)).structs().len(), 64);
    let (kinds, at, text) = refuse(&chain(65));
    assert_eq!(
        (codes(&kinds), at),
        (vec!["DH121"], vec!["131:32".to_owned()])
    );
    assert!(
        text.contains("65 levels of structs and arrays through field `v`, the limit is 64"),
        "{text}"
    );
    // Arrays count as levels too: each A_i is `[A_{i-1}; 1]` in a struct, two levels.
    let arrays = |n: usize| {
        let mut body = String::from("[structs.A0]\nfields = [{ name = \"v\", type = \"u8\" }]\n");
        for i in 1..n {
            body.push_str(&format!(
                "[structs.A{i}]\nfields = [{{ name = \"v\", type = \"[A{}; 1]\" }}]\n",
                i - 1
            ));
        }
        body
    };
    accept(&arrays(32)); // A31: 1 + 2 * 31 = 63 levels
    let (kinds, _, _) = refuse(&arrays(33)); // A32: 65
    assert_eq!(codes(&kinds), ["DH121"]);
    // A struct of 32 nested arrays (33 levels), in 32 nested arrays of
    // another: 1 + 32 + 33 = 66 levels.
    let nested = |element: &str| format!("{}{element}{}", "[".repeat(32), "; 2]".repeat(32));
    let (kinds, at, _) = refuse(&format!(
        "[structs.B]\nfields = [{{ name = \"v\", type = \"{}\" }}]\n[structs.C]\nfields = [{{ name = \"v\", type = \"{}\" }}]\n",
        nested("u8"),
        nested("B")
    ));
    assert_eq!(
        (codes(&kinds), at),
        (vec!["DH121"], vec!["5:32".to_owned()])
    );
}

#[test]
fn canonical_forms_longer_than_rustc_hashes_at_compile_time_are_refused() {
    // Field names of 100 bytes: `NAME:u8@N,` is about 105 bytes a field.
    let fields = |n: usize| {
        let list: Vec<String> = (0..n)
            .map(|i| format!("{{ name = \"f{i:0>99}\", type = \"u8\" }}"))
            .collect();
        format!("[structs.S]\nfields = [\n{}\n]\n", list.join(",\n"))
    };
    let fits = accept(&fields(300));
    let len = fits.structs()[0].canonical().len();
    assert!((30_000..=32_768).contains(&len), "{len}");
    // Under the old limit of 1 MiB, and far beyond what rustc hashes in a
    // `const` (about 62 KB): refused at the struct's name.
    let (kinds, at, text) = refuse(&fields(700));
    assert_eq!(
        (codes(&kinds), at),
        (vec!["DH121"], vec!["2:10".to_owned()])
    );
    assert!(
        text.contains("the canonical form of struct `S` is too large: more than 32768 bytes"),
        "{text}"
    );
}

#[test]
fn docs_longer_than_4096_bytes_are_refused() {
    let doc = |n: usize| {
        format!(
            "[structs.S]\ndoc = \"{}\"\nfields = [{{ name = \"v\", type = \"u8\" }}]\n",
            "d".repeat(n)
        )
    };
    accept(&doc(4096));
    let (kinds, at, text) = refuse(&doc(4097));
    assert_eq!((codes(&kinds), at), (vec!["DH121"], vec!["3:7".to_owned()]));
    assert!(
        text.contains("`doc` is too large: 4097 bytes, the limit is 4096 bytes"),
        "{text}"
    );
}

#[test]
fn names_longer_than_the_runtime_or_the_generator_takes_are_refused() {
    let zone = |name: &str| {
        format!(
            "[structs.T]\nfields = [{{ name = \"n\", type = \"atomic_u64\" }}]\n[channels.c]\nslot = \"bytes\"\nslot_size = 8\nzones = [{{ name = \"{name}\", type = \"T\" }}]\n"
        )
    };
    // The runtime's zone table holds 31 bytes a name (it refused a longer
    // one at create, so a schema that named one could never be used).
    accept(&zone(&"z".repeat(31)));
    let (kinds, at, text) = refuse(&zone(&"z".repeat(32)));
    assert_eq!(
        (codes(&kinds), at),
        (vec!["DH107"], vec!["7:19".to_owned()])
    );
    assert!(text.contains("is not at most 31 bytes long"), "{text}");
    // Struct and field names: 128 bytes.
    let long = "n".repeat(129);
    let (kinds, _, _) = refuse(&format!(
        "[structs.{long}]\nfields = [{{ name = \"{long}\", type = \"u8\" }}]\n"
    ));
    assert_eq!(codes(&kinds), ["DH107", "DH107"]);
    let ok = "n".repeat(128);
    accept(&format!(
        "[structs.{ok}]\nfields = [{{ name = \"{ok}\", type = \"u8\" }}]\n"
    ));
}

#[test]
fn channels_whose_segment_would_exceed_1_tib_are_refused() {
    let channel = |capacity: u64, slot_size: u64| {
        format!("[channels.c]\nslot = \"bytes\"\nslot_size = {slot_size}\ncapacity = {capacity}\n")
    };
    // 1 TiB of slots and the header, tables and strings before them.
    let (kinds, at, text) = refuse(&channel(1 << 20, 1 << 20));
    assert_eq!(
        (codes(&kinds), at),
        (vec!["DH121"], vec!["5:12".to_owned()])
    );
    assert!(
        text.contains("the shared-memory segment of channel `c` is too large"),
        "{text}"
    );
    // A slot of rustc's largest size fits no segment at all.
    let (kinds, _, _) = refuse(&channel(1, (1 << 61) - 1));
    assert_eq!(codes(&kinds), ["DH121"]);
    // Just under: 1 TiB less what precedes the slots (the runtime's plan
    // for 2^20 slots: header, strings, slot states, consumers, page aligned).
    let fits = accept(&channel(1 << 19, (1 << 21) - 64 * 8));
    let size = fits.channel("c").unwrap().segment_size();
    assert!(size <= 1 << 40 && size > (1 << 40) - (1 << 30), "{size}");
}

#[test]
fn a_ring_of_0_to_2_pow_20_slots_is_accepted_and_one_more_refused() {
    let channel = |capacity: u64| {
        format!("[channels.c]\nslot = \"bytes\"\nslot_size = 8\ncapacity = {capacity}\n")
    };
    // 0: no ring, a zones-only channel; its segment holds no slots.
    let zones_only = accept(&channel(0));
    let none = zones_only.channel("c").unwrap();
    assert_eq!(none.capacity, 0);
    assert!(none.segment_size() < accept(&channel(1)).channel("c").unwrap().segment_size());
    accept(&channel(1 << 20));
    let (kinds, _, text) = refuse(&channel((1 << 20) + 1));
    assert_eq!(codes(&kinds), ["DH106"]);
    assert!(text.contains("(0: no ring, zones only)"), "{text}");
}

#[test]
fn files_larger_than_8_mib_are_refused_without_being_read_whole() {
    let dir = std::env::temp_dir().join(format!("datahub-schema-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.toml");
    // A valid schema, padded with a comment past the limit.
    let mut text = String::from("format = 1\n#");
    text.push_str(&" ".repeat((8 << 20) - text.len()));
    assert_eq!(text.len(), 8 << 20);
    Schema::parse(&text, "big.toml").unwrap();
    text.push(' ');
    std::fs::write(&path, &text).unwrap();
    let err = Schema::load(&path).unwrap_err();
    assert_eq!(err.code(), "DH121");
    assert!(
        err.to_string()
            .contains("the schema file is too large: more than 8388608 bytes"),
        "{err}"
    );
    assert_eq!(
        Schema::parse(&text, "big.toml").unwrap_err().code(),
        "DH121"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    // An endless file is read only up to the limit.
    if std::path::Path::new("/dev/zero").exists() {
        assert_eq!(Schema::load("/dev/zero").unwrap_err().code(), "DH121");
    }
}

#[test]
fn a_file_full_of_unknown_types_is_checked_in_bounded_time() {
    // 1,000 struct names of 128 bytes that differ at the end, and 20 structs
    // of 1,000 fields naming 20,000 distinct unknown types just as long:
    // each suggestion compares a name with every struct's (quadratic in the
    // name length), which the checker does for a bounded number of names;
    // and each problem is located and shown without reading the whole file
    // again (which took minutes here before).
    let stem = "t".repeat(120);
    let mut body = String::new();
    for i in 0..1000 {
        body.push_str(&format!(
            "[structs.{stem}{i:08}]\nfields = [{{ name = \"v\", type = \"u8\" }}]\n"
        ));
    }
    for s in 0..20 {
        let fields: Vec<String> = (0..1000)
            .map(|f| format!("{{ name = \"f{f}\", type = \"{stem}x{s:03}{f:04}\" }}"))
            .collect();
        body.push_str(&format!(
            "[structs.U{s}]\nfields = [{}]\n",
            fields.join(", ")
        ));
    }
    let start = Instant::now();
    let (kinds, _, text) = refuse(&body);
    let took = start.elapsed();
    assert_eq!(kinds.len(), 20_000);
    assert!(
        kinds
            .iter()
            .all(|k| matches!(k, ErrorKind::UnknownType { .. })),
        "{kinds:?}"
    );
    // The expected names are listed up to 16, not all 1,000 in each error.
    assert!(text.contains("and 1004 more"), "{}", &text[..2000]);
    assert!(
        took < Duration::from_secs(30),
        "checking took {took:?}: suggestions must stay bounded"
    );
}
