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
/// Before each reply a `wire` child prints.
pub(crate) const REPLY: &str = "DATAHUB-CLI-REPLY";
/// Before the tally a `flood` child prints.
pub(crate) const TALLY: &str = "DATAHUB-CLI-TALLY";

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
        Self::spawn(None, role, channel, env).0
    }

    /// As [`start_with`](Self::start_with), run as `user`; also returns
    /// the lines the child printed before it got ready.
    pub(crate) fn start_as(
        user: &OtherUser,
        role: &str,
        channel: &str,
        env: &[(&str, &str)],
    ) -> (Self, Vec<String>) {
        Self::spawn(Some(user), role, channel, env)
    }

    fn spawn(
        user: Option<&OtherUser>,
        role: &str,
        channel: &str,
        env: &[(&str, &str)],
    ) -> (Self, Vec<String>) {
        let exe = std::env::current_exe().unwrap();
        let mut command = match user {
            Some(user) => user.command(&exe),
            None => Command::new(&exe),
        };
        let mut child = command
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
            let mut printed = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains(READY) {
                    let _ = tx.send(std::mem::take(&mut printed));
                } else {
                    printed.push(line);
                }
            }
        });
        let holder = Self { child };
        let printed = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("child `{role}` on `{channel}` never got ready"));
        (holder, printed)
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
            let consumer = Consumer::<Frame>::attach_with(
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
        "wire" => {
            // Sends the JSON requests of $DATAHUB_CLI_REQUESTS to the
            // broker at $DATAHUB_CLI_ENDPOINT, one at a time, printing each
            // reply; a `producer_pid` of "self" is this process's pid.
            let me = std::process::id();
            let socket = wire_socket();
            let requests: Vec<serde_json::Value> =
                serde_json::from_str(&std::env::var("DATAHUB_CLI_REQUESTS").unwrap()).unwrap();
            for mut request in requests {
                if request["producer_pid"] == "self" {
                    request["producer_pid"] = me.into();
                }
                socket.send(request.to_string().as_bytes(), 0).unwrap();
                let reply = socket.recv_bytes(0).expect("a reply within 10 s");
                println!("{REPLY} {}", String::from_utf8_lossy(&reply));
            }
            ready();
        }
        "flood" => {
            // Registers $DATAHUB_CLI_COUNT channels named `CHANNEL-i` for
            // this process (or, with $DATAHUB_CLI_BOOT_ID, for a process of
            // that host) as fast as the broker takes them, and prints how
            // many got each reply code.
            let socket = wire_socket();
            let count: usize = std::env::var("DATAHUB_CLI_COUNT").unwrap().parse().unwrap();
            let boot_id = std::env::var("DATAHUB_CLI_BOOT_ID").ok();
            let hash = datahub::SchemaHash::digest(b"flood").to_string();
            for i in 0..count {
                let request = serde_json::json!({"type": "REG_REQ", "request_id": i.to_string(),
                    "channel": format!("{channel}-{i}"), "shm_name": format!("/datahub.{channel}-{i}"),
                    "channel_hash": hash, "producer_pid": std::process::id(), "boot_id": boot_id});
                socket.send(request.to_string().as_bytes(), 0).unwrap();
            }
            let mut tally = serde_json::Map::new();
            for _ in 0..count {
                let reply: serde_json::Value =
                    serde_json::from_slice(&socket.recv_bytes(0).expect("a reply within 10 s"))
                        .unwrap();
                let code = reply["code"].as_str().unwrap_or("OK").to_owned();
                let entry = tally.entry(code).or_insert(serde_json::json!({"count": 0}));
                entry["count"] = (entry["count"].as_u64().unwrap() + 1).into();
                if entry.get("message").is_none() {
                    entry["message"] = reply["message"].clone();
                    entry["quota"] = reply["quota"].clone();
                }
            }
            println!("{TALLY} {}", serde_json::Value::Object(tally));
            ready();
        }
        "registered" => {
            // The broker's endpoint comes in $DATAHUB_BROKER.
            let hub = datahub_broker::MessageHub::connect_default().unwrap();
            let mut producer = Producer::<Frame>::create(&config(channel)).unwrap();
            producer.register(&hub).unwrap();
            ready();
        }
        other => panic!("unknown child role `{other}`"),
    }
}

/// A DEALER connected to the broker at $DATAHUB_CLI_ENDPOINT.
fn wire_socket() -> zmq::Socket {
    let socket = zmq::Context::new().socket(zmq::DEALER).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_rcvtimeo(10_000).unwrap();
    socket.set_sndhwm(0).unwrap();
    socket.set_rcvhwm(0).unwrap();
    socket
        .connect(&std::env::var("DATAHUB_CLI_ENDPOINT").unwrap())
        .unwrap();
    socket
}

/// The second user tests run processes as (root may make it): `dhtest2`.
pub(crate) struct OtherUser {
    pub(crate) name: &'static str,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl OtherUser {
    /// `program`, to be run as this user (with no supplementary groups).
    pub(crate) fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .args(["--clear-groups", "--"])
            .arg(program);
        command
    }
}

/// The second user, created if missing; `None`, saying why, where that
/// cannot be (not root, no `useradd` or `setpriv`): the caller skips.
pub(crate) fn other_user() -> Option<&'static OtherUser> {
    static USER: std::sync::OnceLock<Option<OtherUser>> = std::sync::OnceLock::new();
    let user = USER.get_or_init(|| {
        const NAME: &str = "dhtest2";
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, NAME]).output().ok()?;
            String::from_utf8(out.stdout).ok()?.trim().parse().ok()
        };
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let root = status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
        if !root {
            eprintln!("skipped: a second user is needed and only root may create `{NAME}`");
            return None;
        }
        if id("-u").is_none() {
            let made = Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    NAME,
                ])
                .status();
            if !matches!(made, Ok(s) if s.success()) && id("-u").is_none() {
                eprintln!("skipped: could not create the second user `{NAME}` ({made:?})");
                return None;
            }
        }
        if Command::new("setpriv").arg("--version").output().is_err() {
            eprintln!("skipped: `setpriv` (util-linux) is needed to run a process as `{NAME}`");
            return None;
        }
        Some(OtherUser {
            name: NAME,
            uid: id("-u")?,
            gid: id("-g")?,
        })
    });
    user.as_ref()
}
