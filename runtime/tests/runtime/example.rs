//! The program of the issue (`examples/hashes.rs`) compiles and prints a
//! `dh1:` hash and a canonical form.

#[allow(dead_code)]
#[path = "../../examples/hashes.rs"]
mod hashes;

#[test]
fn the_hashes_example_prints_a_dh1_hash_and_a_canonical_form() {
    let line = hashes::line();
    let (hash, canon) = line.split_once(' ').unwrap();
    let hash: datahub::SchemaHash = hash.parse().unwrap();
    assert_eq!(
        hash,
        datahub::SchemaHash::of_type_canon("{8/4:u:f32@0,v:f32@4}")
    );
    assert_eq!(canon, "{16/8:e:[atomic_f64;2]@0}");
}
