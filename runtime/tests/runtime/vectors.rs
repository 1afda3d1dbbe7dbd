//! Rust structs equivalent to every struct of `shared/vectors/*.toml`
//! reproduce the canonical strings and hashes of `expected.json`, computed by
//! an independent implementation of `docs/schema.md`, "Canonical form and hashes".

use core::sync::atomic::{AtomicI64, AtomicU16, AtomicU32, AtomicU64};

use datahub::{
    AtomicF32, AtomicF64, DataHubSlot, DataHubType, DataHubZone, SchemaHash, canonical_of,
};

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
pub(crate) struct SensorFrame {
    pub(crate) timestamp_ns: u64,
    pub(crate) seq: u32,
    pub(crate) _pad0: [u8; 4],
    pub(crate) samples: [f32; 1024],
}

#[derive(DataHubZone)]
#[repr(C)]
pub(crate) struct Telemetry {
    pub(crate) frame_count: AtomicU64,
    pub(crate) fps: AtomicF32,
    pub(crate) state: AtomicU32,
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
pub(crate) struct Calib {
    pub(crate) gain: [f64; 8],
    pub(crate) offset: [f64; 8],
    pub(crate) label: [u8; 64],
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
pub(crate) struct Vec3 {
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) z: f64,
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
pub(crate) struct Pose {
    pub(crate) position: Vec3,
    pub(crate) orientation: [f64; 4],
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
pub(crate) struct TrackedBody {
    pub(crate) id: u16,
    pub(crate) flags: u8,
    pub(crate) quality: i8,
    pub(crate) reserved: u32,
    pub(crate) pose: Pose,
    pub(crate) covariance: [[f32; 6]; 6],
}

#[derive(DataHubZone)]
#[repr(C)]
pub(crate) struct Counters {
    pub(crate) bodies_seen: AtomicU32,
    pub(crate) dropped: AtomicU32,
    pub(crate) last_ts: AtomicI64,
    pub(crate) rate_hz: AtomicF64,
    pub(crate) per_camera: [AtomicU16; 4],
}

/// What the derive path says about a struct: size, align, canonical form,
/// the const hash, and the hash of the canonical form by the `blake2` crate.
struct Derived {
    size: usize,
    align: usize,
    canon: String,
    const_hash: SchemaHash,
    runtime_hash: SchemaHash,
}

fn derived<T: DataHubType>() -> Derived {
    let canon = canonical_of::<T>();
    Derived {
        size: core::mem::size_of::<T>(),
        align: core::mem::align_of::<T>(),
        runtime_hash: SchemaHash::of_type_canon(&canon),
        canon,
        const_hash: T::SCHEMA_HASH,
    }
}

/// The Rust twin of a struct of the vectors, by its TOML name.
fn rust_struct(name: &str) -> Option<Derived> {
    Some(match name {
        "SensorFrame" => derived::<SensorFrame>(),
        "Telemetry" => derived::<Telemetry>(),
        "Calib" => derived::<Calib>(),
        "Vec3" => derived::<Vec3>(),
        "Pose" => derived::<Pose>(),
        "TrackedBody" => derived::<TrackedBody>(),
        "Counters" => derived::<Counters>(),
        _ => return None,
    })
}

/// The canonical type string of a channel's slot or zone type, by TOML name.
fn canon_of_name(name: &str) -> String {
    rust_struct(name)
        .map(|d| d.canon)
        .unwrap_or_else(|| panic!("no Rust twin for `{name}`"))
}

fn expected() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/expected.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_struct_of_the_vectors_has_the_expected_layout_canonical_form_and_hash_from_the_derive() {
    let mut checked = 0;
    for (file, entry) in expected().as_object().unwrap() {
        let Some(structs) = entry.get("structs").and_then(|s| s.as_object()) else {
            continue; // an error vector, e.g. padding_error.toml
        };
        for (name, want) in structs {
            let got = rust_struct(name)
                .unwrap_or_else(|| panic!("{file}: no Rust twin for struct `{name}`"));
            assert_eq!(
                got.size,
                want["size"].as_u64().unwrap() as usize,
                "{file} {name} size"
            );
            assert_eq!(
                got.align,
                want["align"].as_u64().unwrap() as usize,
                "{file} {name} align"
            );
            assert_eq!(
                got.canon,
                want["canon"].as_str().unwrap(),
                "{file} {name} canon"
            );
            let hash: SchemaHash = want["hash"].as_str().unwrap().parse().unwrap();
            assert_eq!(got.const_hash, hash, "{file} {name}: const SCHEMA_HASH");
            assert_eq!(
                got.runtime_hash, hash,
                "{file} {name}: blake2 of canonical_of"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 7, "every struct of sensor.toml and nested.toml");
}

#[test]
fn every_channel_of_the_vectors_is_reproduced_from_derived_types() {
    // Locked zones, per the TOML files (the JSON gives only the result).
    let locked = ["calibration"];
    let zones_of = |channel: &str| -> Vec<(&'static str, &'static str)> {
        match channel {
            "sensor" => vec![("telemetry", "Telemetry"), ("calibration", "Calib")],
            "tracker" => vec![("counters", "Counters")],
            _ => vec![],
        }
    };
    let slot_of = |channel: &str| -> String {
        match channel {
            "sensor" => canon_of_name("SensorFrame"),
            "tracker" => canon_of_name("TrackedBody"),
            "raw-camera" => canonical_of::<[u8; 4194304]>(),
            other => panic!("no Rust twin for channel `{other}`"),
        }
    };
    let mut checked = 0;
    for (file, entry) in expected().as_object().unwrap() {
        let Some(channels) = entry.get("channels").and_then(|c| c.as_object()) else {
            continue;
        };
        for (channel, want) in channels {
            let zones: Vec<String> = zones_of(channel)
                .into_iter()
                .map(|(zone, ty)| {
                    let lock = if locked.contains(&zone) {
                        "!locked"
                    } else {
                        ""
                    };
                    format!("{zone}={}{lock}", canon_of_name(ty))
                })
                .collect();
            let canon = format!(
                "datahub.channel.v1 slot={} zones={}",
                slot_of(channel),
                zones.join(",")
            );
            assert_eq!(canon, want["canon"].as_str().unwrap(), "{file} {channel}");
            let hash: SchemaHash = want["hash"].as_str().unwrap().parse().unwrap();
            assert_eq!(
                SchemaHash::of_channel_canon(&canon),
                hash,
                "{file} {channel}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 3);
}

#[test]
fn renaming_a_struct_keeps_its_hash_and_renaming_a_field_changes_it() {
    #[derive(Clone, Copy, DataHubSlot)]
    #[repr(C)]
    struct Point {
        x: f64,
        y: f64,
        z: f64,
    }
    #[derive(Clone, Copy, DataHubSlot)]
    #[repr(C)]
    struct Renamed {
        x: f64,
        y: f64,
        w: f64,
    }
    assert_eq!(Point::SCHEMA_HASH, Vec3::SCHEMA_HASH);
    assert_ne!(Renamed::SCHEMA_HASH, Vec3::SCHEMA_HASH);
    let _ = (
        Point {
            x: 0.0,
            y: 0.0,
            z: 0.0,
        },
        Renamed {
            x: 0.0,
            y: 0.0,
            w: 0.0,
        },
    );
}
