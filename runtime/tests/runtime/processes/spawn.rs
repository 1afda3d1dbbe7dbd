//! Child processes of the multi-process tests: the test binary re-runs
//! itself with only `processes::child` selected and its role in an
//! environment variable. A child reports one line, `RESULT_MARK` then JSON,
//! on stdout; the parent bounds every wait and kills what overstays.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Names a child's role and arguments: `role:arg1:arg2`.
pub(super) const CHILD_ENV: &str = "DATAHUB_TEST_CHILD";
/// Starts the line that carries a child's result.
pub(super) const RESULT_MARK: &str = "DATAHUB-CHILD-RESULT ";

/// A running child; killed (and reaped) if dropped before it exits, so a
/// failing test leaves no process behind.
pub(super) struct ChildProcess {
    role: String,
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// How a child ended and what it printed.
pub(super) struct Finished {
    pub(super) role: String,
    pub(super) status: ExitStatus,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

/// The arguments that run only the `processes::child` test.
const CHILD_ARGS: [&str; 5] = [
    "--exact",
    "processes::child",
    "--ignored",
    "--nocapture",
    "--test-threads=1",
];

/// How a child is started.
pub(super) enum Launch<'a> {
    /// As this process's user.
    Plain,
    /// As another user (`setpriv`), from a copy of the test binary that
    /// user can run.
    As(&'a SecondUser),
    /// In a private mount namespace whose `/dev/shm` is a tmpfs of this
    /// many KiB (`unshare --mount`).
    SmallShm(u64),
}

impl ChildProcess {
    /// Starts the test binary as a child with role `parts.join(":")`.
    pub(super) fn spawn(parts: &[&str]) -> Self {
        Self::launch(Launch::Plain, parts)
    }

    /// Starts the test binary as a child with role `parts.join(":")`, as
    /// `launch` says.
    pub(super) fn launch(launch: Launch<'_>, parts: &[&str]) -> Self {
        let role = parts.join(":");
        let exe = std::env::current_exe().unwrap();
        let mut command = match launch {
            Launch::Plain => {
                let mut c = Command::new(&exe);
                c.args(CHILD_ARGS);
                c
            }
            Launch::As(user) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={}", user.uid))
                    .arg(format!("--regid={}", user.gid))
                    .arg("--clear-groups")
                    .arg(&user.exe)
                    .args(CHILD_ARGS);
                c
            }
            Launch::SmallShm(kib) => {
                let mut c = Command::new("unshare");
                c.args(["--mount", "--propagation", "private", "sh", "-c"])
                    .arg(format!(
                        "mount -t tmpfs -o size={kib}k datahub-test /dev/shm && exec \"$0\" \"$@\""
                    ))
                    .arg(&exe)
                    .args(CHILD_ARGS);
                c
            }
        };
        let mut child = command
            .env(CHILD_ENV, &role)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning child `{role}`: {e}"));
        // Drained on threads: a child blocked on a full pipe would look stuck.
        let drain = |mut pipe: Box<dyn Read + Send>| {
            thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let stdout = Some(drain(Box::new(child.stdout.take().unwrap())));
        let stderr = Some(drain(Box::new(child.stderr.take().unwrap())));
        Self {
            role,
            child,
            stdout,
            stderr,
        }
    }

    /// The child's pid.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Panics with the child's output if it has already exited (a child
    /// the parent is waiting on should not have).
    pub(super) fn assert_running(&mut self) {
        if self.child.try_wait().unwrap().is_some() {
            let finished = self.collect();
            panic!("child exited early\n{finished}");
        }
    }

