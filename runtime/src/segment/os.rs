//! Every operating-system call of DataHub: POSIX shared memory, mapping,
//! futexes, clocks and process identity. The only module that knows it runs
//! on Linux; porting DataHub means rewriting this file.

use std::fs::File;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::Mode;
use rustix::shm;
use rustix::thread::futex;

/// Prefix of every DataHub object in `/dev/shm`.
pub(crate) const SHM_PREFIX: &str = "datahub.";

/// Where POSIX shared memory objects appear as files (Linux).
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// The file a channel's segment appears as.
pub(crate) fn shm_path(channel: &str) -> std::path::PathBuf {
    std::path::Path::new(SHM_DIR).join(format!("{SHM_PREFIX}{channel}"))
}

/// The POSIX name of a channel's segment: `/datahub.<channel>`.
pub(crate) fn shm_name(channel: &str) -> String {
    format!("/{SHM_PREFIX}{channel}")
}

/// Creates a channel's segment, failing with `AlreadyExists` if one is
/// there, with exactly `mode` (the umask does not apply).
pub(crate) fn create_exclusive(channel: &str, mode: u32) -> io::Result<File> {
    let fd = shm::open(
        shm_name(channel).as_str(),
        shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
        Mode::from_raw_mode(mode),
    )?;
    // shm_open applies the umask; the caller asked for `mode` exactly.
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
    Ok(File::from(fd))
}

/// Opens an existing segment, read-write or read-only.
pub(crate) fn open_existing(channel: &str, writable: bool) -> io::Result<File> {
    let flags = if writable {
        shm::OFlags::RDWR
    } else {
        shm::OFlags::RDONLY
    };
    let fd = shm::open(shm_name(channel).as_str(), flags, Mode::empty())?;
    Ok(File::from(fd))
}

/// Removes a segment's name; processes that have it mapped keep their mapping.
pub(crate) fn unlink(channel: &str) -> io::Result<()> {
    Ok(shm::unlink(shm_name(channel).as_str())?)
}

/// Removes `channel`'s name if it still names the file `file` was opened
/// from (same device and inode): a segment created afresh under the name
/// since is left alone. (Between the check and the unlink a few
/// microseconds remain in which it could not tell.)
pub(crate) fn unlink_if_same(channel: &str, file: &File) -> io::Result<bool> {
    let ours = rustix::fs::fstat(file)?;
    let now = match rustix::fs::stat(shm_path(channel)) {
        Ok(now) => now,
        Err(rustix::io::Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if (ours.st_dev, ours.st_ino) != (now.st_dev, now.st_ino) {
        return Ok(false);
    }
    unlink(channel)?;
    Ok(true)
}

/// Maps `len` bytes of `file`, shared, read-write or read-only.
pub(crate) fn map(file: &File, len: usize, writable: bool) -> io::Result<MmapRaw> {
    let mut options = MmapOptions::new();
    options.len(len);
    if writable {
        options.map_raw(file)
    } else {
        options.map_raw_read_only(file)
    }
}

/// The channels that have a segment on this machine, sorted.
pub(crate) fn list_channels() -> io::Result<Vec<String>> {
    let mut channels: Vec<String> = std::fs::read_dir(SHM_DIR)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix(SHM_PREFIX)
                .map(str::to_owned)
        })
        .collect();
    channels.sort();
    Ok(channels)
}

/// How a futex wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FutexWait {
    /// Woken, or the word no longer held the expected value, or a signal:
    /// the caller re-checks its condition.
    Returned,
    /// The timeout passed.
    TimedOut,
}

/// Sleeps while `word == expected`, at most `timeout`. Shared (not
/// process-private), so a producer in another process can wake it.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> FutexWait {
    let timeout = futex::Timespec {
        tv_sec: timeout.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: timeout.subsec_nanos().into(),
    };
    match futex::wait(word, futex::Flags::empty(), expected, Some(&timeout)) {
        Err(rustix::io::Errno::TIMEDOUT) => FutexWait::TimedOut,
        // AGAIN: the value had changed; INTR: a signal. Both: re-check.
        Ok(()) | Err(_) => FutexWait::Returned,
    }
}

