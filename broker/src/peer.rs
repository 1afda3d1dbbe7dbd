//! Who sent a request: the ZeroMQ connection it came on, and what the
//! operating system says of the process at the other end. On `ipc://`
//! that is the peer's credentials (`SO_PEERCRED`: uid, gid, pid, given by
//! the kernel, so a client cannot lie about them); on `tcp://` only its IP
//! address. The broker ties registrations and quotas to these
//! (`docs/broker.md`, "Security"). The Linux-specific calls of the broker
//! live here, not in the runtime's `segment/os.rs`.

use std::fmt;

/// A peer's credentials, as the kernel gave them when it connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Credentials {
    /// Its effective user id.
    pub(crate) uid: u32,
    /// Its process id (of the process that connected).
    pub(crate) pid: u32,
}

/// What is known of the process behind a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// An `ipc://` peer, with the kernel's word on who it is.
    Local(Credentials),
    /// An `ipc://` peer whose credentials could not be read (its
    /// connection closed as its request was read, or libzmq gave no
    /// descriptor): trusted with nothing that needs them.
    Unverified(String),
    /// A `tcp://` peer: its IP address, as it reached the broker.
    Address(String),
    /// Nothing known (a transport or platform without credentials).
    Anonymous,
}

/// The client that sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    /// The ROUTER routing id of its connection.
    pub(crate) connection: Vec<u8>,
    /// What the OS says of it.
    pub(crate) identity: Identity,
}

/// What a quota counts registrations by: something a client cannot
/// multiply at will (its user on `ipc://`, its address on `tcp://`), or,
/// where nothing better is known, its connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Client {
    /// Every process of this user.
    User(u32),
    /// Every connection from this address.
    Address(String),
    /// One connection.
    Connection(Vec<u8>),
}

impl Peer {
    /// The client its registrations count against.
    pub(crate) fn client(&self) -> Client {
        match &self.identity {
            Identity::Local(creds) => Client::User(creds.uid),
            Identity::Address(address) => Client::Address(address.clone()),
            Identity::Unverified(_) | Identity::Anonymous => {
                Client::Connection(self.connection.clone())
            }
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // No name: this is written for every registration logged.
            Self::User(uid) => write!(f, "user uid {uid}"),
            Self::Address(address) => write!(f, "address {address}"),
            Self::Connection(id) => {
                write!(f, "connection ")?;
                id.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// What the broker knows of the peer whose connection has routing id
/// `connection` and that sent `message` (a part of a request it sent, with
/// the properties libzmq gives it) over `transport` (`ipc`, `tcp`, ...).
pub(crate) fn identify(connection: Vec<u8>, message: &mut zmq::Message, transport: &str) -> Peer {
    let identity = match transport {
        // libzmq records the connection's descriptor as the private
        // property `__fd` (what ZMQ_SRCFD reads). The vendored libzmq is
        // built without ZMQ_HAVE_SO_PEERCRED, so its `Peer-Address` is
        // only "localhost" on ipc: the credentials are asked here.
        "ipc" => match message.gets("__fd").map(str::parse::<i32>) {
            Some(Ok(fd)) => match peer_credentials(fd) {
                Ok(creds) => Identity::Local(creds),
                Err(e) => Identity::Unverified(format!("SO_PEERCRED: {e}")),
            },
            Some(Err(_)) => Identity::Unverified("an unreadable descriptor".into()),
            // libzmq gives every part a client sent these properties (with
            // glibc; with musl, `getnameinfo` fails on AF_UNIX and there are
            // none): without them, trust nothing rather than everything.
            None => Identity::Unverified("libzmq gave no connection properties".into()),
        },
        "tcp" => match message.gets("Peer-Address") {
            Some(address) if !address.is_empty() => Identity::Address(address.to_owned()),
            _ => Identity::Anonymous,
        },
        _ => Identity::Anonymous,
    };
    Peer {
        connection,
        identity,
    }
}

/// The credentials of the peer of socket `fd`, a descriptor libzmq owns.
fn peer_credentials(fd: i32) -> std::io::Result<Credentials> {
    if fd < 0 {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    // `fd` is the descriptor of the connection the message being read came
    // on, owned by libzmq's I/O thread. Had the peer disconnected since,
    // libzmq may have closed it: the call below then fails (EBADF,
    // ENOTSOCK; the request is treated as unverified), or, if a newer
    // connection of this broker reused the number, it reads that
    // connection's credentials. docs/broker.md states this residue.
    // SAFETY: borrowed for one getsockopt(2), which neither closes nor
    // changes the descriptor and writes only rustix's own buffer.
    let fd = unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) };
    let creds = rustix::net::sockopt::socket_peercred(fd)?;
    Ok(Credentials {
        uid: creds.uid.as_raw(),
        pid: creds.pid.as_raw_pid().unsigned_abs(),
    })
}

/// The real and effective user ids of process `pid`, from
/// `/proc/PID/status`; `None` if there is no such process.
pub(crate) fn process_uids(pid: u32) -> Option<[u32; 2]> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    let mut ids = line.split_whitespace().map(str::parse::<u32>);
    Some([ids.next()?.ok()?, ids.next()?.ok()?])
}

/// This process's effective user id.
pub(crate) fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `name (uid N)`, or `uid N` for a user `/etc/passwd` does not name.
pub(crate) fn user_label(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// The name `/etc/passwd` gives `uid`.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "real system calls")]
    fn the_credentials_of_a_unix_socket_peer_are_this_process_and_its_user() {
        use std::os::fd::AsRawFd;
        let (a, _b) = UnixStream::pair().unwrap();
        let creds = peer_credentials(a.as_raw_fd()).unwrap();
        assert_eq!(creds.pid, std::process::id());
        assert_eq!(creds.uid, my_uid());
        assert!(peer_credentials(-1).is_err());
    }

    #[test]
    #[cfg_attr(miri, ignore = "real system calls")]
    fn a_process_has_uids_and_root_has_a_name() {
        let [real, effective] = process_uids(std::process::id()).unwrap();
        assert_eq!(effective, my_uid());
        let _ = real;
        assert!(user_label(0).contains("uid 0"));
        assert_eq!(Client::User(0).to_string(), "user uid 0");
        assert_eq!(
            Client::Connection(vec![0, 0xab]).to_string(),
            "connection 00ab"
        );
    }
}