    /// Waits for the child until `deadline`; a child still running then is
    /// killed and the test fails with what it printed.
    pub(super) fn finish(mut self, deadline: Instant) -> Finished {
        loop {
            if self.child.try_wait().unwrap().is_some() {
                return self.collect();
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let finished = self.collect();
                panic!("child did not finish in time: killed\n{finished}");
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Kills the child (SIGKILL: no destructor runs) and reaps it.
    pub(super) fn kill(mut self) -> Finished {
        let _ = self.child.kill();
        self.collect()
    }

    fn collect(&mut self) -> Finished {
        let status = self.child.wait().unwrap();
        let text = |pipe: &mut Option<JoinHandle<String>>| pipe.take().unwrap().join().unwrap();
        Finished {
            role: self.role.clone(),
            status,
            stdout: text(&mut self.stdout),
            stderr: text(&mut self.stderr),
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.stdout.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Finished {
    /// The child's result, after checking that it exited by itself with
    /// status 0 (not by a signal, not by a failed assertion).
    pub(super) fn result(&self) -> serde_json::Value {
        assert_eq!(
            self.status.signal(),
            None,
            "child killed by a signal\n{self}"
        );
        assert!(self.status.success(), "child failed\n{self}");
        let line = self
            .stdout
            .lines()
            .find_map(|line| line.split_once(RESULT_MARK))
            .unwrap_or_else(|| panic!("child printed no result\n{self}"))
            .1;
        serde_json::from_str(line).unwrap_or_else(|e| panic!("child result {line:?}: {e}\n{self}"))
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- child `{}`: {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.role, self.status, self.stdout, self.stderr
        )
    }
}

/// A second user of this machine, for the tests about other users' files:
/// `dhtest2`, created when missing (CI runs as root), with a copy of the
/// test binary that it may run (the build directory may be private).
pub(super) struct SecondUser {
    pub(super) name: String,
    pub(super) uid: u32,
    pub(super) gid: u32,
    exe: std::path::PathBuf,
}

impl SecondUser {
    /// The second user, or why there is none (printed by the caller's
    /// skip): not root, or no `useradd`.
    pub(super) fn get() -> Result<Self, String> {
        const NAME: &str = "dhtest2";
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, NAME]).output().ok()?;
            String::from_utf8(out.stdout).ok()?.trim().parse().ok()
        };
        if id("-u").is_none() {
            let status = Command::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    NAME,
                ])
                .status()
                .map_err(|e| format!("cannot run useradd: {e}"))?;
            if !status.success() {
                return Err(format!("useradd {NAME} failed ({status}): not root?"));
            }
        }
        let (uid, gid) = id("-u")
            .zip(id("-g"))
            .ok_or_else(|| format!("no user {NAME}"))?;
        if uid == current_uid() {
            return Err("the tests already run as the second user".into());
        }
        let dir = std::env::temp_dir().join(format!("datahub-second-user-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let exe = dir.join("runtime-tests");
        if !exe.exists() {
            // A hard link costs nothing; a copy when /tmp is elsewhere.
            let own = std::env::current_exe().unwrap();
            std::fs::hard_link(&own, &exe)
                .or_else(|_| std::fs::copy(&own, &exe).map(drop))
                .map_err(|e| e.to_string())?;
        }
        use std::os::unix::fs::PermissionsExt;
        for (path, mode) in [(&dir, 0o755), (&exe, 0o755)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| e.to_string())?;
        }
        Ok(Self {
            name: NAME.into(),
            uid,
            gid,
            exe,
        })
    }
}

/// This process's uid (`id -u`: the tests need no libc).
fn current_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Whether this process may make mount namespaces (`unshare --mount`), for
/// the tests on a small private `/dev/shm`; why not, otherwise.
pub(super) fn can_unshare_mounts() -> Result<(), String> {
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=64k datahub-probe /dev/shm")
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "unshare --mount with a tmpfs /dev/shm failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Waits until `attached()` reaches `count`, failing if a child exits
/// meanwhile or `timeout` passes.
pub(super) fn wait_for_consumers(
    attached: impl Fn() -> usize,
    count: usize,
    children: &mut [ChildProcess],
    timeout: Duration,
) {
    let started = Instant::now();
    while attached() < count {
        for child in children.iter_mut() {
            child.assert_running();
        }
        assert!(
            started.elapsed() < timeout,
            "{} of {count} consumers attached after {timeout:?}",
            attached()
        );
        thread::sleep(Duration::from_millis(2));
    }
}
