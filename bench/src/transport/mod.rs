//! The systems compared, behind one interface: an [`Endpoint`] sends
//! items (writing their payload, `payload::fill`) and receives them
//! (reading every byte, `payload::check`), waiting the way its [`Link`]
//! says. Each system opens its endpoints in its own module.

use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

mod datahub;
mod floor;
mod iceoryx;
mod uds;
mod zeromq;

/// A system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub(crate) enum System {
    /// DataHub: a lossless (Block) ring of raw `Bytes` slots, written and
    /// read in place.
    #[value(name = "datahub")]
    DataHub,
    /// iceoryx2 publish-subscribe of `[u8]` slices, loaned and written in place.
    Iceoryx2,
    /// ZeroMQ PAIR sockets over `ipc://`.
    #[value(name = "zeromq")]
    ZeroMq,
    /// A Unix domain stream socket, polled nonblocking.
    Uds,
    /// The floor: for latency two processes and two cache-line-padded
    /// atomics in `/dev/shm`; for throughput one process writing then
    /// reading the same bytes.
    Floor,
}

impl System {
    /// The name in tables, JSON and the chart.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::DataHub => "DataHub",
            Self::Iceoryx2 => "iceoryx2",
            Self::ZeroMq => "ZeroMQ",
            Self::Uds => "Unix socket",
            Self::Floor => "floor",
        }
    }
}

/// How an endpoint waits for an item, or for room to send one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Waiting {
    /// Busy-poll: DataHub's `WaitStrategy::busy_poll()`, iceoryx2's
    /// `receive()` in a loop, ZeroMQ's `DONTWAIT` in a loop, a nonblocking
    /// socket in a loop.
    Spin,
    /// DataHub's default: spin briefly, yield, then sleep on the futex.
    Sleep,
    /// The system's blocking calls (ZeroMQ: flags 0, so its I/O threads run).
    Block,
}

/// Where an endpoint sits in its pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Side {
    /// Ping-pong: the side that starts (sends on `a2b`, receives on `b2a`).
    A,
    /// Ping-pong: the side that answers.
    B,
    /// Streaming: the producer (sends only).
    Producer,
    /// Streaming: a consumer (receives only).
    Consumer,
}

/// Everything both ends of a link agree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Link {
    /// The system.
    pub(crate) system: System,
    /// Unique per run and case (includes the parent's pid): the root of
    /// every channel, service, socket and file name.
    pub(crate) tag: String,
    /// Payload bytes per item (a multiple of 8).
    pub(crate) size: usize,
    /// Ring slots, subscriber buffer or high-water mark.
    pub(crate) depth: u32,
    /// Consumers a producer waits for before its first send.
    pub(crate) consumers: u32,
    /// DataHub: `ChecksumPolicy::Enforced` instead of `None`.
    pub(crate) checksum: bool,
    /// How the ends wait.
    pub(crate) waiting: Waiting,
}

/// Longest a single send or receive may wait: a peer that stops answering
/// fails the case instead of hanging it.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// One process's end of a link.
pub(crate) trait Endpoint {
    /// Writes the payload of item `seq` and publishes it, waiting (up to
    /// [`IO_TIMEOUT`]) for room.
    fn send(&mut self, seq: u64) -> Result<()>;

    /// Waits (up to [`IO_TIMEOUT`]) for the next item, reads its whole
    /// payload and returns its sequence number.
    fn recv(&mut self) -> Result<u64>;
}

/// Opens `side` of `link`, and waits until its peers are connected (a
/// producer waits for `link.consumers` consumers), so that nothing sent
/// is lost before the timed part starts.
pub(crate) fn open(link: &Link, side: Side) -> Result<Box<dyn Endpoint>> {
    match link.system {
        System::DataHub => datahub::open(link, side),
        System::Iceoryx2 => iceoryx::open(link, side),
        System::ZeroMq => zeromq::open(link, side),
        System::Uds => uds::open(link, side),
        System::Floor => floor::open(link, side),
    }
}

/// A consumer has received everything (outside the timed part): says so
/// to the producer, through a file beside the link's others.
pub(crate) fn say_done(link: &Link) -> Result<()> {
    let path = format!("/tmp/{}-done-{}", link.tag, std::process::id());
    std::fs::write(&path, b"").map_err(|e| anyhow::anyhow!("writing {path}: {e}"))
}

/// The producer waits until all `link.consumers` consumers said they are
/// done, so that it closes nothing that still carries their items.
pub(crate) fn wait_done(link: &Link) -> Result<()> {
    let prefix = format!("{}-done-", link.tag);
    retry("waiting for the consumers to finish", || {
        let done = std::fs::read_dir("/tmp")?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count();
        anyhow::ensure!(
            done >= link.consumers as usize,
            "{done} of {} consumers done",
            link.consumers
        );
        Ok(())
    })
}

/// Removes what a case may have left behind if a peer was killed (its
/// channels, sockets and files), by the tag's prefix.
pub(crate) fn sweep(tag_prefix: &str) {
    for dir in ["/dev/shm", "/tmp"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = name.starts_with(tag_prefix)
                || name
                    .strip_prefix("datahub.")
                    .is_some_and(|n| n.starts_with(tag_prefix));
            if ours {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Calls `poll` until it returns `Some`, spinning, for at most [`IO_TIMEOUT`]
/// (the clock is read every 1024 polls, so it costs the loop nothing).
pub(crate) fn spin_until<T>(what: &str, mut poll: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let started = std::time::Instant::now();
    let mut round: u32 = 0;
    loop {
        if let Some(found) = poll()? {
            return Ok(found);
        }
        round = round.wrapping_add(1);
        if round.is_multiple_of(1024) && started.elapsed() > IO_TIMEOUT {
            anyhow::bail!("{what}: nothing after {IO_TIMEOUT:?}");
        }
        std::hint::spin_loop();
    }
}

/// Retries `attempt` (opening a peer's end that may not exist yet) every
/// millisecond for up to [`IO_TIMEOUT`].
pub(crate) fn retry<T>(what: &str, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    let started = std::time::Instant::now();
    loop {
        match attempt() {
            Ok(found) => return Ok(found),
            Err(e) if started.elapsed() > IO_TIMEOUT => {
                return Err(e.context(format!("{what}: gave up after {IO_TIMEOUT:?}")));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}
