//! The example schemas in `schemas/` are valid, and those that mirror a
//! reference vector hash exactly as the vector says (comments and key order
//! are not part of a schema's identity).

use datahub_schema::Schema;

use crate::{repo_root, vectors_dir};

#[test]
fn every_example_schema_is_valid() {
    let mut count = 0;
    for entry in std::fs::read_dir(repo_root().join("schemas")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Schema::load(&path).unwrap_or_else(|e| panic!("{}", e.render(false)));
            count += 1;
        }
    }
    assert!(
        count >= 3,
        "schemas/ holds the sensor, tracker and camera examples"
    );
}

#[test]
fn example_schemas_hash_like_the_vectors_they_mirror() {
    for (example, vector, channel) in [
        ("sensor.toml", "sensor.toml", "sensor"),
        ("tracker.toml", "nested.toml", "tracker"),
        ("camera.toml", "bytes.toml", "raw-camera"),
    ] {
        let ours = Schema::load(repo_root().join("schemas").join(example)).unwrap();
        let reference = Schema::load(vectors_dir().join(vector)).unwrap();
        assert_eq!(
            ours.channel(channel).unwrap().hash(),
            reference.channel(channel).unwrap().hash(),
            "{example} vs {vector}"
        );
    }
}

#[test]
fn renaming_a_struct_keeps_its_hash_and_renaming_a_field_changes_it() {
    let base = "format = 1\n[structs.A]\nfields = [{ name = \"x\", type = \"u64\" }]\n";
    let hash = |src: &str, name: &str| {
        Schema::parse(src, "t.toml")
            .unwrap()
            .struct_def(name)
            .unwrap()
            .type_hash()
    };
    let a = hash(base, "A");
    assert_eq!(a, hash(&base.replace("structs.A", "structs.B"), "B"));
    assert_ne!(a, hash(&base.replace("\"x\"", "\"y\""), "A"));
    assert_ne!(a, hash(&base.replace("u64", "i64"), "A"));
}

#[test]
fn ring_parameters_are_not_part_of_the_channel_hash_but_zones_are() {
    let schema = |extra: &str| {
        let src = format!(
            "format = 1\n[structs.F]\nfields = [{{ name = \"v\", type = \"u64\" }}]\n[structs.T]\nfields = [{{ name = \"n\", type = \"atomic_u64\" }}]\n[channels.c]\nslot = \"F\"\n{extra}"
        );
        Schema::parse(&src, "t.toml")
            .unwrap()
            .channel("c")
            .unwrap()
            .hash()
    };
    let plain = schema("");
    assert_eq!(
        plain,
        schema(
            "capacity = 64\noverflow = \"overwrite\"\nchecksum = \"enforced\"\nmax_consumers = 2\n"
        )
    );
    let with_zone = schema("zones = [{ name = \"t\", type = \"T\" }]\n");
    assert_ne!(plain, with_zone);
    assert_ne!(
        with_zone,
        schema("zones = [{ name = \"u\", type = \"T\" }]\n")
    );
}
