//! The broker (`docs/broker.md`): a ZeroMQ ROUTER that answers `REG_REQ`,
//! `DISC_REQ`, `DEREG_REQ` and `LIST_REQ`, one JSON frame each way. It
//! only does discovery, never touches data, and never exits on bad input:
//! every frame gets a reply, an error one when it cannot be served. Dead
//! producers' registrations are dropped by a sweep every 250 ms and
//! whenever their channel is asked for.
//!
//! Every request is served in bounded time whatever the registry holds,
//! so ZeroMQ's fair queueing between connections is fairness between
//! clients: a `LIST_REQ` is answered from a reply built at most once per
//! sweep interval (and again only if the registry changed), and the sweep
//! asks the OS once per producer process.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::peer::{self, Peer};
use crate::registry::{DEFAULT_QUOTA, MAX_CHANNELS, OsProcesses, Registry};
use crate::socket_path::{self, Trusted};
use crate::wire::{self, Channels, Code, Details, Removed, Reply, Request};
use datahub::{Error, ErrorKind};

/// How often the broker drops dead producers' registrations.
const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// The largest frame a client may send; a larger one makes ZeroMQ drop
/// that client's connection before the broker reads it (and requests over
/// [`wire::MAX_REQUEST_BYTES`] get an error reply).
const MAX_FRAME_BYTES: i64 = 1 << 20;

/// Frames handled between two looks at the clock, so a flood of requests
/// does not hold off the sweep.
const BATCH: usize = 1024;

/// A discovery broker bound to an endpoint. [`Broker::serve`] runs it on
/// the calling thread; [`Broker::spawn`] on a thread of its own.
///
/// ```
/// use datahub_broker::{Broker, MessageHub};
///
/// let endpoint = format!("ipc:///tmp/datahub-doc-broker-{}.sock", std::process::id());
/// let broker = Broker::spawn(&endpoint)?;
/// let hub = MessageHub::connect(broker.endpoint())?;
/// assert!(hub.list()?.is_empty());
/// # Ok::<(), datahub::Error>(())
/// ```
pub struct Broker {
    socket: zmq::Socket,
    endpoint: String,
    /// `ipc`, `tcp`, ...: what a peer's identity can be learned from.
    transport: String,
    ipc_path: Option<PathBuf>,
    registry: Registry<OsProcesses>,
    next_sweep: Instant,
    /// The `channels` of a `LIST_REQ` reply, as JSON, with the registry's
    /// generation and the time it was built at.
    list: Option<(u64, Instant, Box<RawValue>)>,
    stats: BrokerStats,
}

/// How a broker is set up.
///
/// ```
/// use datahub_broker::{Broker, BrokerOptions};
///
/// let endpoint = format!("ipc:///tmp/datahub-doc-options-{}.sock", std::process::id());
/// let broker = Broker::bind_with(&endpoint, &BrokerOptions::default().quota(64))?;
/// # drop(broker);
/// # Ok::<(), datahub::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerOptions {
    quota: usize,
}

impl Default for BrokerOptions {
    /// 1,024 registrations per client.
    fn default() -> Self {
        Self {
            quota: DEFAULT_QUOTA,
        }
    }
}

impl BrokerOptions {
    /// How many registrations one client may hold (1 to 4,096): every
    /// process of one user on `ipc://`, every connection from one address
    /// on `tcp://`.
    pub fn quota(mut self, quota: usize) -> Self {
        self.quota = quota.clamp(1, MAX_CHANNELS);
        self
    }
}

/// What a broker has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BrokerStats {
    /// Frames received.
    pub requests: u64,
    /// Of those, answered with `"status": "ERROR"`.
    pub errors: u64,
    /// Registrations dropped because their producer died.
    pub dropped_dead: u64,
    /// Replies ZeroMQ could not send (the client was gone).
    pub unsent_replies: u64,
    /// Registrations held now.
    pub registrations: usize,
}

