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

impl ChildProcess {
    /// Starts the test binary as a child with role `parts.join(":")`.
    pub(super) fn spawn(parts: &[&str]) -> Self {
        let role = parts.join(":");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "processes::child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
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
