//! The latency floor: two processes ping-pong a counter through two
//! atomics, each on its own cache line, in a file in `/dev/shm`. Side A
//! stores `seq + 1` in `ping` and spins on `pong`; side B answers. No
//! payload, no protocol: two cache-line transfers per round trip, which
//! no shared-memory transport can beat on this machine.

use std::fs::OpenOptions;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail, ensure};
use memmap2::MmapMut;

use super::{Endpoint, Link, Side, retry, spin_until};

/// Bytes of the file: two 64-byte lines (a page, as mapped anyway).
const FILE_LEN: u64 = 4096;
/// The lines' offsets: far enough apart for adjacent-line prefetch too.
const PING: usize = 0;
const PONG: usize = 128;

struct Floor {
    // The mapping the atomics live in; kept mapped while `self` lives.
    map: MmapMut,
    /// Line this side stores into, and the one it spins on.
    mine: usize,
    theirs: usize,
    seen: u64,
    path: Option<String>,
}

pub(super) fn open(link: &Link, side: Side) -> Result<Box<dyn Endpoint>> {
    let path = format!("/dev/shm/{}-floor", link.tag);
    let (file, mine, theirs, owned) = match side {
        Side::A => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .with_context(|| format!("creating {path}"))?;
            file.set_len(FILE_LEN)?;
            (file, PING, PONG, Some(path))
        }
        Side::B => {
            let file = retry(&format!("opening {path}"), || {
                let file = OpenOptions::new().read(true).write(true).open(&path)?;
                ensure!(file.metadata()?.len() == FILE_LEN, "{path} not sized yet");
                Ok(file)
            })?;
            (file, PONG, PING, None)
        }
        Side::Producer | Side::Consumer => {
            bail!("the two-process floor is a ping-pong; the streaming floor is one process")
        }
    };
    // SAFETY: a file of FILE_LEN bytes that only the two benchmark peers
    // map; it is accessed only through atomics (`Floor::line`).
    let map = unsafe { MmapMut::map_mut(&file) }.context("mapping the floor's file")?;
    Ok(Box::new(Floor {
        map,
        mine,
        theirs,
        seen: 0,
        path: owned,
    }))
}

impl Floor {
    fn line(&self, offset: usize) -> &AtomicU64 {
        let ptr = self
            .map
            .as_ptr()
            .wrapping_add(offset)
            .cast::<u64>()
            .cast_mut();
        // SAFETY: `offset + 8 <= FILE_LEN`, the mapping is page-aligned so
        // the word is 8-aligned, it lives as long as `&self`, and every
        // process touches it only atomically.
        unsafe { AtomicU64::from_ptr(ptr) }
    }
}

impl Endpoint for Floor {
    fn send(&mut self, seq: u64) -> Result<()> {
        // Release: pairs with the Acquire load in the peer's `recv`.
        self.line(self.mine).store(seq + 1, Ordering::Release);
        Ok(())
    }

    fn recv(&mut self) -> Result<u64> {
        let seen = self.seen;
        let line = self.line(self.theirs);
        // Acquire: pairs with the Release store in the peer's `send`.
        let now = spin_until("floor receive", || {
            let v = line.load(Ordering::Acquire);
            Ok((v != seen).then_some(v))
        })?;
        self.seen = now;
        Ok(now - 1)
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}
