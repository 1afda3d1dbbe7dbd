//! The `datahub` command on live segments, and its broker (real
//! `datahub broker` processes) with `MessageHub` clients: channels made by this test
//! process, by child processes, and by children killed with SIGKILL
//! (dead producers, dead consumers, dead lock holders). Every command runs
//! the real binary. Snapshots redact what changes from run to run (pids,
//! ages, the channel's unique name).

mod broker;
mod children;
mod defaults;
mod discovery;
mod findings;
mod hostile;
mod inspect;
mod repair;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use datahub::{AtomicF64, ChannelConfig, DataHubSlot, DataHubZone};

/// A slot type with a nested layout worth printing.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
pub(crate) struct Frame {
    pub(crate) timestamp_ns: u64,
    pub(crate) seq: u32,
    pub(crate) _pad0: [u8; 4],
    pub(crate) samples: [f32; 4],
}

/// A lock-free zone.
#[derive(DataHubZone)]
#[repr(C)]
pub(crate) struct Telemetry {
    pub(crate) frames: std::sync::atomic::AtomicU64,
    pub(crate) fps: AtomicF64,
}

/// A locked zone.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
pub(crate) struct Calib {
    pub(crate) gain: [f64; 2],
}

pub(crate) const SECOND: Duration = Duration::from_secs(1);

/// The configuration every test channel uses.
pub(crate) fn config(name: &str) -> ChannelConfig {
    ChannelConfig::new(name)
        .capacity(4)
        .stall_timeout(Duration::from_secs(30))
        .zone::<Telemetry>("telemetry")
        .locked_zone::<Calib>("calibration")
}

/// A channel name unique to this test and process.
pub(crate) fn unique(test: &str) -> String {
    format!("cli-{test}-{}", std::process::id())
}

/// The segment file of `channel`.
pub(crate) fn segment_path(channel: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/datahub.{channel}"))
}

/// Runs `datahub ARGS`.
pub(crate) fn datahub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_datahub"))
        .args(args)
        .output()
        .expect("running datahub")
}

/// Runs `datahub ARGS`, checks its exit status, and returns its stdout.
pub(crate) fn datahub_ok(args: &[&str], status: i32) -> String {
    let out = datahub(args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(status),
        "datahub {args:?}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}"
    );
    stdout
}

/// `datahub ARGS --json`, parsed.
pub(crate) fn datahub_json(args: &[&str], status: i32) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let stdout = datahub_ok(&args, status);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Replaces the volatile parts of `text` (this test's pid, `pids`, ages
/// in ms, the widths of table borders and padding) so it can be compared
/// with a snapshot.
pub(crate) fn redact(text: &str, channel: &str, pids: &[u32]) -> String {
    let mut text = text.replace(channel, "[channel]");
    for pid in pids {
        text = replace_word(&text, &pid.to_string(), "[pid]");
    }
    let mut out = String::new();
    for line in text.lines() {
        let mut words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        for i in 0..words.len() {
            if words.get(i + 1).is_some_and(|w| w == "ms") && words[i].parse::<u64>().is_ok() {
                words[i] = "[n]".into();
            }
            if words[i].chars().all(|c| "─═┌┐└┘╞╡".contains(c)) {
                words[i] = words[i].chars().take(1).collect();
            }
        }
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + word.len()..].chars().next();
        let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric());
        out.push_str(&rest[..at]);
        out.push_str(if boundary(before) && boundary(after) {
            with
        } else {
            word
        });
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// Replaces, everywhere in `value`, the values of keys that change from
/// run to run.
pub(crate) fn redact_json(value: &mut serde_json::Value, channel: &str) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match key.as_str() {
                    "pid" | "writer_pid" | "lock_holder" if v.is_number() => *v = "[pid]".into(),
                    "heartbeat_age_ms" | "uptime_ms" => *v = "[age]".into(),
                    "rate_per_s" if v.is_number() => *v = "[rate]".into(),
                    _ => redact_json(v, channel),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| redact_json(v, channel)),
        serde_json::Value::String(s) if s.contains(channel) => {
            *s = s.replace(channel, "[channel]");
        }
        _ => {}
    }
}
