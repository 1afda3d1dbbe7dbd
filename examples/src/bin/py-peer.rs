//! The Rust side of the Python bindings' process tests (`python/tests`):
//! one producer or consumer per mode, on the channels generated from
//! `schemas/*.toml`, each writing or checking a fixed pattern that the
//! Python tests recompute with numpy. `scripts/test` builds it and passes
//! its path to pytest in `DATAHUB_PY_PEER`.
//!
//! ```text
//! py-peer produce-sensor  NAME COUNT   py-peer consume-sensor  NAME COUNT
//! py-peer produce-bytes   NAME COUNT   py-peer consume-bytes   NAME COUNT
//! py-peer produce-tracker NAME COUNT   py-peer consume-tracker NAME COUNT
//! py-peer zones-producer  NAME         py-peer zones-consumer  NAME
//! py-peer hold            NAME
//! py-peer pattern         KIND I       (KIND: sensor, bytes or tracker)
//! ```
//!
//! NAME is the channel's name (each test its own); the schema's
//! configuration is kept (ring, overflow, checksums, zones), so a Python
//! process using the same schema file agrees on the channel hash.
//!
//! - A producer creates the channel, prints `created NAME`, waits (up to
//!   30 s) until a consumer is attached, writes COUNT items, prints `sent
//!   COUNT` and exits, which closes the channel: consumers still read
//!   every item before they get `Closed`.
//! - A consumer attaches (retrying up to 30 s while the channel does not
//!   exist yet), checks the channel hash, reads COUNT items checking every
//!   field, and prints `ok COUNT`; at the first difference it prints it on
//!   stderr and exits 1.
//!
//! # The patterns (item `i`, from 0)
//!
//! `sensor` (`schemas/sensor.toml`, enforced checksums):
//! `timestamp_ns = 1000 + i`, `seq = i` (as u32), `_pad0 = [0; 4]`,
//! `samples[j] = ((i * 1024 + j) % 65536) as f32` (exact in f32), i.e.
//! `((np.arange(1024) + i * 1024) % 65536).astype(np.float32)`.
//!
//! `raw-camera` (`schemas/camera.toml`, raw bytes, manual checksums: the
//! producer records each item's checksum, the consumer verifies it):
//! length `1 + (i * 7919) % 65536` bytes, byte `k` = `(i + 31 * k) % 251`,
//! i.e. `((i + 31 * np.arange(n)) % 251).astype(np.uint8)`.
//!
//! `tracker` (`schemas/tracker.toml`, nested structs, an overwrite ring):
//! `id = i % 65536`, `flags = i % 256`, `quality = i % 200 - 100`,
//! `reserved = i` (as u32), `pose.position = (i, i / 2, -i)` (f64),
//! `pose.orientation = (1, 0, 0, i / 4)`,
//! `covariance[r][c] = ((i * 36 + r * 6 + c) % 65536) as f32`, i.e.
//! `((np.arange(36).reshape(6, 6) + i * 36) % 65536).astype(np.float32)`.
//! The ring overwrites, so the producer never runs more than half the ring
//! ahead of its slowest consumer (it looks with `datahub::inspect`); the
//! counters zone's `bodies_seen` is set to the number of items written.
//!
//! # Zones (`sensor`'s `telemetry` and locked `calibration`), both ways
//!
//! `telemetry.state` is the handshake; every other write happens before
//! the `state` store that announces it (stores and loads of `state` are
//! Release and Acquire here, as the Python binding's `store` and `load` are).
//!
//! 1. The first side (`zones-producer`, or the Python producer when the
//!    peer runs `zones-consumer`) writes, under the calibration lock,
//!    `gain[0] = 2.5` and `label = b"py-peer"` (zero-padded), then stores
//!    `telemetry.fps = 50.0`, adds 1 to `telemetry.frame_count` (0 -> 1),
//!    and stores `telemetry.state = 3`.
//! 2. The second side waits for `state == 3`, checks `gain[0] == 2.5`
//!    (under the lock), `fps == 50.0` and `frame_count == 1`, then writes
//!    `offset[0] = -1.5` under the lock, adds 1 to `frame_count` (-> 2)
//!    and stores `state = 4`.
//! 3. The first side waits for `state == 4`, checks `offset[0] == -1.5`
//!    and `frame_count == 2`.
//!
//! The peer plays side 1 as `zones-producer` (creating the channel) and
//! side 2 as `zones-consumer` (attaching); either prints `ok zones` when its
//! part checked out, and waits at most 30 s for the other side.
//!
//! `pattern KIND I` prints item `I` of a pattern as the slot holds it, in
//! hex, for the tests to check their numpy version of the pattern (and the
//! dtype the binding makes) against rustc's layout, without a channel.
//!
//! `hold NAME` creates `sensor` under NAME, prints `created NAME` and
//! sleeps until it is killed (for the killed-producer tests: SIGKILL leaves
//! the segment behind; `datahub.cleanup(NAME)` removes it).

