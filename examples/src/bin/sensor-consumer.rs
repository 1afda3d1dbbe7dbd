//! Consumes the `sensor` channel of `schemas/sensor.toml` through the
//! generated handles (the channel hash is checked at attach), printing
//! each second's frames and the producer's telemetry, until the producer
//! closes the channel. With `DATAHUB_BROKER` set, it discovers the
//! channel through that broker first (which checks the channel hash too).
//!
//! ```text
//! cargo run --release -p datahub-examples --bin sensor-consumer
//! ```

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use datahub::ErrorKind;
use datahub_examples::say;
use datahub_examples::sensor::sensor;

fn main() -> std::process::ExitCode {
    datahub_examples::output::exit_code(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let consumer = match std::env::var("DATAHUB_BROKER") {
        Ok(endpoint) => sensor::discover(&datahub_broker::MessageHub::connect(&endpoint)?)?,
        Err(_) => sensor::attach()?,
    };
    let calib = consumer.calibration().read(Duration::from_secs(1))?;
    say!(
        "sensor-consumer: attached to `{}` (channel hash checked); calibration `{}`",
        sensor::NAME,
        String::from_utf8_lossy(&calib.label).trim_end_matches('\0')
    )?;
    let (mut frames, mut since) = (0u64, Instant::now());
    loop {
        // Copy out what is shown: the frame borrows the consumer, and is
        // released (its slot freed for the producer) at the end of the arm.
        let (seq, at, first) = match consumer.next(Duration::from_secs(5)) {
            Ok(frame) => (frame.seq(), frame.timestamp_ns, frame.samples[0]),
            Err(e) if matches!(e.kind(), ErrorKind::Closed { .. }) => break,
            Err(e) => return Err(e.into()),
        };
        frames += 1;
        if since.elapsed() >= Duration::from_secs(1) {
            let telemetry = consumer.telemetry();
            say!(
                "sensor-consumer: frame {seq} at {:.3} s, samples[0] = {first:+.3}; producer: {} frames, {:.0} fps",
                at as f64 / 1e9,
                telemetry.frame_count.load(Ordering::Relaxed),
                telemetry.fps.load(Ordering::Relaxed),
            )?;
            since = Instant::now();
        }
    }
    say!(
        "sensor-consumer: the producer closed the channel; {frames} frames read, {} lost",
        consumer.lost()
    )?;
    Ok(())
}