impl Broker {
    /// Binds a broker to `endpoint` (`ipc://PATH`, `tcp://HOST:PORT`;
    /// `tcp://127.0.0.1:0` picks a port, see [`Broker::endpoint`]) with
    /// default [`BrokerOptions`]. Refuses an `ipc://` path where another
    /// broker already listens, or that another user owns or can replace.
    pub fn bind(endpoint: &str) -> Result<Self, Error> {
        Self::bind_with(endpoint, &BrokerOptions::default())
    }

    /// As [`bind`](Self::bind), with `options`.
    pub fn bind_with(endpoint: &str, options: &BrokerOptions) -> Result<Self, Error> {
        let io = |source: std::io::Error| ErrorKind::BrokerIo {
            endpoint: endpoint.to_owned(),
            source,
        };
        let ipc_path = endpoint.strip_prefix("ipc://").map(PathBuf::from);
        if let Some(path) = &ipc_path {
            // Another user's socket file there, or a directory another
            // user can write, would hand our clients to that user.
            socket_path::check(path, &Trusted::me()).map_err(io)?;
            // libzmq replaces a socket file it finds; a live broker there
            // would silently lose its clients, so ask first.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "a broker already listens there: stop it, or use another endpoint",
                ))
                .into());
            }
        }
        let context = zmq::Context::new();
        let socket = context.socket(zmq::ROUTER).map_err(|e| io(e.into()))?;
        let setup = || -> Result<(), zmq::Error> {
            socket.set_linger(0)?;
            socket.set_maxmsgsize(MAX_FRAME_BYTES)?;
            socket.set_sndhwm(10_000)?;
            socket.set_rcvhwm(10_000)?;
            socket.bind(endpoint)
        };
        setup().map_err(|e| io(e.into()))?;
        let bound = match socket.get_last_endpoint() {
            Ok(Ok(bound)) if !bound.is_empty() => bound,
            _ => endpoint.to_owned(),
        };
        tracing::info!(endpoint = %bound, "broker listening");
        let transport = bound.split("://").next().unwrap_or_default().to_owned();
        Ok(Self {
            socket,
            endpoint: bound,
            transport,
            ipc_path,
            registry: Registry::new(
                OsProcesses,
                datahub::host::boot_id(),
                MAX_CHANNELS,
                options.quota,
            ),
            next_sweep: Instant::now() + SWEEP_INTERVAL,
            list: None,
            stats: BrokerStats::default(),
        })
    }

    /// Binds a broker to `endpoint` and serves it on a thread of its own
    /// until the returned handle is dropped.
    pub fn spawn(endpoint: &str) -> Result<BrokerThread, Error> {
        let mut broker = Self::bind(endpoint)?;
        let endpoint = broker.endpoint.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("datahub-broker".into())
                .spawn(move || broker.serve(&stop))
                .map_err(|source| ErrorKind::BrokerIo {
                    endpoint: endpoint.clone(),
                    source,
                })?
        };
        Ok(BrokerThread {
            endpoint,
            stop,
            thread: Some(thread),
        })
    }

    /// The endpoint it is bound to (with the port ZeroMQ chose for `:0`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What it has done so far.
    pub fn stats(&self) -> BrokerStats {
        BrokerStats {
            registrations: self.registry.len(),
            ..self.stats.clone()
        }
    }

    /// Serves requests until `stop` becomes true (looked at every 100 ms).
    /// Returns an error only if the socket itself fails.
    pub fn serve(&mut self, stop: &AtomicBool) -> Result<(), Error> {
        // Relaxed: a plain flag; nothing else is handed over with it.
        while !stop.load(Ordering::Relaxed) {
            self.serve_for(Duration::from_millis(100))?;
        }
        Ok(())
    }

    /// Waits up to `wait` for requests and answers every one that came,
    /// sweeping dead producers when due. Returns how many it answered.
    pub fn serve_for(&mut self, wait: Duration) -> Result<usize, Error> {
        let now = Instant::now();
        let until_sweep = self.next_sweep.saturating_duration_since(now);
        let timeout = wait.min(until_sweep);
        let endpoint = self.endpoint.clone();
        let io = |e: zmq::Error| ErrorKind::BrokerIo {
            endpoint: endpoint.clone(),
            source: e.into(),
        };
        let mut answered = 0;
        match self.socket.poll(
            zmq::POLLIN,
            i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX),
        ) {
            Ok(_) | Err(zmq::Error::EINTR) => {}
            Err(e) => return Err(io(e).into()),
        }
        while answered < BATCH {
            match self.receive() {
                Ok((frames, peer)) => {
                    self.answer(frames, &peer);
                    answered += 1;
                }
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => break,
                Err(e) => return Err(io(e).into()),
            }
        }
        if Instant::now() >= self.next_sweep {
            self.sweep();
        }
        Ok(answered)
    }

    fn sweep(&mut self) {
        let now = Instant::now();
        for (channel, pid) in self.registry.sweep(now) {
            self.stats.dropped_dead += 1;
            tracing::info!(%channel, pid, "producer died: registration dropped");
        }
        self.next_sweep = now + SWEEP_INTERVAL;
    }

    /// The next message's frames (the first is the routing id ROUTER
    /// puts there), and who sent it.
    fn receive(&self) -> Result<(Vec<Vec<u8>>, Peer), zmq::Error> {
        let first = self.socket.recv_msg(zmq::DONTWAIT)?;
        let mut more = first.get_more();
        let mut frames = vec![first.to_vec()];
        let mut last = first;
        while more {
            // The parts of a message arrive together: this does not wait.
            last = self.socket.recv_msg(0)?;
            more = last.get_more();
            frames.push(last.to_vec());
        }
        // The properties are read from a part the client sent: the routing
        // id part lacks them when ROUTER made it while zmq_poll looked
        // ahead (router.cpp, xhas_in).
        let peer = peer::identify(frames[0].clone(), &mut last, &self.transport);
        Ok((frames, peer))
    }

    /// Answers one message: `[identity, payload]` from a DEALER, or
    /// `[identity, "", payload]` from a REQ socket; the reply has the same
    /// shape. Anything else is answered with an error.
    fn answer(&mut self, mut frames: Vec<Vec<u8>>, peer: &Peer) {
        self.stats.requests += 1;
        if frames.is_empty() {
            return;
        }
        let identity = frames.remove(0);
        let (delimited, answer) = match frames.as_slice() {
            [payload] => (false, self.reply_to(payload, peer)),
            [empty, payload] if empty.is_empty() => (true, self.reply_to(payload, peer)),
            _ => (
                false,
                Answer::refused(
                    None,
                    Code::InvalidRequest,
                    &format!(
                        "expected one frame holding a JSON object, found a message of {} frames",
                        frames.len()
                    ),
                    Details::default(),
                ),
            ),
        };
        if answer.refused {
            self.stats.errors += 1;
        }
        let text = answer.text;
        let mut out: Vec<&[u8]> = vec![&identity];
        if delimited {
            out.push(b"");
        }
        out.push(text.as_bytes());
        if let Err(e) = self.socket.send_multipart(out, zmq::DONTWAIT) {
            // The client went away, or will not read: its loss, not ours.
            self.stats.unsent_replies += 1;
            tracing::debug!(error = %e, "reply not sent");
        }
    }

    fn reply_to(&mut self, payload: &[u8], peer: &Peer) -> Answer {
        let envelope = match wire::parse_request(payload) {
            Ok(envelope) => envelope,
            Err(refusal) => {
                tracing::debug!(code = refusal.code.as_str(), message = %refusal.message, "request refused");
                return Answer::refused(
                    refusal.request_id.as_deref(),
                    refusal.code,
                    &refusal.message,
                    Details::default(),
                );
            }
        };
        let id = envelope.request_id.as_str();
        let now = Instant::now();
        let result = match envelope.request {
            Request::Register(req) => {
                let (channel, pid) = (req.channel.clone(), req.producer_pid);
                self.registry.register(req, peer, now).map(|()| {
                    tracing::info!(%channel, pid, client = %peer.client(), "registered");
                    Answer::ok(id, wire::Registered {})
                })
            }
            Request::Discover {
                channel,
                expected_hash,
                expected_slot_hash,
            } => self
                .registry
                .discover(&channel, expected_hash, expected_slot_hash, now)
                .cloned()
                .map(|entry| Answer::ok(id, self.registry.record(&entry, now))),
            Request::Deregister {
                channel,
                producer_pid,
                owner_token,
            } => self
                .registry
                .deregister(&channel, producer_pid, owner_token.as_deref(), peer, now)
                .map(|removed| {
                    if removed {
                        tracing::info!(%channel, pid = producer_pid, "deregistered");
                    }
                    Answer::ok(id, Removed { removed })
                }),
            Request::List => return self.list_reply(id, now),
        };
        result.unwrap_or_else(|failure| {
            tracing::debug!(
                code = failure.code.as_str(),
                client = %peer.client(),
                message = %failure.message,
                "request refused"
            );
            Answer::refused(Some(id), failure.code, &failure.message, *failure.details)
        })
    }

    /// A `LIST_REQ` reply: every registration, as of the last sweep. The
    /// records are built once per registry generation, and again at most
    /// every sweep interval so that their ages stay near the truth; between
    /// times a reply costs one copy of the cached text.
    fn list_reply(&mut self, id: &str, now: Instant) -> Answer {
        let generation = self.registry.generation();
        let fresh = self.list.as_ref().is_some_and(|(g, built, _)| {
            *g == generation && now.saturating_duration_since(*built) < SWEEP_INTERVAL
        });
        if !fresh {
            let records: Vec<_> = self
                .registry
                .entries()
                .map(|entry| self.registry.record(entry, now))
                .collect();
            match serde_json::value::to_raw_value(&records) {
                Ok(raw) => self.list = Some((generation, now, raw)),
                // Records of strings and numbers always serialize.
                Err(e) => tracing::error!(error = %e, "LIST_REQ reply not built"),
            }
        }
        let empty = RawValue::NULL;
        let channels = self.list.as_ref().map_or(empty, |(_, _, raw)| &**raw);
        Answer::ok(id, Channels { channels })
    }
}

