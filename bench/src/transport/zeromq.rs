//! ZeroMQ (the `zmq` crate, libzmq built from source) PAIR sockets over
//! `ipc://`: one socket, both directions, for ping-pong; producer to
//! consumer for streaming. The payload is written into a `zmq::Message`
//! of the payload size (no extra user-side copy) and read from a reused
//! received `Message`; libzmq's I/O threads and the kernel copy it on
//! the way. Busy-polling is `DONTWAIT` in a loop; `Waiting::Block` uses
//! the blocking calls (bounded by socket timeouts).

use anyhow::{Context, Result, bail, ensure};

use super::{Endpoint, IO_TIMEOUT, Link, Side, Waiting, retry, spin_until};
use crate::payload;

struct ZeroMq {
    // Field order is drop order: the socket before its context.
    socket: zmq::Socket,
    _context: zmq::Context,
    received: zmq::Message,
    size: usize,
    flags: i32,
}

pub(super) fn endpoint(tag: &str) -> String {
    format!("ipc:///tmp/{tag}.ipc")
}

pub(super) fn open(link: &Link, side: Side) -> Result<Box<dyn Endpoint>> {
    let context = zmq::Context::new();
    let socket = context.socket(zmq::PAIR).context("a ZeroMQ PAIR socket")?;
    let depth = i32::try_from(link.depth).context("depth")?;
    socket.set_sndhwm(depth)?;
    socket.set_rcvhwm(depth)?;
    // Bounded: a peer that vanished neither blocks a call nor the exit.
    let timeout_ms = i32::try_from(IO_TIMEOUT.as_millis()).context("timeout")?;
    socket.set_sndtimeo(timeout_ms)?;
    socket.set_rcvtimeo(timeout_ms)?;
    socket.set_linger(timeout_ms)?;
    let address = endpoint(&link.tag);
    match side {
        Side::A | Side::Producer => socket
            .bind(&address)
            .with_context(|| format!("binding {address}"))?,
        Side::B | Side::Consumer => {
            // PAIR sockets do not reconnect: a connect made before the
            // peer's bind can leave the pair unconnected (items queued to
            // nowhere), so connect only once the peer's socket file exists.
            let path = address.trim_start_matches("ipc://").to_owned();
            retry(&format!("waiting for {path}"), || {
                ensure!(std::path::Path::new(&path).exists(), "{path} not bound yet");
                Ok(())
            })?;
            socket
                .connect(&address)
                .with_context(|| format!("connecting to {address}"))?
        }
    }
    let flags = match link.waiting {
        Waiting::Spin => zmq::DONTWAIT,
        Waiting::Block | Waiting::Sleep => 0,
    };
    Ok(Box::new(ZeroMq {
        socket,
        _context: context,
        received: zmq::Message::new(),
        size: link.size,
        flags,
    }))
}

impl Endpoint for ZeroMq {
    fn send(&mut self, seq: u64) -> Result<()> {
        let started = std::time::Instant::now();
        loop {
            let mut message = zmq::Message::with_size(self.size);
            payload::fill(&mut message, seq);
            match self.socket.send(message, self.flags) {
                Ok(()) => return Ok(()),
                // DONTWAIT and the pipe is full (or not connected yet): the
                // message was consumed; wait for room, then write it again.
                Err(zmq::Error::EAGAIN) if self.flags != 0 => {
                    spin_until("ZeroMQ room to send", || {
                        Ok(self
                            .socket
                            .get_events()?
                            .contains(zmq::POLLOUT)
                            .then_some(()))
                    })?;
                }
                Err(e) => bail!(
                    "ZeroMQ send of item {seq} after {:?}: {e}",
                    started.elapsed()
                ),
            }
        }
    }

    fn recv(&mut self) -> Result<u64> {
        let (socket, message, flags) = (&self.socket, &mut self.received, self.flags);
        spin_until("ZeroMQ receive", || match socket.recv(message, flags) {
            Ok(()) => Ok(Some(())),
            Err(zmq::Error::EAGAIN) if flags != 0 => Ok(None),
            Err(e) => bail!("ZeroMQ receive: {e}"),
        })?;
        payload::check(&self.received)
    }
}
