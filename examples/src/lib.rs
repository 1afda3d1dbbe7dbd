//! Channels generated from `schemas/*.toml` by `build.rs` (with
//! `datahub_codegen::Builder`): each module holds the schema's structs, with
//! their layout proven equal to the schema's at compile time, and one module
//! per channel with typed `create()`/`attach()` handles.
//!
//! ```no_run
//! use std::time::Duration;
//! use datahub_examples::sensor::sensor;
//!
//! let mut producer = sensor::create()?;                  // schema's config and hashes
//! producer.write_with(Duration::from_millis(100), |f| f.seq = 1)?;
//! producer.telemetry().frame_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
//! # Ok::<(), datahub::Error>(())
//! ```

/// What the example programs print, and how they end: a reader that goes
/// away (`sensor-producer | head -1`) stops a program quietly, through its
/// normal return (so a producer closes its channel on the way out), where
/// `println!` would panic on the closed pipe.
pub mod output {
    use std::io::Write;
    use std::process::ExitCode;

    /// Standard output's reader has gone away.
    #[derive(Debug)]
    pub struct ClosedPipe;

    impl std::fmt::Display for ClosedPipe {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("standard output was closed by its reader")
        }
    }

    impl std::error::Error for ClosedPipe {}

    /// Writes `text` and a newline to standard output, flushed.
    pub fn line(text: std::fmt::Arguments<'_>) -> Result<(), ClosedPipe> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{text}")
            .and_then(|()| stdout.flush())
            .map_err(|_| ClosedPipe)
    }

    /// How a program's `run` ended, as its exit status: success, also
    /// when its reader went away; otherwise the error on stderr, failure.
    pub fn exit_code(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.is::<ClosedPipe>() => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

/// `println!` for the example programs: `Err(ClosedPipe)` when the reader
/// has gone away ([`output::line`]).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// `schemas/sensor.toml`: typed frames, a lock-free telemetry zone, a
/// locked calibration zone.
pub mod sensor {
    include!(concat!(env!("OUT_DIR"), "/sensor.rs"));
}

/// `schemas/tracker.toml`: nested structs, an overwrite ring.
pub mod tracker {
    include!(concat!(env!("OUT_DIR"), "/tracker.rs"));
}

/// `schemas/camera.toml`: raw byte frames.
pub mod camera {
    include!(concat!(env!("OUT_DIR"), "/camera.rs"));
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use datahub::{AttachOptions, ErrorKind};

    use super::{camera::raw_camera, sensor::sensor, tracker::tracker};

    const SECOND: Duration = Duration::from_secs(1);

    fn unique(tag: &str) -> String {
        format!("gen-{tag}-{}", std::process::id())
    }

    #[test]
    fn generated_handles_stream_frames_and_reach_every_zone() {
        let name = unique("sensor");
        let mut producer = sensor::create_with(&sensor::config_named(&name)).unwrap();
        assert_eq!(producer.channel_hash(), sensor::CHANNEL_HASH);
        let consumer = sensor::attach_with(&name, &AttachOptions::default()).unwrap();
        producer.write_with(SECOND, |f| f.seq = 7).unwrap();
        producer.telemetry().frame_count.store(1, Ordering::Relaxed);
        let mut calib = producer.calibration().read(SECOND).unwrap();
        calib.gain[0] = 2.5;
        producer.calibration().write(SECOND, calib).unwrap();
        assert_eq!(consumer.next(SECOND).unwrap().seq, 7);
        assert_eq!(consumer.telemetry().frame_count.load(Ordering::Relaxed), 1);
        assert_eq!(consumer.calibration().read(SECOND).unwrap().gain[0], 2.5);
    }

    /// A frame and the zones that describe it, side by side (issue 16):
    /// holding an item borrows the consumer shared, so its zones stay at
    /// hand; a second read while the item is held is refused, not a
    /// second read mark.
    #[test]
    fn zones_are_read_and_written_while_an_item_is_held() {
        let name = unique("held");
        let mut producer = sensor::create_with(&sensor::config_named(&name)).unwrap();
        let consumer = sensor::attach_with(&name, &AttachOptions::default()).unwrap();
        producer.write_with(SECOND, |f| f.seq = 1).unwrap();
        producer.write_with(SECOND, |f| f.seq = 2).unwrap();
        producer.telemetry().frame_count.store(2, Ordering::Relaxed);

        let frame = consumer.next(SECOND).unwrap();
        let frames = consumer.telemetry().frame_count.load(Ordering::Relaxed);
        consumer
            .telemetry()
            .frame_count
            .fetch_add(1, Ordering::Relaxed);
        let gain = consumer.calibration().read(SECOND).unwrap().gain[0];
        assert_eq!((frame.seq, frames, gain), (1, 2, 0.0));
        let again = consumer.next(SECOND).map(|f| f.seq).unwrap_err();
        assert!(
            matches!(again.kind(), ErrorKind::ItemHeld { held: Some(0), .. }),
            "{again}"
        );
        assert_eq!(again.code(), "DH225");
        assert!(consumer.try_next().is_err() && consumer.latest(SECOND).is_err());
        drop(frame);

        // Released: the next item, at once.
        assert_eq!(consumer.next(SECOND).unwrap().seq, 2);
        assert_eq!(producer.telemetry().frame_count.load(Ordering::Relaxed), 3);
        assert!(
            consumer.try_next().unwrap().is_none(),
            "nothing more, no error"
        );
    }

    #[test]
    fn a_generated_consumer_discovers_its_channel_and_the_broker_refuses_other_zones() {
        let pid = std::process::id();
        let broker =
            datahub_broker::Broker::spawn(&format!("ipc:///tmp/datahub-gen-{pid}.sock")).unwrap();
        let hub = datahub_broker::MessageHub::connect(broker.endpoint()).unwrap();
        let name = unique("discovered");
        let mut producer = sensor::create_with(&sensor::config_named(&name)).unwrap();
        producer.register(&hub).unwrap();
        producer.write_with(SECOND, |f| f.seq = 3).unwrap();
        let consumer = sensor::discover_with(&hub, &name, &AttachOptions::default()).unwrap();
        assert_eq!(consumer.next(SECOND).unwrap().seq, 3);
        // The same slot type without the zones: same slot hash, another
        // channel hash, refused at the broker.
        let bare = unique("bare-registered");
        let mut other = datahub::Producer::<super::sensor::SensorFrame>::create(
            &datahub::ChannelConfig::new(&bare),
        )
        .unwrap();
        other.register(&hub).unwrap();
        let err = sensor::discover_with(&hub, &bare, &AttachOptions::default())
            .err()
            .unwrap();
        assert!(
            matches!(err.kind(), ErrorKind::SchemaMismatch { part, .. } if part == "channel hash, at the broker"),
            "{err}"
        );
    }

    #[test]
    fn another_channel_under_the_name_is_refused_by_its_channel_hash() {
        let name = unique("other");
        let _tracker = tracker::create_with(&tracker::config_named(&name)).unwrap();
        let err = sensor::attach_with(&name, &AttachOptions::default())
            .err()
            .unwrap();
        assert!(
            matches!(err.kind(), ErrorKind::SchemaMismatch { .. }),
            "{err}"
        );
        // Same slot type, other zones: the channel hash tells them apart.
        let bare = unique("bare");
        let _p = datahub::Producer::<super::sensor::SensorFrame>::create(
            &datahub::ChannelConfig::new(&bare),
        )
        .unwrap();
        let err = sensor::attach_with(&bare, &AttachOptions::default())
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("channel (slot type and zones)")
                && err.to_string().contains("the segment has no zones"),
            "{err}"
        );
        // And a configuration that drops the zones is refused at create.
        let err = sensor::create_with(&datahub::ChannelConfig::new(unique("nozones")))
            .err()
            .unwrap();
        assert!(err.to_string().contains("keep the zones"), "{err}");
    }

    #[test]
    fn a_raw_bytes_channel_is_generated_with_its_slot_size_and_policy() {
        let name = unique("camera");
        let mut producer = raw_camera::create_with(&raw_camera::config_named(&name)).unwrap();
        assert_eq!(producer.slot_size(), 4 * 1024 * 1024);
        let consumer = raw_camera::attach_with(&name, &AttachOptions::default()).unwrap();
        let mut slot = producer.acquire(SECOND).unwrap();
        slot[..3].copy_from_slice(b"raw");
        slot.set_len(3);
        slot.update_checksum();
        slot.commit();
        let frame = consumer.next(SECOND).unwrap();
        assert_eq!(&*frame, b"raw");
        assert!(
            frame.verify_checksum(),
            "manual checksums, as the schema says"
        );
    }
}
