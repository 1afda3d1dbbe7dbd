//! Produces on the `sensor` channel of `schemas/sensor.toml` through the
//! generated handles: 1000 frames per second for the given seconds (default
//! 10), with the telemetry zone kept current. Run `sensor-consumer` beside it.
//! With `DATAHUB_BROKER` set (a `datahub broker` endpoint), it also
//! registers the channel there, for `sensor-consumer` to discover.
//!
//! ```text
//! cargo run --release -p datahub-examples --bin sensor-producer -- 30
//! ```

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use datahub_examples::say;
use datahub_examples::sensor::{Calib, sensor};

fn main() -> std::process::ExitCode {
    datahub_examples::output::exit_code(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let mut producer = sensor::create()?;
    // Kept alive with the producer: dropping the producer withdraws the
    // registration through it.
    let _hub = match std::env::var("DATAHUB_BROKER") {
        Ok(endpoint) => {
            let hub = datahub_broker::MessageHub::connect(&endpoint)?;
            producer.register(&hub)?;
            say!("sensor-producer: registered with the broker at {endpoint}")?;
            Some(hub)
        }
        Err(_) => None,
    };
    say!(
        "sensor-producer: channel `{}`, channel hash {}",
        sensor::NAME,
        sensor::CHANNEL_HASH
    )?;
    let mut calib = Calib {
        gain: [1.0; 8],
        offset: [0.0; 8],
        label: [0; 64],
    };
    calib.label[..7].copy_from_slice(b"sensor0");
    producer
        .calibration()
        .write(Duration::from_secs(1), calib)?;
    let started = Instant::now();
    let period = Duration::from_millis(1);
    let mut seq = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        // A lossless channel: waits (up to 1 s) for the slowest consumer.
        producer.write_with(Duration::from_secs(1), |f| {
            f.timestamp_ns = started.elapsed().as_nanos() as u64;
            f.seq = seq as u32;
            for (i, s) in f.samples.iter_mut().enumerate() {
                *s = (seq as f32 * 0.01 + i as f32 * 0.1).sin();
            }
        })?;
        seq += 1;
        let telemetry = producer.telemetry();
        telemetry.frame_count.store(seq, Ordering::Relaxed);
        telemetry.fps.store(
            seq as f32 / started.elapsed().as_secs_f32(),
            Ordering::Relaxed,
        );
        if seq.is_multiple_of(1000) {
            say!(
                "sensor-producer: {seq} frames, {} consumers",
                producer.consumer_count()
            )?;
        }
        let next = started + period * seq as u32;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    say!("sensor-producer: done, {seq} frames; closing the channel")?;
    Ok(())
}
