//! A Unix domain stream socket, both directions on one connection, the
//! socket nonblocking and polled in a loop (busy-polling like the
//! others): the payload is written into a buffer and sent, and read
//! whole from the socket into a buffer.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};

use anyhow::{Context, Result, bail, ensure};

use super::{Endpoint, Link, Side, Waiting, retry, spin_until};
use crate::payload;

struct Uds {
    stream: UnixStream,
    buf: Vec<u8>,
}

pub(super) fn open(link: &Link, side: Side) -> Result<Box<dyn Endpoint>> {
    ensure!(
        link.waiting == Waiting::Spin,
        "the Unix socket is measured busy-polling only"
    );
    let path = format!("/tmp/{}.sock", link.tag);
    let stream = match side {
        Side::A | Side::Producer => {
            let listener = UnixListener::bind(&path).with_context(|| format!("binding {path}"))?;
            listener.set_nonblocking(true)?;
            let accepted = retry("accepting the Unix socket's peer", || {
                Ok(listener.accept()?.0)
            });
            let _ = std::fs::remove_file(&path);
            accepted?
        }
        Side::B | Side::Consumer => retry(&format!("connecting to {path}"), || {
            Ok(UnixStream::connect(&path)?)
        })?,
    };
    stream.set_nonblocking(true)?;
    Ok(Box::new(Uds {
        stream,
        buf: vec![0; link.size],
    }))
}

impl Endpoint for Uds {
    fn send(&mut self, seq: u64) -> Result<()> {
        payload::fill(&mut self.buf, seq);
        let (stream, buf) = (&mut self.stream, &self.buf);
        let mut sent = 0;
        spin_until("Unix socket send", || {
            match stream.write(&buf[sent..]) {
                Ok(0) => bail!("Unix socket closed by the peer"),
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
            Ok((sent == buf.len()).then_some(()))
        })
    }

    fn recv(&mut self) -> Result<u64> {
        let (stream, buf) = (&mut self.stream, &mut self.buf);
        let mut got = 0;
        spin_until("Unix socket receive", || {
            match stream.read(&mut buf[got..]) {
                Ok(0) => bail!("Unix socket closed by the peer"),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
            Ok((got == buf.len()).then_some(()))
        })?;
        payload::check(&self.buf)
    }
}
