//! Peers: the benchmark re-runs its own executable (`datahub-bench peer
//! ROLE`, hidden) for each process of a case, with its role as JSON.
//! A peer prints one line, [`RESULT_MARK`] then its [`Report`] as JSON,
//! and exits. The parent bounds every wait: a peer that overstays the
//! case's deadline is killed, and when one fails the others are killed
//! at once, so a case never hangs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::scenario::{Report, Role};

/// Starts the line that carries a peer's report.
const RESULT_MARK: &str = "DATAHUB-BENCH-RESULT ";

/// The CPU this peer's measuring thread runs on, if the case pins it.
static PIN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Runs `role` in this process (we are a peer) and prints its report;
/// the role pins its thread to `cpu` once its endpoint is open.
pub(crate) fn run_child(role_json: &str, cpu: Option<usize>) -> Result<()> {
    let role: Role = serde_json::from_str(role_json).context("the peer's role (JSON)")?;
    if let Some(cpu) = cpu {
        let _ = PIN.set(cpu);
    }
    let report = role.run()?;
    println!("{RESULT_MARK}{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Pins the calling thread to this peer's CPU, if it has one. Called after
/// a system's endpoint is open, so that threads the system started (ZeroMQ's
/// I/O threads) keep every CPU; only the measuring thread is pinned. The
/// two peers of a case get a core each, as the scheduler would settle them
/// given time, so that a short round is not spent sharing one.
pub(crate) fn pin_this_thread() {
    let Some(&cpu) = PIN.get() else {
        return;
    };
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("warning: could not pin to CPU {cpu}: {e}");
    }
}

/// A running peer, killed (and reaped) if dropped before it exits.
struct Peer {
    label: String,
    child: Child,
    stdout: Option<JoinHandle<Option<String>>>,
}

impl Peer {
    fn spawn(label: String, role: &Role, cpu: Option<usize>) -> Result<Self> {
        let exe = std::env::current_exe().context("finding the benchmark's executable")?;
        let mut command = Command::new(exe);
        command.arg("peer");
        if let Some(cpu) = cpu {
            command.arg("--cpu").arg(cpu.to_string());
        }
        let mut child = command
            .arg(serde_json::to_string(role)?)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting peer `{label}`"))?;
        let stdout = child.stdout.take().context("the peer's stdout")?;
        // Read on a thread: a peer blocked on a full pipe would look stuck.
        let stdout = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find_map(|line| line.strip_prefix(RESULT_MARK).map(str::to_owned))
        });
        Ok(Self {
            label,
            child,
            stdout: Some(stdout),
        })
    }

    fn report(&mut self) -> Result<Report> {
        let line = self
            .stdout
            .take()
            .and_then(|h| h.join().ok())
            .flatten()
            .ok_or_else(|| anyhow!("peer `{}` exited without a report", self.label))?;
        serde_json::from_str(&line).with_context(|| format!("the report of peer `{}`", self.label))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `roles` as peer processes at once and returns their reports in
/// the same order. Fails (killing the rest) as soon as one fails, or
/// when they are not all done within `timeout`. With `pin`, peer `i`
/// runs on CPU `i` (modulo the CPUs there are).
pub(crate) fn run_peers(
    roles: &[(String, Role)],
    timeout: Duration,
    pin: bool,
) -> Result<Vec<Report>> {
    let deadline = Instant::now() + timeout;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut peers = roles
        .iter()
        .enumerate()
        .map(|(i, (label, role))| Peer::spawn(label.clone(), role, pin.then_some(i % cpus)))
        .collect::<Result<Vec<_>>>()?;
    let mut done = vec![false; peers.len()];
    while done.contains(&false) {
        for (peer, done) in peers.iter_mut().zip(&mut done) {
            if *done {
                continue;
            }
            if let Some(status) = peer.child.try_wait()? {
                if !status.success() {
                    bail!("peer `{}` failed ({status})", peer.label);
                }
                *done = true;
            }
        }
        if Instant::now() > deadline {
            let late: Vec<&str> = peers
                .iter()
                .zip(&done)
                .filter(|(_, d)| !**d)
                .map(|(p, _)| p.label.as_str())
                .collect();
            bail!(
                "peers {late:?} still running after {timeout:?}: killed (a stuck system, or a machine too busy)"
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    peers.iter_mut().map(Peer::report).collect()
}

/// What a peer learns about the machine it ran on, for the results' header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) kernel: String,
}

impl Machine {
    pub(crate) fn here() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel,
        }
    }
}
