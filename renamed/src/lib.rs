//! The derives and generated code in a crate that knows datahub only as
//! `dh` (`dh = { package = "datahub", .. }`) and has no prelude: every path
//! they emit must be the one given (`#[datahub(crate = "...")]`,
//! `Builder::crate_path("::dh")` in `build.rs`) or absolute (`::core::..`),
//! or this crate does not compile. The tests then run a channel of each,
//! so a path that compiles but names the wrong item fails too.

#![no_implicit_prelude]

/// Generated from `schemas/sensor.toml` with `crate_path("::dh")`: struct
/// slots, a lock-free zone with an `atomic_f32`, a locked zone.
pub mod sensor {
    ::core::include!(::core::concat!(::core::env!("OUT_DIR"), "/sensor.rs"));
}

/// Generated from `schemas/camera.toml` with `crate_path("::dh")`: a
/// `bytes` slot (compiled, not run: its slots are 4 MiB).
pub mod camera {
    ::core::include!(::core::concat!(::core::env!("OUT_DIR"), "/camera.rs"));
}

/// Structs that derive through the renamed crate.
pub mod derived {
    /// What a user's crate re-exporting datahub looks like.
    pub mod sdk {
        pub use ::dh as datahub;
    }

    /// A slot, deriving through `::dh`.
    #[derive(::core::clone::Clone, ::core::marker::Copy, ::dh::DataHubSlot)]
    #[datahub(crate = "::dh")]
    #[repr(C)]
    pub struct Pose {
        /// When.
        pub t_ns: u64,
        /// Where.
        pub xyz: [f32; 3],
        /// Explicit padding.
        pub _pad0: [u8; 4],
    }

    /// A lock-free zone, deriving through `::dh`.
    #[derive(::dh::DataHubZone)]
    #[datahub(crate = "::dh")]
    #[repr(C)]
    pub struct Counters {
        /// Poses written.
        pub poses: ::core::sync::atomic::AtomicU64,
        /// Poses per second.
        pub rate: ::dh::AtomicF64,
    }

    /// A locked zone, deriving through a path relative to this module.
    #[derive(::core::clone::Clone, ::core::marker::Copy, sdk::datahub::DataHubSlot)]
    #[datahub(crate = "sdk::datahub")]
    #[repr(C)]
    pub struct Origin {
        /// The frame's origin.
        pub xyz: [f64; 3],
    }
}

#[cfg(test)]
mod tests {
    // The tests themselves may use the prelude; the code under test above
    // may not.
    use ::std::prelude::rust_2024::*;
    use ::std::sync::atomic::Ordering;
    use ::std::time::Duration;
    use ::std::{assert_eq, format};

    use crate::derived::{Counters, Origin, Pose};
    use crate::{camera, sensor};

    const WAIT: Duration = Duration::from_secs(5);

    fn channel_name(tag: &str) -> String {
        let name = format!("crate-path-{tag}-{}", ::std::process::id());
        let _ = ::std::fs::remove_file(format!("/dev/shm/datahub.{name}"));
        name
    }

    #[test]
    fn a_channel_generated_with_crate_path_dh_carries_a_frame_and_its_zones() {
        let name = channel_name("sensor");
        let mut producer =
            sensor::sensor::create_with(&sensor::sensor::config_named(&name)).unwrap();
        let consumer = sensor::sensor::attach_with(&name, &::dh::AttachOptions::default()).unwrap();
        producer.telemetry().fps.store(29.5, Ordering::Relaxed);
        producer.calibration().lock(WAIT).unwrap().gain[7] = 2.5;
        producer
            .write_with(WAIT, |f| {
                f.seq = 7;
                f.samples[1023] = 0.25;
            })
            .unwrap();

        let frame = consumer.next(WAIT).unwrap();
        assert_eq!((frame.seq, frame.samples[1023]), (7, 0.25));
        assert_eq!(consumer.telemetry().fps.load(Ordering::Relaxed), 29.5);
        assert_eq!(consumer.calibration().read(WAIT).unwrap().gain[7], 2.5);
    }

    #[test]
    fn the_bytes_channel_generated_with_crate_path_dh_has_the_schemas_config() {
        let config = camera::raw_camera::config();
        assert_eq!(
            config.channel_hash::<camera::raw_camera::Slot>(),
            camera::raw_camera::CHANNEL_HASH
        );
    }

    #[test]
    fn structs_derived_through_a_renamed_crate_have_their_layout_and_travel_a_channel() {
        assert_eq!(
            ::dh::canonical_of::<Pose>(),
            "{24/8:t_ns:u64@0,xyz:[f32;3]@8,_pad0:[u8;4]@20}"
        );
        assert_eq!(
            ::dh::canonical_of::<Counters>(),
            "{16/8:poses:atomic_u64@0,rate:atomic_f64@8}"
        );
        assert_eq!(::dh::canonical_of::<Origin>(), "{24/8:xyz:[f64;3]@0}");

        let name = channel_name("derived");
        let config = ::dh::ChannelConfig::new(&name)
            .capacity(4)
            .zone::<Counters>("counters")
            .locked_zone::<Origin>("origin");
        let mut producer = ::dh::Producer::<Pose>::create(&config).unwrap();
        let consumer = ::dh::Consumer::<Pose>::attach(&name).unwrap();
        let counters = producer.zone::<Counters>("counters").unwrap();
        let origin = producer.locked_zone::<Origin>("origin").unwrap();
        origin.lock(WAIT).unwrap().xyz = [1.0, 2.0, 3.0];
        producer
            .write_with(WAIT, |p| {
                p.t_ns = 42;
                p.xyz = [0.5, 1.5, 2.5];
            })
            .unwrap();
        counters.poses.fetch_add(1, Ordering::Relaxed);
        counters.rate.store(100.0, Ordering::Relaxed);

        let pose = consumer.next(WAIT).unwrap();
        assert_eq!((pose.t_ns, pose.xyz), (42, [0.5, 1.5, 2.5]));
        let counters = consumer.zone::<Counters>("counters").unwrap();
        assert_eq!(counters.poses.load(Ordering::Relaxed), 1);
        assert_eq!(counters.rate.load(Ordering::Relaxed), 100.0);
        let origin = consumer.locked_zone::<Origin>("origin").unwrap();
        assert_eq!(origin.read(WAIT).unwrap().xyz, [1.0, 2.0, 3.0]);
    }
}
