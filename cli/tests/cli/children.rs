//! Child processes that hold something in a channel and then get killed
//! with SIGKILL (no destructor runs), leaving it to a dead process: the
//! test binary re-runs itself with only `children::child` selected and
//! the role in `DATAHUB_CLI_CHILD`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use datahub::{Consumer, Producer};

use crate::{Calib, Frame, SECOND, config};

const CHILD_ENV: &str = "DATAHUB_CLI_CHILD";
const READY: &str = "DATAHUB-CLI-CHILD-READY";

/// A child process in its role; killed with SIGKILL on drop.
pub(crate) struct Holder {
    child: Child,
}

impl Holder {
    /// Starts a child in `role` (`consumer`, `reader`, `lock`, `producer`,
    /// `writing`, `registered`) on `channel`, and waits until it holds what its role
    /// says.
    pub(crate) fn start(role: &str, channel: &str) -> Self {
        Self::start_with(role, channel, &[])
    }

    /// As [`start`](Self::start), with `env` set in the child.
    pub(crate) fn start_with(role: &str, channel: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "children::child", "--ignored", "--nocapture"])
            .env(CHILD_ENV, format!("{role}:{channel}"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains(READY) {
                    let _ = tx.send(());
                }
            }
        });
        let holder = Self { child };
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("child `{role}` on `{channel}` never got ready"));
        holder
    }

    /// The child's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child with SIGKILL and reaps it: what it held is now held
    /// by a dead process.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's side: does what its role says, reports READY, and waits to
/// be killed (exiting by itself after a minute, should the parent die).
#[test]
#[ignore = "run as a child process by the other tests"]
fn child() {
    let role = std::env::var(CHILD_ENV).expect("a child role");
    let (role, channel) = role.split_once(':').unwrap();
    let ready = || {
        println!("{READY}");
        thread::sleep(Duration::from_secs(60));
    };
    match role {
        "consumer" => {
            let _consumer = Consumer::<Frame>::attach(channel).unwrap();
            ready();
        }
        "reader" => {
            let mut consumer = Consumer::<Frame>::attach_with(
                channel,
                &datahub::AttachOptions::default().start(datahub::Start::Oldest),
            )
            .unwrap();
            let _slot = consumer.next(SECOND).unwrap();
            ready();
        }
        "lock" => {
            let consumer = Consumer::<Frame>::attach(channel).unwrap();
            let zone = consumer.locked_zone::<Calib>("calibration").unwrap();
            let mut guard = zone.lock(SECOND).unwrap();
            guard.gain[0] = 1.5;
            ready();
        }
        "producer" => {
            let mut producer = Producer::<Frame>::create(&config(channel)).unwrap();
            for seq in 0..3 {
                producer.write_with(SECOND, |f| f.seq = seq).unwrap();
            }
            ready();
        }
        "writing" => {
            let mut producer = Producer::<Frame>::create(&config(channel)).unwrap();
            for seq in 0..2 {
                producer.write_with(SECOND, |f| f.seq = seq).unwrap();
            }
            let _slot = producer.acquire(SECOND).unwrap();
            ready();
        }
        "registered" => {
            // The broker's endpoint comes in $DATAHUB_BROKER.
            let hub = datahub::broker::MessageHub::connect_default().unwrap();
            let mut producer = Producer::<Frame>::create(&config(channel)).unwrap();
            producer.register(&hub).unwrap();
            ready();
        }
        other => panic!("unknown child role `{other}`"),
    }
}