/// A reply, written, and whether it refuses.
struct Answer {
    text: String,
    refused: bool,
}

impl Answer {
    /// An `OK` reply to `id` with `body`.
    fn ok(id: &str, body: impl Serialize) -> Self {
        match serde_json::to_string(&Reply::ok(id, body)) {
            Ok(text) => Self {
                text,
                refused: false,
            },
            // Bodies of strings, numbers and JSON already written always
            // serialize; say so rather than panic if one ever does not.
            Err(e) => Self::refused(
                Some(id),
                Code::InvalidRequest,
                &format!("the reply could not be written: {e}"),
                Details::default(),
            ),
        }
    }

    /// An `ERROR` reply (to no id when the request's could not be read).
    fn refused(id: Option<&str>, code: Code, message: &str, details: Details) -> Self {
        let reply = Reply::error(id, code, message, details);
        // Strings, numbers and hashes always serialize; were one not to,
        // the client would time out rather than read half a reply.
        let text = serde_json::to_string(&reply).unwrap_or_else(|e| {
            tracing::error!(error = %e, "an ERROR reply not written");
            String::new()
        });
        Self {
            text,
            refused: true,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // libzmq removes its socket file when it unbinds; unbind here so
        // that happens now, not when the context ends.
        let _ = self.socket.unbind(&self.endpoint);
        if let Some(path) = &self.ipc_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A broker serving on its own thread; dropping it stops the broker and
/// unbinds its endpoint.
pub struct BrokerThread {
    endpoint: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl BrokerThread {
    /// The endpoint it is bound to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for BrokerThread {
    fn drop(&mut self) {
        // Relaxed: see `Broker::serve`; the join below orders the rest.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "broker thread failed"),
                Err(_) => tracing::warn!("broker thread panicked"),
            }
        }
    }
}
