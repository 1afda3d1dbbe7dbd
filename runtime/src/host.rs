//! What DataHub knows of the host it runs on, for services built beside
//! the runtime (the discovery broker in `datahub-broker`, tools): where a
//! user's sockets go, the name a channel's segment has, this boot's id and
//! a process's start time. Thin, documented doors onto the runtime's one
//! OS module, so that other crates ask the same questions the same way
//! instead of keeping a second copy of the answers.
//!
//! ```
//! let me = std::process::id();
//! // A process is known beyond its pid (pids are reused) by its start time.
//! assert!(datahub::host::process_start_time(me).is_some());
//! assert_eq!(datahub::host::shm_name("cam0"), "/datahub.cam0");
//! assert!(datahub::host::runtime_dir().is_absolute());
//! ```

use std::path::PathBuf;

use crate::segment::os;

/// Where a user's sockets go: `$XDG_RUNTIME_DIR` when it is an absolute
/// path to a directory, else `/tmp`.
///
/// ```
/// let dir = datahub::host::runtime_dir();
/// assert!(dir.is_dir());
/// ```
pub fn runtime_dir() -> PathBuf {
    os::runtime_dir()
}

/// The POSIX shared-memory name of channel `channel`'s segment:
/// `/datahub.<channel>` (the file `/dev/shm/datahub.<channel>` on Linux).
///
/// ```
/// assert_eq!(datahub::host::shm_name("imu"), "/datahub.imu");
/// ```
pub fn shm_name(channel: &str) -> String {
    os::shm_name(channel)
}

/// This host's boot id (`/proc/sys/kernel/random/boot_id`), read once;
/// `None` if it cannot be read. Two processes with the same boot id run on
/// the same host, in the same boot, so one can check the other's pid.
///
/// ```
/// if let Some(id) = datahub::host::boot_id() {
///     assert!(!id.is_empty() && id.len() <= 64);
/// }
/// ```
pub fn boot_id() -> Option<String> {
    os::boot_id()
}

/// The start time of process `pid` in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), or `None` if there is no such process, it has
/// exited (a zombie), or its entry cannot be read. A pid and its start
/// time name one process even after the pid is reused.
///
/// ```
/// use datahub::host::process_start_time;
///
/// let me = std::process::id();
/// assert_eq!(process_start_time(me), process_start_time(me));
/// assert_eq!(process_start_time(0), None);
/// ```
pub fn process_start_time(pid: u32) -> Option<u64> {
    os::process_start_time(pid)
}
