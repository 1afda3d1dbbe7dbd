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

/// What a name in `/dev/shm` is, by `lstat`/`fstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl FileKind {
    fn of(mode: u32) -> Self {
        match rustix::fs::FileType::from_raw_mode(mode) {
            rustix::fs::FileType::RegularFile => Self::Regular,
            rustix::fs::FileType::Directory => Self::Directory,
            rustix::fs::FileType::Symlink => Self::Symlink,
            rustix::fs::FileType::Fifo => Self::Fifo,
            rustix::fs::FileType::Socket => Self::Socket,
            rustix::fs::FileType::CharacterDevice => Self::CharDevice,
            rustix::fs::FileType::BlockDevice => Self::BlockDevice,
            _ => Self::Unknown,
        }
    }

    /// "a FIFO (named pipe)", for messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Regular => "a regular file",
            Self::Directory => "a directory",
            Self::Symlink => "a symbolic link",
            Self::Fifo => "a FIFO (named pipe)",
            Self::Socket => "a socket",
            Self::CharDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Unknown => "a file of an unknown type",
        }
    }
}

/// What `fstat` says of an opened segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileFacts {
    /// The owner.
    pub(crate) uid: u32,
    /// The permission bits (`mode & 0o7777`).
    pub(crate) mode: u32,
    /// The size in bytes.
    pub(crate) len: u64,
    dev: u64,
    ino: u64,
}

impl FileFacts {
    fn of(stat: &rustix::fs::Stat) -> Self {
        Self {
            uid: stat.st_uid,
            mode: stat.st_mode & 0o7777,
            len: u64::try_from(stat.st_size).unwrap_or(0),
            dev: stat.st_dev,
            ino: stat.st_ino,
        }
    }

    /// Whether this process's effective user owns the file.
    pub(crate) fn is_ours(&self) -> bool {
        self.uid == effective_uid()
    }

    /// "user alice (uid 1001)", for messages.
    pub(crate) fn owner(&self) -> String {
        describe_user(self.uid)
    }
}

/// Why a segment file could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// No file of that name.
    NotFound,
    /// The name is not a regular file (never opened, so a FIFO cannot
    /// block us and a device cannot be woken).
    NotRegular(FileKind),
    /// The OS refused (permissions, ...).
    Io(io::Error),
}

/// Opens the file of channel `channel`'s segment, read-write or
/// read-only, as nothing but a regular file: the name is first looked at
/// without following a symbolic link (anything that is not a regular file
/// is refused unopened), then opened with `O_NOFOLLOW | O_NONBLOCK |
/// O_NOCTTY` (a swap between the look and the open cannot make us follow a
/// link or block on a FIFO), and the opened file checked again.
pub(crate) fn open_segment(channel: &str, writable: bool) -> Result<(File, FileFacts), OpenError> {
    use rustix::fs::{AtFlags, CWD, OFlags};
    let path = shm_path(channel);
    let errno = |e: rustix::io::Errno| match e {
        rustix::io::Errno::NOENT => OpenError::NotFound,
        rustix::io::Errno::LOOP => OpenError::NotRegular(FileKind::Symlink),
        other => OpenError::Io(other.into()),
    };
    let seen = rustix::fs::statat(CWD, &path, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
    let kind = FileKind::of(seen.st_mode);
    if kind != FileKind::Regular {
        return Err(OpenError::NotRegular(kind));
    }
    let access = if writable {
        OFlags::RDWR
    } else {
        OFlags::RDONLY
    };
    let fd = rustix::fs::openat(
        CWD,
        &path,
        access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        // Replaced by something that is not a file since we looked.
        rustix::io::Errno::NXIO | rustix::io::Errno::ISDIR => {
            OpenError::NotRegular(FileKind::Unknown)
        }
        other => errno(other),
    })?;
    let stat = rustix::fs::fstat(&fd).map_err(errno)?;
    let kind = FileKind::of(stat.st_mode);
    if kind != FileKind::Regular {
        return Err(OpenError::NotRegular(kind));
    }
    Ok((File::from(fd), FileFacts::of(&stat)))
}

/// What `fstat` says of `file` now.
pub(crate) fn file_facts(file: &File) -> io::Result<FileFacts> {
    Ok(FileFacts::of(&rustix::fs::fstat(file)?))
}