use std::process::ExitCode;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use datahub::{AttachOptions, ErrorKind};
use datahub_examples::camera::raw_camera;
use datahub_examples::say;
use datahub_examples::sensor::{SensorFrame, sensor};
use datahub_examples::tracker::{Pose, TrackedBody, Vec3, tracker};

/// How long a peer waits for the other process (to attach, to create the
/// channel, to answer in the zones handshake, to send the next item).
const PATIENCE: Duration = Duration::from_secs(30);

/// How often a peer looks again while it waits for the other process.
const POLL: Duration = Duration::from_millis(5);

type Outcome = Result<(), Box<dyn std::error::Error>>;

const USAGE: &str = "usage: py-peer MODE NAME [COUNT]
  produce-sensor NAME COUNT | consume-sensor NAME COUNT
  produce-bytes NAME COUNT  | consume-bytes NAME COUNT
  produce-tracker NAME COUNT | consume-tracker NAME COUNT
  zones-producer NAME | zones-consumer NAME | hold NAME
  pattern sensor|bytes|tracker I";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, name, rest @ ..] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let mut numbers = Vec::new();
    for number in rest {
        match number.parse::<u64>() {
            Ok(n) => numbers.push(n),
            Err(_) => {
                eprintln!("py-peer: `{number}` is not a number\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let run = match (mode.as_str(), numbers.as_slice()) {
        ("produce-sensor", &[count]) => produce_sensor(name, count),
        ("consume-sensor", &[count]) => consume_sensor(name, count),
        ("produce-bytes", &[count]) => produce_bytes(name, count),
        ("consume-bytes", &[count]) => consume_bytes(name, count),
        ("produce-tracker", &[count]) => produce_tracker(name, count),
        ("consume-tracker", &[count]) => consume_tracker(name, count),
        ("zones-producer", []) => zones_producer(name),
        ("zones-consumer", []) => zones_consumer(name),
        ("hold", []) => hold(name),
        ("pattern", &[item]) => pattern(name, item),
        ("bench-produce", &[size, count]) => bench_produce(name, size, count),
        ("bench-consume", &[count]) => bench_consume(name, count),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    datahub_examples::output::exit_code(run)
}

// ---- sensor: typed frames, enforced checksums ----

/// Item `i` of the sensor pattern.
fn sensor_frame(i: u64) -> SensorFrame {
    SensorFrame {
        timestamp_ns: 1000 + i,
        seq: i as u32,
        _pad0: [0; 4],
        samples: std::array::from_fn(|j| ((i * 1024 + j as u64) % 65536) as f32),
    }
}

fn produce_sensor(name: &str, count: u64) -> Outcome {
    let mut producer = sensor::create_with(&sensor::config_named(name))?;
    say!("created {name}")?;
    wait_for_consumer(name, || producer.consumer_count())?;
    for i in 0..count {
        producer.write_with(PATIENCE, |frame| *frame = sensor_frame(i))?;
    }
    say!("sent {count}")?;
    Ok(())
}

fn consume_sensor(name: &str, count: u64) -> Outcome {
    let consumer = attach(name, |options| sensor::attach_with(name, options))?;
    for i in 0..count {
        let frame = consumer.next(PATIENCE)?;
        expect_seq(frame.seq(), i)?;
        let want = sensor_frame(i);
        expect(i, "timestamp_ns", frame.timestamp_ns, want.timestamp_ns)?;
        expect(i, "seq", frame.seq, want.seq)?;
        expect(i, "_pad0", frame._pad0, want._pad0)?;
        if let Some(j) = (0..frame.samples.len()).find(|&j| frame.samples[j] != want.samples[j]) {
            return mismatch(
                i,
                &format!("samples[{j}]"),
                frame.samples[j],
                want.samples[j],
            );
        }
    }
    say!("ok {count}")?;
    Ok(())
}

// ---- raw-camera: raw bytes of varying lengths, manual checksums ----

/// The length of item `i` of the bytes pattern.
fn bytes_len(i: u64) -> usize {
    1 + ((i * 7919) % 65536) as usize
}

/// Byte `k` of item `i` of the bytes pattern.
fn bytes_at(i: u64, k: usize) -> u8 {
    ((i + 31 * k as u64) % 251) as u8
}

fn produce_bytes(name: &str, count: u64) -> Outcome {
    let mut producer = raw_camera::create_with(&raw_camera::config_named(name))?;
    say!("created {name}")?;
    wait_for_consumer(name, || producer.consumer_count())?;
    for i in 0..count {
        let len = bytes_len(i);
        let mut slot = producer.acquire(PATIENCE)?;
        for (k, byte) in slot[..len].iter_mut().enumerate() {
            *byte = bytes_at(i, k);
        }
        slot.set_len(len);
        // The schema's checksums are manual: the producer records them.
        slot.update_checksum();
        slot.commit();
    }
    say!("sent {count}")?;
    Ok(())
}

fn consume_bytes(name: &str, count: u64) -> Outcome {
    let consumer = attach(name, |options| raw_camera::attach_with(name, options))?;
    for i in 0..count {
        let item = consumer.next(PATIENCE)?;
        expect_seq(item.seq(), i)?;
        expect(i, "length", item.len(), bytes_len(i))?;
        if let Some(k) = (0..item.len()).find(|&k| item[k] != bytes_at(i, k)) {
            return mismatch(i, &format!("byte {k}"), item[k], bytes_at(i, k));
        }
        if !item.verify_checksum() {
            return Err(format!(
                "item {i}: its manual checksum does not match its bytes (was it recorded?)"
            )
            .into());
        }
    }
    say!("ok {count}")?;
    Ok(())
}

// ---- tracker: nested structs, an overwrite ring ----

/// Item `i` of the tracker pattern.
fn tracked_body(i: u64) -> TrackedBody {
    let x = i as f64;
    TrackedBody {
        id: (i % 65536) as u16,
        flags: (i % 256) as u8,
        quality: ((i % 200) as i64 - 100) as i8,
        reserved: i as u32,
        pose: Pose {
            position: Vec3 {
                x,
                y: x / 2.0,
                z: -x,
            },
            orientation: [1.0, 0.0, 0.0, x / 4.0],
        },
        covariance: std::array::from_fn(|r| {
            std::array::from_fn(|c| ((i * 36 + (r * 6 + c) as u64) % 65536) as f32)
        }),
    }
}

fn produce_tracker(name: &str, count: u64) -> Outcome {
    let mut producer = tracker::create_with(&tracker::config_named(name))?;
    say!("created {name}")?;
    wait_for_consumer(name, || producer.consumer_count())?;
    // Never more than half the ring ahead of the slowest consumer, checked
    // every quarter ring: the overwrite ring then never laps it.
    let capacity = u64::from(datahub::inspect(name)?.capacity);
    for i in 0..count {
        if i % (capacity / 4).max(1) == 0 {
            wait_for_readers(name, i, capacity / 4)?;
        }
        producer.write_with(PATIENCE, |body| *body = tracked_body(i))?;
        producer
            .counters()
            .bodies_seen
            .store((i + 1) as u32, Relaxed);
    }
    say!("sent {count}")?;
    Ok(())
}

/// Waits until every consumer of `name` has read at least `written - lag`
/// items (none attached: no wait).
fn wait_for_readers(name: &str, written: u64, lag: u64) -> Outcome {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let slowest = datahub::inspect(name)?
            .consumers
            .iter()
            .map(|c| c.position)
            .min();
        if slowest.is_none_or(|position| position + lag >= written) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no consumer of `{name}` read item {} within {PATIENCE:?}",
                written - lag
            )
            .into());
        }
        std::thread::sleep(POLL);
    }
}