/// Wakes every process sleeping on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    // A failure here (EFAULT, EINVAL) would mean the word is not mapped,
    // which the segment rules out; sleepers time out in any case.
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process of the
/// machine, so heartbeats and commit times compare across processes.
pub(crate) fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    // Monotonic time is non-negative and fits in u64 nanoseconds for 584 years.
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}

/// CLOCK_MONOTONIC_COARSE nanoseconds: the same clock as [`monotonic_ns`],
/// as of the last scheduler tick (1 to 4 ms behind at most, never ahead),
/// for a fraction of the cost (about 4 ns here against 25 on this VM): for
/// the heartbeat and commit time written with every item, which are read
/// as ages against stall timeouts of hundreds of milliseconds.
pub(crate) fn coarse_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    // As in `monotonic_ns`.
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}

/// A process, identified beyond its pid (pids are reused): its start time
/// in clock ticks since boot, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ProcessId {
    pub(crate) pid: u32,
    pub(crate) start_time: u64,
}

/// This process.
pub(crate) fn current_process() -> ProcessId {
    static CURRENT: OnceLock<ProcessId> = OnceLock::new();
    *CURRENT.get_or_init(|| {
        let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
        ProcessId {
            pid,
            // Our own /proc entry exists while we run.
            start_time: process_start_time(pid).unwrap_or(0),
        }
    })
}

/// Whether the process `id` names is alive: a process with that pid exists
/// and started at that time. Never decided by a missing heartbeat.
///
/// A start time of 0 means "unknown" (the process could not read its own
/// /proc entry): then only the pid's existence is checked, which errs
/// toward alive. A reused pid may keep a dead owner's resources, but a live
/// process is never declared dead, which could let two processes into one
/// lock.
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "for the zone handles and the `datahub` command, next steps"
    )
)]
pub(crate) fn is_alive(id: ProcessId) -> bool {
    if id.pid == 0 {
        return false;
    }
    if id.start_time == 0 {
        return pid_exists(id.pid);
    }
    process_start_time(id.pid) == Some(id.start_time)
}