/// Creates a new segment file in `/dev/shm` with no name yet (`O_TMPFILE`),
/// exactly `mode` (the umask does not apply), and `len` bytes reserved:
/// tmpfs allocates every page now (`fallocate`), so a full `/dev/shm`
/// fails here with `StorageFull` instead of killing the producer with
/// SIGBUS at its first write to a page it could not back. The file gets
/// its channel's name only when complete ([`publish`]), so no process ever
/// sees a segment being created.
pub(crate) fn create_unnamed(len: u64, mode: u32) -> io::Result<File> {
    use rustix::fs::{CWD, FallocateFlags, OFlags};
    let fd = rustix::fs::openat(
        CWD,
        SHM_DIR,
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )?;
    // The umask applied to the mode above; the caller asked for `mode`.
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
    match rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, len) {
        Ok(()) => {}
        // A filesystem without fallocate: size it, then write a byte of
        // each page, which allocates it (or fails with ENOSPC) the same.
        Err(rustix::io::Errno::OPNOTSUPP) => {
            let file = File::from(fd);
            file.set_len(len)?;
            let mut at = 0;
            while at < len {
                std::os::unix::fs::FileExt::write_all_at(&file, &[0], at)?;
                at += 4096;
            }
            return Ok(file);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(File::from(fd))
}

/// Gives the unnamed `file` ([`create_unnamed`]) channel `channel`'s name,
/// atomically: fails with `AlreadyExists` when the name is taken (by a
/// file, a link, anything).
pub(crate) fn publish(file: &File, channel: &str) -> io::Result<()> {
    use rustix::fs::{AtFlags, CWD};
    use std::os::fd::AsRawFd;
    // linkat through /proc/self/fd (open(2), O_TMPFILE): AT_EMPTY_PATH
    // would need CAP_DAC_READ_SEARCH.
    let source = format!("/proc/self/fd/{}", file.as_raw_fd());
    rustix::fs::linkat(
        CWD,
        &source,
        CWD,
        shm_path(channel),
        AtFlags::SYMLINK_FOLLOW,
    )?;
    Ok(())
}

/// Bytes free for shared memory (in `/dev/shm`), when the OS says.
pub(crate) fn shm_free_bytes() -> Option<u64> {
    let dir = File::open(SHM_DIR).ok()?;
    let vfs = rustix::fs::fstatvfs(&dir).ok()?;
    vfs.f_bavail.checked_mul(vfs.f_frsize)
}

/// Removes `channel`'s name if it still names the file `file` was opened
/// from (same device and inode, not followed through a link) and that file
/// is this user's: a segment created afresh under the name since, or a
/// file of another user, is left alone. (Between the check and the unlink
/// a few microseconds remain in which it could not tell.)
pub(crate) fn unlink_if_same(channel: &str, file: &File) -> io::Result<bool> {
    let ours = file_facts(file)?;
    if !ours.is_ours() {
        return Ok(false);
    }
    let now = match rustix::fs::statat(
        rustix::fs::CWD,
        shm_path(channel),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    ) {
        Ok(now) => FileFacts::of(&now),
        Err(rustix::io::Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if (ours.dev, ours.ino) != (now.dev, now.ino) {
        return Ok(false);
    }
    unlink(channel)?;
    Ok(true)
}

/// Whether `channel`'s name still leads to `file` (`None`), or now to
/// another file (`Some(true)`), or to nothing (`Some(false)`).
pub(crate) fn name_moved(channel: &str, file: &File) -> Option<bool> {
    let ours = file_facts(file).ok()?;
    match rustix::fs::statat(
        rustix::fs::CWD,
        shm_path(channel),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    ) {
        Ok(now) if (now.st_dev, now.st_ino) == (ours.dev, ours.ino) => None,
        Ok(_) => Some(true),
        Err(_) => Some(false),
    }
}

/// Removes a segment's name; processes that have it mapped keep their
/// mapping. Only for tests and for names whose file was proved ours
/// ([`unlink_if_same`]).
pub(crate) fn unlink(channel: &str) -> io::Result<()> {
    Ok(shm::unlink(shm_name(channel).as_str())?)
}

/// This process's effective user id.
pub(crate) fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// "user alice (uid 1001)", or "uid 1001" when `/etc/passwd` does not
/// name it.
pub(crate) fn describe_user(uid: u32) -> String {
    let name = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let id = fields.nth(1)?.parse::<u32>().ok()?;
                (id == uid).then(|| name.to_owned())
            })
        });
    match name {
        Some(name) => format!("user {name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// Makes `len` bytes of `map` from `offset` (page-aligned) read-only for
/// this process: a consumer maps the slots it only reads without write
/// access, so a stray write of its own faults instead of corrupting items.
pub(crate) fn protect_read_only(map: &MmapRaw, offset: usize, len: usize) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    assert!(
        offset.is_multiple_of(4096) && offset.checked_add(len).is_some_and(|end| end <= map.len()),
        "protect_read_only({offset}, {len}) on a mapping of {} bytes",
        map.len()
    );
    // SAFETY: the range lies inside the mapping (asserted), which this
    // process owns; dropping write access changes no byte, and the caller
    // never writes there (only `&` views of committed slots reach it).
    unsafe {
        rustix::mm::mprotect(
            map.as_mut_ptr().wrapping_add(offset).cast(),
            len,
            rustix::mm::MprotectFlags::READ,
        )?;
    }
    Ok(())
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

/// 32 random bytes from the kernel (`getrandom`): a segment's
/// incarnation nonce.
pub(crate) fn random_nonce() -> io::Result<[u8; 32]> {
    let mut nonce = [0u8; 32];
    let mut filled = 0;
    while filled < nonce.len() {
        // Up to 256 bytes never come short from the urandom pool once it
        // is initialized; the loop covers an interrupted call all the same.
        match rustix::rand::getrandom(&mut nonce[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(nonce)
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
#[inline]
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
#[inline]
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
/// lock or make a producer drop a healthy consumer. So is a /proc entry
/// that exists but cannot be read now (no file descriptor left, no memory):
/// alive, until it can be told.
pub(crate) fn is_alive(id: ProcessId) -> bool {
    if id.pid == 0 {
        return false;
    }
    if id.start_time == 0 {
        return pid_exists(id.pid);
    }
    match read_start_time(id.pid) {
        Ok(Some(start)) => start == id.start_time,
        Ok(None) => false,
        Err(_) => true,
    }
}

/// Whether some process has this pid (`kill(pid, 0)`: EPERM means it
/// exists but belongs to another user).
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
/// a zombie: it has exited and only awaits its parent), or if its entry
/// cannot be read.
pub(crate) fn process_start_time(pid: u32) -> Option<u64> {
    read_start_time(pid).ok().flatten()
}

/// The start time of process `pid`: `Ok(None)` when there is no such
/// process (or a zombie), `Err` when its /proc entry could not be read for
/// another reason (then nothing is known).
fn read_start_time(pid: u32) -> io::Result<Option<u64>> {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => Ok(parse_stat_start_time(&stat)),
        // ESRCH: the process exited while its entry was read.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(3) => Ok(None),
        Err(e) => Err(e),
    }
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
/// broker whether a producer runs on its host, where pids can be checked,
/// and it is sealed with a secret channel's producer.
/// `None` if it cannot be read.
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
    fn a_segment_is_named_once_complete_with_exactly_the_mode_asked() {
        let channel = unique("create");
        let _ = unlink(&channel);
        let file = create_unnamed(8192, 0o600).unwrap();
        assert!(
            !list_channels().unwrap().contains(&channel),
            "no name before publish"
        );
        assert_eq!(file_facts(&file).unwrap().len, 8192, "reserved in full");
        publish(&file, &channel).unwrap();
        let mode = std::fs::metadata(shm_path(&channel))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = create_unnamed(4096, 0o600).unwrap();
        let err = publish(&again, &channel).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(list_channels().unwrap().contains(&channel));

        let map = map(&file, 4096, true).unwrap();
        let (reader, facts) = open_segment(&channel, false).unwrap();
        assert!(facts.is_ours());
        assert_eq!((facts.mode, facts.len), (0o600, 8192));
        let view = super::map(&reader, 4096, false).unwrap();
        // SAFETY: offset 100 is inside the 4096-byte writable mapping, alive here.
        unsafe { map.as_mut_ptr().wrapping_add(100).write(42) };
        // SAFETY: offset 100 is inside the 4096-byte read-only mapping of the same object.
        let seen = unsafe { view.as_ptr().wrapping_add(100).read() };
        assert_eq!(seen, 42, "both mappings share the same memory");
        assert_eq!(name_moved(&channel, &reader), None);
        assert!(unlink_if_same(&channel, &reader).unwrap());
        assert_eq!(name_moved(&channel, &reader), Some(false));
        assert!(matches!(
            open_segment(&channel, false),
            Err(OpenError::NotFound)
        ));
    }

    #[test]
    #[cfg_attr(miri, ignore = "real system calls (shm, futex, /proc)")]
    fn names_that_are_not_regular_files_are_refused_unopened() {
        let channel = unique("kinds");
        let path = shm_path(&channel);
        let _ = std::fs::remove_file(&path);
        // A FIFO: opening it for reading would block without O_NONBLOCK.
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        for writable in [false, true] {
            assert!(matches!(
                open_segment(&channel, writable),
                Err(OpenError::NotRegular(FileKind::Fifo))
            ));
        }
        std::fs::remove_file(&path).unwrap();
        // A symbolic link to a regular file: not followed.
        let target = std::env::temp_dir().join(format!("{channel}.target"));
        std::fs::write(&target, [0u8; 4096]).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(matches!(
            open_segment(&channel, true),
            Err(OpenError::NotRegular(FileKind::Symlink))
        ));
        assert!(
            !unlink_if_same(&channel, &File::open(&target).unwrap()).unwrap(),
            "the link is not the file it leads to"
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(&target).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(
            open_segment(&channel, false),
            Err(OpenError::NotRegular(FileKind::Directory))
        ));
        std::fs::remove_dir(&path).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "real system calls (getrandom)")]
    fn nonces_are_random() {
        let (a, b) = (random_nonce().unwrap(), random_nonce().unwrap());
        assert_ne!(a, b);
        assert_ne!(a, [0; 32]);
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
