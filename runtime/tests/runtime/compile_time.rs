//! The derive's hash is a compile-time constant: these assertions are free
//! `const` items, evaluated by `cargo check`.

use datahub::{DataHubType, SchemaHash};

use super::vectors::{Counters, SensorFrame, TrackedBody};

const _: () = assert!(
    <SensorFrame as DataHubType>::SCHEMA_HASH.const_eq(&SchemaHash::from_bytes([
        0xf0, 0x16, 0x91, 0x00, 0xef, 0xc2, 0xf1, 0x5b, 0x66, 0xfc, 0xec, 0x20, 0xb9, 0x64, 0xc2,
        0xb3, 0x9c, 0x78, 0x39, 0x51, 0x1e, 0x57, 0xfe, 0xc6, 0x6d, 0xc1, 0xb7, 0x3b, 0x6f, 0x57,
        0xb1, 0x2f,
    ]))
);

datahub::assert_schema_hash!(
    TrackedBody,
    "dh1:6dfcfcaec0ddf4cdb598f3dcabb4e42d4e9a27e306426e6560dce49c3966673a"
);

datahub::assert_schema_hash!(
    Counters,
    "dh1:e880702e6a0211bf8b499235d2d2431d0168f75609b2bde8efc8ca786316e041"
);

/// Usable where only constants go, e.g. in an array length or a `match`.
const SENSOR_FIRST_BYTE: u8 = <SensorFrame as DataHubType>::SCHEMA_HASH.as_bytes()[0];

#[test]
fn const_hashes_are_usable_as_constants() {
    const { assert!(SENSOR_FIRST_BYTE == 0xf0) };
    let bytes = [0u8; SENSOR_FIRST_BYTE as usize];
    assert_eq!(bytes.len(), 240);
}