/// Whether some process has this pid (`kill(pid, 0)`: EPERM means it
/// exists but belongs to another user).
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "for the zone handles and the `datahub` command, next steps"
    )
)]
fn pid_exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// The start time of process `pid`, or `None` if there is none (or it is
/// a zombie: it has exited and only awaits its parent).
pub(crate) fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_start_time(&stat)
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`; `None` for a zombie.
/// The command name (field 2) is in parentheses and may itself contain
/// spaces and parentheses, so fields are counted after the last `)`.
fn parse_stat_start_time(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_ascii_whitespace();
    // Field 3 is the state; field 22 is 19 fields further.
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// This host's boot id (`/proc/sys/kernel/random/boot_id`): it tells the
/// broker whether a producer runs on its host, where pids can be checked.
/// `None` if it cannot be read.
#[cfg_attr(
    not(feature = "broker"),
    allow(dead_code, reason = "only the broker asks")
)]
pub(crate) fn boot_id() -> Option<String> {
    static BOOT_ID: OnceLock<Option<String>> = OnceLock::new();
    BOOT_ID
        .get_or_init(|| {
            let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
            let id = text.trim();
            (!id.is_empty() && id.len() <= 64).then(|| id.to_owned())
        })
        .clone()
}

/// Where a user's sockets go: `$XDG_RUNTIME_DIR`, or `/tmp`.
#[cfg_attr(
    not(feature = "broker"),
    allow(dead_code, reason = "only the broker asks")
)]
pub(crate) fn runtime_dir() -> std::path::PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .filter(|dir| dir.is_absolute() && dir.is_dir())
        .unwrap_or_else(|| std::path::PathBuf::from("/tmp"))
}

/// The identity of a process that has really exited: spawned, identified
/// while it ran (and checked alive), killed, reaped, and checked dead.
#[cfg(test)]
pub(crate) fn exited_process() -> ProcessId {
    let mut child = std::process::Command::new("sleep")
        .arg("10")
        .spawn()
        .unwrap();
    let id = ProcessId {
        pid: child.id(),
        start_time: process_start_time(child.id()).unwrap(),
    };
    assert!(is_alive(id));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!is_alive(id));
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    fn unique(tag: &str) -> String {
        format!("test-os-{tag}-{}", std::process::id())
    }

    #[test]
    #[cfg_attr(miri, ignore = "real system calls (shm, futex, /proc)")]
    fn a_segment_is_created_once_with_exactly_the_mode_asked() {
        let channel = unique("create");
        let _ = unlink(&channel);
        let file = create_exclusive(&channel, 0o600).unwrap();
        file.set_len(4096).unwrap();
        let mode = std::fs::metadata(format!("{SHM_DIR}/{SHM_PREFIX}{channel}"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = create_exclusive(&channel, 0o600).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert!(list_channels().unwrap().contains(&channel));

        let map = map(&file, 4096, true).unwrap();
        let reader = open_existing(&channel, false).unwrap();
        let view = super::map(&reader, 4096, false).unwrap();
        // SAFETY: offset 100 is inside the 4096-byte writable mapping, alive here.
        unsafe { map.as_mut_ptr().wrapping_add(100).write(42) };
        // SAFETY: offset 100 is inside the 4096-byte read-only mapping of the same object.
        let seen = unsafe { view.as_ptr().wrapping_add(100).read() };
        assert_eq!(seen, 42, "both mappings share the same memory");
        unlink(&channel).unwrap();
        assert_eq!(
            open_existing(&channel, false).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "real system calls (shm, futex, /proc)")]
    fn a_futex_sleeper_times_out_or_is_woken() {
        let word = Arc::new(AtomicU32::new(7));
        let start = std::time::Instant::now();
        assert_eq!(
            futex_wait(&word, 7, Duration::from_millis(20)),
            FutexWait::TimedOut
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        // A changed value returns at once.
        assert_eq!(
            futex_wait(&word, 6, Duration::from_secs(5)),
            FutexWait::Returned
        );

        let waker = {
            let word = word.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                word.store(8, Ordering::SeqCst);
                futex_wake_all(&word);
            })
        };
        let mut outcome = FutexWait::Returned;
        while word.load(Ordering::SeqCst) == 7 {
            outcome = futex_wait(&word, 7, Duration::from_secs(10));
        }
        assert_eq!(outcome, FutexWait::Returned);
        waker.join().unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "real system calls (shm, futex, /proc)")]
    fn a_process_is_alive_until_it_exits_and_a_reused_pid_is_not_it() {
        let me = current_process();
        assert_eq!(me.pid, std::process::id());
        assert!(me.start_time > 0 && is_alive(me));
        assert!(!is_alive(ProcessId {
            pid: me.pid,
            start_time: me.start_time + 1
        }));
        // An unknown start time errs toward alive while the pid exists.
        assert!(is_alive(ProcessId {
            pid: me.pid,
            start_time: 0
        }));

        let id = exited_process();
        assert!(
            !is_alive(ProcessId {
                pid: id.pid,
                start_time: 0
            }),
            "a reaped pid does not exist"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "real system calls (shm, futex, /proc)")]
    fn the_monotonic_clock_advances_with_real_time() {
        let before = monotonic_ns();
        std::thread::sleep(Duration::from_millis(10));
        let elapsed = monotonic_ns() - before;
        assert!(
            (10_000_000..5_000_000_000).contains(&elapsed),
            "{elapsed} ns"
        );
    }

    #[test]
    fn stat_lines_with_odd_command_names_are_parsed() {
        let line = "1234 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 19 20";
        assert_eq!(parse_stat_start_time(line), Some(987654));
        assert_eq!(
            parse_stat_start_time("1 (x) Z 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 5"),
            None
        );
        assert_eq!(parse_stat_start_time("garbage"), None);
        assert_eq!(parse_stat_start_time("1 (x) S 2"), None);
    }
}