fn consume_tracker(name: &str, count: u64) -> Outcome {
    let consumer = attach(name, |options| tracker::attach_with(name, options))?;
    for i in 0..count {
        let body = consumer.next(PATIENCE)?;
        expect_seq(body.seq(), i)?;
        expect(i, "items lost before it", body.lost_before(), 0)?;
        let want = tracked_body(i);
        expect(i, "id", body.id, want.id)?;
        expect(i, "flags", body.flags, want.flags)?;
        expect(i, "quality", body.quality, want.quality)?;
        expect(i, "reserved", body.reserved, want.reserved)?;
        expect(
            i,
            "pose.position.x",
            body.pose.position.x,
            want.pose.position.x,
        )?;
        expect(
            i,
            "pose.position.y",
            body.pose.position.y,
            want.pose.position.y,
        )?;
        expect(
            i,
            "pose.position.z",
            body.pose.position.z,
            want.pose.position.z,
        )?;
        expect(
            i,
            "pose.orientation",
            body.pose.orientation,
            want.pose.orientation,
        )?;
        expect(i, "covariance", body.covariance, want.covariance)?;
    }
    say!("ok {count}")?;
    Ok(())
}

// ---- zones, both ways ----

/// Side 1 of the zones handshake (see the module's doc), as the channel's
/// producer.
fn zones_producer(name: &str) -> Outcome {
    let producer = sensor::create_with(&sensor::config_named(name))?;
    say!("created {name}")?;
    {
        let mut calib = producer.calibration().lock(PATIENCE)?;
        calib.gain[0] = 2.5;
        calib.label = [0; 64];
        calib.label[..7].copy_from_slice(b"py-peer");
    }
    let telemetry = producer.telemetry();
    telemetry.fps.store(50.0, Relaxed);
    telemetry.frame_count.fetch_add(1, Relaxed);
    // Release: the writes above happen before the other side's Acquire
    // load of `state` that sees 3.
    telemetry.state.store(3, Release);
    wait_for_state(name, &telemetry.state, 4)?;
    let offset = producer.calibration().lock(PATIENCE)?.offset[0];
    expect(0, "calibration.offset[0]", offset, -1.5)?;
    expect(
        0,
        "telemetry.frame_count",
        telemetry.frame_count.load(Relaxed),
        2,
    )?;
    say!("ok zones")?;
    Ok(())
}

