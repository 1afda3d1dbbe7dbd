//! Whether an `ipc://` socket path is safe to bind or connect to: another
//! user who owns the socket file, or can replace it (owns a directory on
//! the way, or may write one that has no sticky bit), would receive what
//! is meant for our broker. Under `/tmp` (the default when
//! `XDG_RUNTIME_DIR` is unset) anyone can create the file first.
//! `docs/broker.md`, "Security".

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::peer::{my_uid, user_label};

/// The sticky bit: in such a directory only an entry's owner (or the
/// directory's, or root) may remove or rename it.
const STICKY: u32 = 0o1000;

/// Who may own a broker's socket file and the directories above it: this
/// process's user, root, and any user the caller chose to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trusted {
    me: u32,
    also: Vec<u32>,
}

impl Trusted {
    /// This process's user and root.
    pub(crate) fn me() -> Self {
        Self {
            me: my_uid(),
            also: Vec::new(),
        }
    }

    /// And `uid` too.
    pub(crate) fn and(mut self, uid: u32) -> Self {
        self.also.push(uid);
        self
    }

    fn contains(&self, uid: u32) -> bool {
        uid == 0 || uid == self.me || self.also.contains(&uid)
    }

    fn describe(&self) -> String {
        let mut who = vec![format!("you ({})", user_label(self.me))];
        who.extend(self.also.iter().map(|&uid| user_label(uid)));
        if self.me != 0 {
            who.push("root".into());
        }
        who.join(" or ")
    }
}

/// Checks the socket path of an `ipc://` endpoint: its file, if there is
/// one, must be a socket owned by a trusted user; every directory above it
/// must be owned by a trusted user and not writable by group or others
/// unless sticky. Whether a socket is there; the error says whose the
/// path is and what to do.
pub(crate) fn check(path: &Path, trusted: &Trusted) -> io::Result<bool> {
    let refuse = |what: String| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{what}: another user's broker there would receive what is meant for yours; use a path in a \
                 directory only you (or root) can write, such as $XDG_RUNTIME_DIR (set XDG_RUNTIME_DIR, or \
                 DATAHUB_BROKER=ipc://PATH), or have the file removed by its owner or root"
            ),
        )
    };
    let there = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() || meta.file_type().is_symlink() => {
            if !trusted.contains(meta.uid()) {
                return Err(refuse(format!(
                    "the socket file {} is owned by {}, not by {}",
                    path.display(),
                    user_label(meta.uid()),
                    trusted.describe()
                )));
            }
            if meta.file_type().is_symlink() {
                // Follow it once; a link to a link is checked in turn.
                let target = std::fs::read_link(path)?;
                let target = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
                if target != path {
                    check_directories(path, trusted, &refuse)?;
                    return check(&target, trusted);
                }
            }
            true
        }
        Ok(meta) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} is {}, not a socket (libzmq would remove it to bind there): choose another path",
                    path.display(),
                    kind(&meta)
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    check_directories(path, trusted, &refuse)?;
    Ok(there)
}

