//! The reference vectors of `shared/vectors/`, computed by an independent
//! implementation of `docs/schema.md`, "Canonical form and hashes", reproduced exactly.

use datahub_schema::{ErrorKind, Schema};
use serde_json::Value;

use crate::vectors_dir;

fn expected() -> serde_json::Map<String, Value> {
    let path = vectors_dir().join("expected.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_vector_file_is_covered() {
    let mut files: Vec<String> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = expected().keys().cloned().collect();
    listed.sort();
    assert_eq!(files, listed, "expected.json and the .toml files disagree");
}

#[test]
fn structs_and_channels_reproduce_the_reference_vectors_exactly() {
    let mut checked = 0;
    for (file, want) in expected() {
        if want.get("error").is_some() {
            continue;
        }
        let schema = Schema::load(vectors_dir().join(&file))
            .unwrap_or_else(|e| panic!("{file} should be valid:\n{}", e.render(false)));
        let want_structs = want["structs"].as_object().unwrap();
        assert_eq!(
            schema.structs().len(),
            want_structs.len(),
            "{file}: struct count"
        );
        for (name, w) in want_structs {
            let s = schema
                .struct_def(name)
                .unwrap_or_else(|| panic!("{file}: no struct {name}"));
            assert_eq!(
                s.layout.size,
                w["size"].as_u64().unwrap(),
                "{file} {name} size"
            );
            assert_eq!(
                s.layout.align,
                w["align"].as_u64().unwrap(),
                "{file} {name} align"
            );
            assert_eq!(
                s.canonical(),
                w["canon"].as_str().unwrap(),
                "{file} {name} canon"
            );
            assert_eq!(
                s.type_hash().to_string(),
                w["hash"].as_str().unwrap(),
                "{file} {name} hash"
            );
            checked += 1;
        }
        let want_channels = want["channels"].as_object().unwrap();
        assert_eq!(
            schema.channels().len(),
            want_channels.len(),
            "{file}: channel count"
        );
        for (name, w) in want_channels {
            let c = schema
                .channel(name)
                .unwrap_or_else(|| panic!("{file}: no channel {name}"));
            assert_eq!(
                c.canonical(),
                w["canon"].as_str().unwrap(),
                "{file} {name} canon"
            );
            assert_eq!(
                c.hash().to_string(),
                w["hash"].as_str().unwrap(),
                "{file} {name} hash"
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        7 + 3,
        "every struct and channel of the vectors was compared"
    );
}

#[test]
fn the_padding_vector_is_refused_as_implicit_padding() {
    for (file, want) in expected() {
        let Some(kind) = want.get("error").and_then(Value::as_str) else {
            continue;
        };
        let err = Schema::load(vectors_dir().join(&file)).expect_err(&file);
        let d = err.diagnostics().unwrap();
        assert_eq!(
            kind, "implicit padding",
            "a new kind of error vector: extend this test"
        );
        assert!(
            d.items()
                .iter()
                .any(|d| matches!(d.kind, ErrorKind::ImplicitPadding { .. })),
            "{file}: {err}"
        );
    }
}

#[test]
fn ring_parameters_are_read_as_written_with_documented_defaults() {
    use datahub_schema::{ChecksumPolicy, Overflow, Policy, SlotType};
    let sensor = Schema::load(vectors_dir().join("sensor.toml")).unwrap();
    let c = sensor.channel("sensor").unwrap();
    assert_eq!(
        (c.policy, c.capacity, c.overflow),
        (Policy::Ring, 8, Overflow::Block)
    );
    assert_eq!((c.checksum, c.max_consumers), (ChecksumPolicy::Enforced, 8));
    assert_eq!(c.zones.len(), 2);
    assert!(!c.zones[0].locked && c.zones[1].locked);
    assert_eq!(c.doc.as_deref(), Some("Acquisition stream"));

    let bytes = Schema::load(vectors_dir().join("bytes.toml")).unwrap();
    let c = bytes.channel("raw-camera").unwrap();
    assert_eq!(c.slot, SlotType::Bytes { size: 4_194_304 });
    assert_eq!((c.policy, c.capacity), (Policy::Double, 2));
    assert_eq!(
        (c.overflow, c.checksum, c.max_consumers),
        (Overflow::Block, ChecksumPolicy::Manual, 8)
    );
}
