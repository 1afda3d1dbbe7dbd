//! The DataHub demo, on code generated from `schemas/sensor.toml`: a
//! producer streams 4 KiB `SensorFrame`s through shared memory to consumer
//! processes, with the schema check, live figures, and the channel's
//! telemetry and calibration zones; it ends by itself.
//!
//! ```text
//! cargo run --release -p datahub-examples --bin demo              # 3 s, 2 consumers
//! cargo run --release -p datahub-examples --bin demo -- 10 4      # 10 s, 4 consumers
//! ```
//!
//! The consumers are this same program, re-run as child processes: each
//! attaches by channel name (the channel hash of the schema is checked),
//! reads every frame in order in place, verifies its BLAKE2b checksum (the
//! schema says `checksum = "enforced"`) and that it is whole, and at the end
//! compares its count with the producer's telemetry.

use std::io::Write;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use datahub::{AttachOptions, ErrorKind};
use datahub_examples::say;
use datahub_examples::sensor::{Calib, SensorFrame, sensor};

const REPORT_EVERY: Duration = Duration::from_millis(500);
/// `Telemetry::state`: streaming, then done.
const STREAMING: u32 = 1;
const DONE: u32 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("consume") if args.len() == 4 => consume(&args[2], &args[3]),
        _ => {
            let seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
            let consumers = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
            produce(Duration::from_secs_f64(seconds), consumers)
        }
    };
    datahub_examples::output::exit_code(result)
}

/// The samples of frame `seq`: derived from it, so a torn frame shows.
fn sample(seq: u64, i: usize) -> f32 {
    (seq.wrapping_mul(31).wrapping_add(i as u64) % 1_000_003) as f32
}

fn produce(duration: Duration, consumers: usize) -> Result<(), Box<dyn std::error::Error>> {
    // The schema's channel, under a name of this run's own.
    let channel = format!("demo-{}", std::process::id());
    let config = sensor::config_named(&channel).max_consumers(consumers.max(8) as u32);
    let mut producer = sensor::create_with(&config)?;
    say!(
        "producer: channel `{channel}` from schemas/sensor.toml: slot SensorFrame ({} bytes), channel hash {}",
        size_of::<SensorFrame>(),
        sensor::CHANNEL_HASH
    )?;
    let mut label = [0u8; 64];
    label[..13].copy_from_slice(b"demo-detector");
    producer.calibration().write(
        Duration::from_secs(1),
        Calib {
            gain: [1.5; 8],
            offset: [0.25; 8],
            label,
        },
    )?;
    let exe = std::env::current_exe()?;
    let mut children: Vec<Child> = (0..consumers)
        .map(|i| {
            Command::new(&exe)
                .args(["consume", &channel, &i.to_string()])
                .stdout(Stdio::inherit())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let waiting = Instant::now();
    while producer.consumer_count() < consumers {
        if waiting.elapsed() > Duration::from_secs(10) {
            let attached = producer.consumer_count();
            cleanup(&mut children);
            return Err(format!("only {attached} of {consumers} consumers attached").into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    say!(
        "producer: {consumers} consumers attached; streaming for {duration:?} (lossless ring, enforced checksums, as the schema says)"
    )?;
    let telemetry = producer.telemetry();
    telemetry.state.store(STREAMING, Ordering::Relaxed);
    let started = Instant::now();
    let (mut sent, mut last_report, mut sent_at_report) = (0u64, Instant::now(), 0u64);
    while started.elapsed() < duration {
        producer.write_with(Duration::from_secs(5), |f| {
            f.timestamp_ns = started.elapsed().as_nanos() as u64;
            f.seq = sent as u32;
            for (i, s) in f.samples.iter_mut().enumerate() {
                *s = sample(sent, i);
            }
        })?;
        sent += 1;
        if last_report.elapsed() >= REPORT_EVERY {
            let rate = (sent - sent_at_report) as f64 / last_report.elapsed().as_secs_f64();
            let telemetry = producer.telemetry();
            telemetry.frame_count.store(sent, Ordering::Relaxed);
            telemetry.fps.store(rate as f32, Ordering::Relaxed);
            say!(
                "producer: {sent:>9} frames  {rate:>9.0} frames/s  {:>7.1} MB/s written in place",
                rate * size_of::<SensorFrame>() as f64 / 1e6
            )?;
            (last_report, sent_at_report) = (Instant::now(), sent);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let telemetry = producer.telemetry();
    // Release: pairs with the consumers' Acquire load once the channel is
    // closed: they compare their count with this.
    telemetry.frame_count.store(sent, Ordering::Release);
    telemetry.state.store(DONE, Ordering::Release);
    say!(
        "producer: done, {sent} frames in {elapsed:.2} s ({:.0} frames/s, {:.1} MB/s)",
        sent as f64 / elapsed,
        sent as f64 * size_of::<SensorFrame>() as f64 / elapsed / 1e6
    )?;
    // Closing the channel: consumers read what is left, then see it closed.
    drop(producer);
    let mut failed = 0;
    for child in &mut children {
        if !child.wait()?.success() {
            failed += 1;
        }
    }
    std::io::stdout().flush()?;
    if failed > 0 {
        return Err(format!("{failed} consumer(s) failed").into());
    }
    say!("demo: every consumer read all {sent} frames in order, checksums verified, none torn")?;
    Ok(())
}

fn cleanup(children: &mut [Child]) {
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn consume(channel: &str, id: &str) -> Result<(), Box<dyn std::error::Error>> {
    let consumer = sensor::attach_with(channel, &AttachOptions::default())?;
    let calib = consumer.calibration().read(Duration::from_secs(1))?;
    let label = String::from_utf8_lossy(&calib.label);
    say!(
        "consumer {id}: attached to `{channel}` (pid {}), channel hash checked; calibration `{}`, gain {}",
        std::process::id(),
        label.trim_end_matches('\0'),
        calib.gain[0]
    )?;
    let (mut expected, mut last_report, mut at_report) = (0u64, Instant::now(), 0u64);
    loop {
        let frame = match consumer.next(Duration::from_secs(10)) {
            Ok(frame) => frame,
            Err(e) if matches!(e.kind(), ErrorKind::Closed { .. }) => break,
            Err(e) => return Err(format!("consumer {id}: {e}").into()),
        };
        if frame.seq() != expected || frame.seq != expected as u32 {
            return Err(format!(
                "consumer {id}: expected frame {expected}, got {}",
                frame.seq()
            )
            .into());
        }
        if frame.samples[0] != sample(expected, 0) || frame.samples[1023] != sample(expected, 1023)
        {
            return Err(format!("consumer {id}: frame {expected} is torn").into());
        }
        drop(frame);
        expected += 1;
        if last_report.elapsed() >= REPORT_EVERY {
            let rate = (expected - at_report) as f64 / last_report.elapsed().as_secs_f64();
            say!(
                "consumer {id}: {expected:>9} frames  {rate:>9.0} frames/s  (producer reports {:.0} frames/s)",
                consumer.telemetry().fps.load(Ordering::Relaxed)
            )?;
            (last_report, at_report) = (Instant::now(), expected);
        }
    }
    // Acquire: pairs with the producer's Release store before it closed.
    let published = consumer.telemetry().frame_count.load(Ordering::Acquire);
    if expected != published {
        return Err(format!(
            "consumer {id}: read {expected} frames, the producer published {published}"
        )
        .into());
    }
    say!(
        "consumer {id}: done, {expected} frames in order, checksums verified, lost {}",
        consumer.lost()
    )?;
    Ok(())
}