/// Side 2 of the zones handshake, as a consumer of the channel.
fn zones_consumer(name: &str) -> Outcome {
    let consumer = attach(name, |options| sensor::attach_with(name, options))?;
    let telemetry = consumer.telemetry();
    wait_for_state(name, &telemetry.state, 3)?;
    let gain = consumer.calibration().lock(PATIENCE)?.gain[0];
    expect(0, "calibration.gain[0]", gain, 2.5)?;
    expect(0, "telemetry.fps", telemetry.fps.load(Relaxed), 50.0)?;
    expect(
        0,
        "telemetry.frame_count",
        telemetry.frame_count.load(Relaxed),
        1,
    )?;
    consumer.calibration().lock(PATIENCE)?.offset[0] = -1.5;
    telemetry.frame_count.fetch_add(1, Relaxed);
    // Release: as in `zones_producer`.
    telemetry.state.store(4, Release);
    say!("ok zones")?;
    Ok(())
}

/// Waits until `state` (the telemetry zone's) is `want`.
fn wait_for_state(name: &str, state: &std::sync::atomic::AtomicU32, want: u32) -> Outcome {
    let deadline = Instant::now() + PATIENCE;
    // Acquire: pairs with the other side's Release store of `want`.
    while state.load(Acquire) != want {
        if Instant::now() >= deadline {
            return Err(format!(
                "`{name}`: telemetry.state is {}, not {want}, after {PATIENCE:?}: the other side \
                 did not answer",
                state.load(Relaxed)
            )
            .into());
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

// ---- hold: a producer to be killed ----

fn hold(name: &str) -> Outcome {
    let _producer = sensor::create_with(&sensor::config_named(name))?;
    say!("created {name}")?;
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

// ---- pattern: one item, as bytes ----

fn pattern(kind: &str, i: u64) -> Outcome {
    let bytes = match kind {
        "sensor" => bytes_of(&sensor_frame(i)).to_vec(),
        "tracker" => bytes_of(&tracked_body(i)).to_vec(),
        "bytes" => (0..bytes_len(i)).map(|k| bytes_at(i, k)).collect(),
        _ => return Err(format!("no pattern `{kind}`: sensor, bytes or tracker").into()),
    };
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    say!("{hex}")?;
    Ok(())
}

/// The bytes of a slot value, as a segment holds them.
fn bytes_of<T: datahub::DataHubSlot>(value: &T) -> &[u8] {
    // SAFETY: a `DataHubSlot` is `#[repr(C)]` plain data with no padding
    // (its derive refuses implicit padding), so all `size_of::<T>()` bytes
    // from `value` are initialized; the slice borrows `value`.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

// ---- shared ----

/// Attaches with `attach`, retrying while the channel does not exist yet
/// or is still being created (up to [`PATIENCE`]).
fn attach<C>(
    name: &str,
    attach: impl Fn(&AttachOptions) -> Result<C, datahub::Error>,
) -> Result<C, Box<dyn std::error::Error>> {
    let deadline = Instant::now() + PATIENCE;
    let options = AttachOptions::default();
    loop {
        match attach(&options) {
            Ok(consumer) => return Ok(consumer),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NoSuchChannel { .. } | ErrorKind::NotReady { .. }
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(POLL);
            }
            Err(e) => return Err(format!("attaching to `{name}`: {e}").into()),
        }
    }
}

/// `bench-produce`: a raw-bytes channel of `size`-byte slots (lossless,
/// 64 slots), COUNT items sent as fast as the slowest consumer allows,
/// each carrying its sequence number in its first 8 bytes (the rest is
/// left as it is: the benchmark times the handing over, not the filling).
/// For `bench/python/consumer_overhead.py`.
fn bench_produce(name: &str, size: u64, count: u64) -> Outcome {
    let config = datahub::ChannelConfig::new(name)
        .capacity(64)
        .slot_size(size.max(8));
    let mut p = datahub::Producer::<datahub::Bytes>::create(&config)?;
    say!("created {name}")?;
    wait_for_consumer(name, || p.consumer_count())?;
    for i in 0..count {
        let mut slot = p.acquire(PATIENCE)?;
        slot[..8].copy_from_slice(&i.to_ne_bytes());
        slot.commit();
    }
    say!("sent {count}")?;
    Ok(())
}

/// `bench-consume`: reads COUNT items of a `bench-produce` channel, the
/// first untimed, and prints `rate ITEMS_PER_SECOND` over the others.
fn bench_consume(name: &str, count: u64) -> Outcome {
    let c = attach(name, |o| {
        datahub::Consumer::<datahub::Bytes>::attach_with(name, o)
    })?;
    let first = c.next(PATIENCE)?;
    expect_seq(first.seq(), 0)?;
    drop(first);
    let start = Instant::now();
    for i in 1..count {
        let item = c.next(PATIENCE)?;
        expect_seq(item.seq(), i)?;
    }
    let took = start.elapsed().as_secs_f64();
    say!("rate {:.0}", count.saturating_sub(1) as f64 / took)?;
    Ok(())
}

/// Waits until the producer of `name` has a consumer (up to [`PATIENCE`]).
fn wait_for_consumer(name: &str, consumers: impl Fn() -> usize) -> Outcome {
    let deadline = Instant::now() + PATIENCE;
    while consumers() == 0 {
        if Instant::now() >= deadline {
            return Err(format!("no consumer attached to `{name}` within {PATIENCE:?}").into());
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

/// Item `found` where item `want` was due: the stream skipped or repeated.
fn expect_seq(found: u64, want: u64) -> Outcome {
    expect(want, "sequence number", found, want)
}

fn expect<T: PartialEq + std::fmt::Debug>(item: u64, what: &str, found: T, want: T) -> Outcome {
    if found == want {
        Ok(())
    } else {
        mismatch(item, what, found, want)
    }
}

fn mismatch<T: std::fmt::Debug>(item: u64, what: &str, found: T, want: T) -> Outcome {
    Err(format!("item {item}: {what} is {found:?}, expected {want:?}").into())
}
