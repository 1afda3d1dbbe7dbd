//! The DataHub demo: a producer streams typed 4 KiB frames through shared
//! memory to consumer processes, with the schema check and live figures,
//! and ends by itself.
//!
//! ```text
//! cargo run --release -p datahub --example demo              # 3 s, 2 consumers
//! cargo run --release -p datahub --example demo -- 10 4      # 10 s, 4 consumers
//! ```
//!
//! The consumers are this same program, re-run as child processes: each
//! attaches by channel name (the slot type's schema hash is checked), reads
//! every frame in order in place, checks it is whole, and reports its rate.

use std::io::Write;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use datahub::{ChannelConfig, Consumer, DataHubSlot, DataHubType, Error, Producer};

/// One acquisition frame: 4096 bytes.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Frame {
    seq: u64,
    /// 1 on the last frame of the stream.
    last: u64,
    samples: [f32; 1020],
}

const REPORT_EVERY: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("consume") => consume(&args[2], &args[3]),
        _ => {
            let seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
            let consumers = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
            produce(Duration::from_secs_f64(seconds), consumers)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn produce(duration: Duration, consumers: usize) -> Result<(), Box<dyn std::error::Error>> {
    let channel = format!("demo-{}", std::process::id());
    let config = ChannelConfig::new(&channel)
        .capacity(64)
        .max_consumers(consumers.max(1) as u32);
    let mut producer = Producer::<Frame>::create(&config)?;
    println!(
        "producer: channel `{channel}`, slot Frame ({} bytes), schema {}",
        size_of::<Frame>(),
        <Frame as DataHubType>::SCHEMA_HASH
    );
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
            cleanup(&channel, &mut children);
            return Err(format!(
                "only {} of {consumers} consumers attached",
                producer.consumer_count()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "producer: {consumers} consumers attached; streaming for {duration:?} (lossless, 64 slots)"
    );

    let started = Instant::now();
    let (mut sent, mut last_report, mut sent_at_report) = (0u64, Instant::now(), 0u64);
    while started.elapsed() < duration {
        producer.write_with(Duration::from_secs(5), |f| {
            f.seq = sent;
            f.last = 0;
            f.samples[0] = sent as f32;
            f.samples[1019] = -(sent as f32);
        })?;
        sent += 1;
        if last_report.elapsed() >= REPORT_EVERY {
            let rate = (sent - sent_at_report) as f64 / last_report.elapsed().as_secs_f64();
            println!(
                "producer: {sent:>9} frames  {:>9.0} frames/s  {:>7.1} MB/s of frames published in place",
                rate,
                rate * size_of::<Frame>() as f64 / 1e6
            );
            (last_report, sent_at_report) = (Instant::now(), sent);
        }
    }
    producer.write_with(Duration::from_secs(5), |f| {
        f.seq = sent;
        f.last = 1;
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "producer: done, {sent} frames in {elapsed:.2} s ({:.0} frames/s, {:.1} MB/s)",
        sent as f64 / elapsed,
        sent as f64 * size_of::<Frame>() as f64 / elapsed / 1e6
    );
    let mut failed = 0;
    for child in &mut children {
        if !child.wait()?.success() {
            failed += 1;
        }
    }
    let _ = std::fs::remove_file(format!("/dev/shm/datahub.{channel}"));
    std::io::stdout().flush()?;
    if failed > 0 {
        return Err(format!("{failed} consumer(s) failed").into());
    }
    println!(
        "demo: every consumer read all {} frames in order, none torn",
        sent + 1
    );
    Ok(())
}

fn cleanup(channel: &str, children: &mut [Child]) {
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_file(format!("/dev/shm/datahub.{channel}"));
}

fn consume(channel: &str, id: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut consumer = Consumer::<Frame>::attach(channel)?;
    println!(
        "consumer {id}: attached to `{channel}` (pid {}), schema {} checked",
        std::process::id(),
        <Frame as DataHubType>::SCHEMA_HASH
    );
    let (mut expected, mut last_report, mut at_report) = (0u64, Instant::now(), 0u64);
    loop {
        let frame = match consumer.next(Duration::from_secs(10)) {
            Ok(frame) => frame,
            Err(e @ Error::Timeout { .. }) => return Err(format!("consumer {id}: {e}").into()),
            Err(e) => return Err(e.into()),
        };
        if frame.seq != expected || frame.seq() != expected {
            return Err(format!(
                "consumer {id}: expected frame {expected}, got {}",
                frame.seq
            )
            .into());
        }
        if frame.last == 1 {
            break;
        }
        if frame.samples[0] != expected as f32 || frame.samples[1019] != -(expected as f32) {
            return Err(format!("consumer {id}: frame {expected} is torn").into());
        }
        drop(frame);
        expected += 1;
        if last_report.elapsed() >= REPORT_EVERY {
            let rate = (expected - at_report) as f64 / last_report.elapsed().as_secs_f64();
            println!(
                "consumer {id}: {expected:>9} frames  {rate:>9.0} frames/s  lost {}",
                consumer.lost()
            );
            (last_report, at_report) = (Instant::now(), expected);
        }
    }
    println!(
        "consumer {id}: done, {} frames in order, lost {}",
        expected + 1,
        consumer.lost()
    );
    Ok(())
}