/// Every directory above `path`, as written and with symbolic links
/// resolved, is owned by a trusted user and not open to others' writes.
fn check_directories(
    path: &Path,
    trusted: &Trusted,
    refuse: &dyn Fn(String) -> io::Error,
) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let resolved = match std::fs::canonicalize(&parent) {
        Ok(resolved) => Some(resolved),
        // A directory that does not exist yet holds no socket: bind and
        // connect will say so, and a hub checks again before it sends.
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let written = parent.ancestors().map(Path::to_path_buf);
    let real = resolved
        .iter()
        .flat_map(|r| r.ancestors().map(Path::to_path_buf));
    for dir in written.chain(real) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let meta = match std::fs::symlink_metadata(&dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !trusted.contains(meta.uid()) {
            return Err(refuse(format!(
                "{} {} is owned by {}, who can replace the socket {}",
                if meta.file_type().is_symlink() {
                    "the symbolic link"
                } else {
                    "the directory"
                },
                dir.display(),
                user_label(meta.uid()),
                path.display()
            )));
        }
        let mode = meta.mode();
        if meta.is_dir() && mode & 0o022 != 0 && mode & STICKY == 0 {
            let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
                (true, true) => "its group and every user",
                (true, false) => "its group",
                _ => "every user",
            };
            return Err(refuse(format!(
                "the directory {} (mode {:o}) is writable by {who} without the sticky bit, so any of them can \
                 replace the socket {}",
                dir.display(),
                mode & 0o7777,
                path.display()
            )));
        }
    }
    Ok(())
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_fifo() {
        "a FIFO"
    } else {
        "a device"
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, chown, lchown, symlink};
    use std::os::unix::net::UnixListener;

    use super::*;

    /// A fresh directory of ours under /tmp, with `mode`.
    fn dir(tag: &str, mode: u32) -> PathBuf {
        let dir = PathBuf::from(format!(
            "/tmp/datahub-socket-path-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        dir
    }

    #[test]
    #[cfg_attr(miri, ignore = "real system calls")]
    fn a_path_of_our_own_is_fine_whether_or_not_the_socket_exists() {
        let d = dir("own", 0o700);
        let path = d.join("b.sock");
        assert!(!check(&path, &Trusted::me()).unwrap());
        let _listener = UnixListener::bind(&path).unwrap();
        assert!(check(&path, &Trusted::me()).unwrap());
        // /tmp itself: sticky, root's.
        let absent = Path::new("/tmp/datahub-socket-path-absent.sock");
        assert!(!check(absent, &Trusted::me()).unwrap());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "real system calls")]
    fn a_directory_open_to_others_without_the_sticky_bit_is_refused() {
        for (mode, who) in [(0o777, "every user"), (0o770, "its group")] {
            let d = dir("open", mode);
            let err = check(&d.join("b.sock"), &Trusted::me()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
            assert!(err.to_string().contains(who), "{err}");
            assert!(err.to_string().contains("XDG_RUNTIME_DIR"), "{err}");
            std::fs::remove_dir_all(d).unwrap();
        }
        let d = dir("sticky", 0o1777);
        check(&d.join("b.sock"), &Trusted::me()).unwrap();
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "real system calls")]
    fn something_that_is_not_a_socket_is_never_bound_over() {
        let d = dir("file", 0o700);
        let path = d.join("b.sock");
        std::fs::write(&path, b"precious").unwrap();
        let err = check(&path, &Trusted::me()).unwrap_err();
        assert!(err.to_string().contains("a regular file"), "{err}");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "real system calls")]
    fn files_directories_and_links_of_another_user_are_refused_naming_the_user() {
        if my_uid() != 0 {
            eprintln!("skipped: only root can give files to another user");
            return;
        }
        let other = 54_321;
        let d = dir("theirs", 0o755);
        let path = d.join("b.sock");
        let listener = UnixListener::bind(&path).unwrap();
        chown(&path, Some(other), None).unwrap();
        let err = check(&path, &Trusted::me()).unwrap_err();
        assert!(err.to_string().contains("uid 54321"), "{err}");
        assert!(err.to_string().contains("the socket file"), "{err}");
        check(&path, &Trusted::me().and(other)).unwrap();
        drop(listener);
        std::fs::remove_file(&path).unwrap();

        chown(&d, Some(other), None).unwrap();
        let err = check(&path, &Trusted::me()).unwrap_err();
        assert!(err.to_string().contains("the directory"), "{err}");
        chown(&d, Some(0), None).unwrap();

        let link = d.join("link");
        symlink("/tmp", &link).unwrap();
        lchown(&link, Some(other), None).unwrap();
        let err = check(&link.join("b.sock"), &Trusted::me()).unwrap_err();
        assert!(err.to_string().contains("the symbolic link"), "{err}");
        std::fs::remove_dir_all(d).unwrap();
    }
}
