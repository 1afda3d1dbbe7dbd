//! `MessageHub`, the broker's client (DESIGN.md §9: "a message queue
//! rather than an immediate call"). One I/O thread owns the DEALER
//! socket; callers on any thread enqueue a request and wait on their own
//! reply, matched by `request_id`, up to a timeout.
//!
//! Why it cannot get stuck or cross replies:
//! - DEALER has no send/receive lock-step (REQ does, and a lost reply
//!   wedges it), so a lost request or reply only costs its caller a
//!   timeout.
//! - Each request id is fresh (the hub's nonce and a counter). A reply
//!   whose id no longer waits (its caller timed out) is dropped and
//!   counted, never handed to another caller.
//! - Every request is idempotent (registering again, deregistering twice
//!   and reading are harmless), so the I/O thread re-sends one that has
//!   no reply after `resend_interval`: a request lost to a broker restart
//!   is answered by the new broker within the caller's timeout.
//! - The hub re-registers what it registered every `refresh_interval`, so
//!   a restarted broker learns the channels again, and remote leases stay
//!   renewed.
//!
//! Who it talks to: its registrations carry a secret owner token (128
//! random bits, never shown by the broker), so only this hub (or the
//! producer process itself) can renew, change or withdraw them. On
//! `ipc://` it refuses a socket path another user owns or can replace,
//! when connecting and again before each send (the path may be taken
//! while no broker runs), and sends nothing while no socket is there, so
//! nothing waits in ZeroMQ for whoever binds the path next.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::socket_path::{self, Trusted};
use super::{ChannelRecord, Registration};
use crate::discovery::{Discovery, Expected};
use crate::error::Error;
use crate::segment::os;
use crate::types::SchemaHash;

/// The largest reply the hub reads (a `LIST_REQ` reply of a full broker
/// fits).
const MAX_REPLY_BYTES: i64 = 16 << 20;

/// How long a dropped hub keeps trying to deliver what it still has to
/// send (a producer's last `DEREG_REQ`).
const LINGER: Duration = Duration::from_millis(250);

/// How soon a request that could not be sent (no socket at the path yet,
/// a full queue) is tried again.
const RETRY_UNSENT: Duration = Duration::from_millis(10);

/// The hub's timings.
///
/// ```
/// use std::time::Duration;
/// use datahub::broker::HubOptions;
///
/// let options = HubOptions::default().timeout(Duration::from_millis(500));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOptions {
    timeout: Duration,
    resend_interval: Duration,
    refresh_interval: Duration,
    trusted_owners: Vec<u32>,
}

impl Default for HubOptions {
    /// Replies awaited 3 s, requests re-sent every 500 ms, registrations
    /// renewed every second.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            resend_interval: Duration::from_millis(500),
            refresh_interval: Duration::from_secs(1),
            trusted_owners: Vec::new(),
        }
    }
}

impl HubOptions {
    /// How long a call waits for its reply.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a request waits for its reply before it is sent again.
    pub fn resend_interval(mut self, interval: Duration) -> Self {
        self.resend_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How often registrations are renewed (at most 3 s: a broker drops
    /// a registration from another host 10 s after its last renewal).
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval.clamp(Duration::from_millis(10), Duration::from_secs(3));
        self
    }

    /// Also accepts an `ipc://` socket path owned (or made replaceable) by
    /// user `uid`, as for a broker that another user runs for everyone.
    /// By default only this process's user and root are trusted: a socket
    /// of anyone else's may be a squatter's (`docs/broker.md`, "Security").
    pub fn trust_socket_owner(mut self, uid: u32) -> Self {
        self.trusted_owners.push(uid);
        self
    }
}

/// A thread-safe client of a broker: `Send + Sync` and cheap to clone
/// (clones share one socket and one I/O thread, which stop when the last
/// clone is dropped).
///
/// ```
/// use datahub::broker::{Broker, MessageHub, Registration};
/// use datahub::SchemaHash;
///
/// let endpoint = format!("ipc:///tmp/datahub-doc-hub-{}.sock", std::process::id());
/// let _broker = Broker::spawn(&endpoint)?;
/// let hub = MessageHub::connect(&endpoint)?;
/// let hash = SchemaHash::digest(b"an example");
/// hub.register(&Registration::new("cam0", hash, std::process::id()))?;
/// let found = hub.discover("cam0", Some(hash))?;
/// assert_eq!(found.shm_name, "/datahub.cam0");
/// hub.deregister("cam0", std::process::id())?;
/// # Ok::<(), datahub::Error>(())
/// ```
#[derive(Clone)]
pub struct MessageHub {
    handle: Arc<Handle>,
}

// Callers share one hub across threads.
const _: fn() = || {
    fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<MessageHub>();
};

/// Stops the I/O thread when the last `MessageHub` goes.
struct Handle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What callers and the I/O thread share.
struct Shared {
    endpoint: String,
    options: HubOptions,
    /// The `ipc://` socket's path, checked before each send.
    ipc_path: Option<PathBuf>,
    /// Who may own it.
    trusted: Trusted,
    /// The secret that makes this hub the owner of what it registers.
    owner_token: String,
    nonce: String,
    next_id: AtomicU64,
    state: Mutex<State>,
    /// A byte written here wakes the I/O thread from its poll.
    waker: UnixStream,
}

#[derive(Default)]
struct State {
    /// Requests to send now, by id.
    outbox: VecDeque<String>,
    /// Requests awaiting their reply, by id.
    pending: HashMap<String, Pending>,
    /// What this hub registered and keeps renewed, by channel.
    kept: BTreeMap<String, Map<String, Value>>,
    /// Replies that came after their caller stopped waiting.
    late_replies: u64,
    /// The hub is being dropped.
    stopping: bool,
    /// Why the I/O thread stopped, if it did.
    failed: Option<String>,
}

/// What a caller gets: the broker's reply, or why it was not asked.
type Answer = Result<Value, String>;

struct Pending {
    frame: Vec<u8>,
    /// The caller's slot; `None` for requests the hub sends on its own
    /// (renewals, a dropped producer's deregistration).
    reply_to: Option<SyncSender<Answer>>,
    sent_at: Option<Instant>,
    /// Past this, a request without a caller is given up.
    give_up: Instant,
    /// For the requests the hub sends on its own: what and for which
    /// channel.
    about: Option<(OwnRequest, String)>,
}

/// The requests a hub sends without a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnRequest {
    /// A registration's renewal.
    Renewal,
    /// A dropped producer's deregistration.
    Deregistration,
}

impl MessageHub {
    /// Connects to the broker at `endpoint` with default [`HubOptions`].
    /// Connecting does not wait for the broker: a broker that is not
    /// running shows as [`Error::BrokerTimeout`] on the first call.
    pub fn connect(endpoint: &str) -> Result<Self, Error> {
        Self::connect_with(endpoint, HubOptions::default())
    }

    /// Connects to the broker named by `$DATAHUB_BROKER`, or to
    /// [`default_endpoint`](super::default_endpoint)
    /// ([`configured_endpoint`](super::configured_endpoint)).
    pub fn connect_default() -> Result<Self, Error> {
        Self::connect(&super::configured_endpoint())
    }

    /// Connects to the broker at `endpoint` with `options`. Refuses an
    /// `ipc://` path that another user owns or can replace
    /// ([`Error::BrokerIo`], naming the user): see
    /// [`HubOptions::trust_socket_owner`].
    pub fn connect_with(endpoint: &str, options: HubOptions) -> Result<Self, Error> {
        let io = |source: std::io::Error| Error::BrokerIo {
            endpoint: endpoint.to_owned(),
            source,
        };
        let ipc_path = endpoint.strip_prefix("ipc://").map(PathBuf::from);
        let trusted = options
            .trusted_owners
            .iter()
            .fold(Trusted::me(), |t, &uid| t.and(uid));
        if let Some(path) = &ipc_path {
            socket_path::check(path, &trusted).map_err(io)?;
        }
        let owner_token = owner_token().map_err(io)?;
        let context = zmq::Context::new();
        let socket = context.socket(zmq::DEALER).map_err(|e| io(e.into()))?;
        let setup = || -> Result<(), zmq::Error> {
            socket.set_linger(i32::try_from(LINGER.as_millis()).unwrap_or(i32::MAX))?;
            socket.set_maxmsgsize(MAX_REPLY_BYTES)?;
            socket.set_sndhwm(100_000)?;
            socket.set_rcvhwm(100_000)?;
            socket.set_reconnect_ivl(50)?;
            socket.set_reconnect_ivl_max(500)?;
            socket.connect(endpoint)
        };
        setup().map_err(|e| io(e.into()))?;
        let (waker, wakee) = UnixStream::pair().map_err(io)?;
        waker.set_nonblocking(true).map_err(io)?;
        wakee.set_nonblocking(true).map_err(io)?;
        let me = os::current_process();
        let shared = Arc::new(Shared {
            endpoint: endpoint.to_owned(),
            options,
            ipc_path,
            trusted,
            owner_token,
            nonce: format!("{:x}.{:x}.{:x}", me.pid, me.start_time, os::monotonic_ns()),
            next_id: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            waker,
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("datahub-hub".into())
                .spawn(move || io_thread(&shared, &socket, wakee))
                .map_err(io)?
        };
        Ok(Self {
            handle: Arc::new(Handle {
                shared,
                thread: Some(thread),
            }),
        })
    }

    /// The broker's endpoint.
    pub fn endpoint(&self) -> &str {
        &self.handle.shared.endpoint
    }

    /// Replies that came after their caller had given up (dropped).
    pub fn late_replies(&self) -> u64 {
        self.handle.shared.lock().late_replies
    }

    /// `REG_REQ`: registers `registration`, then keeps it renewed until
    /// [`deregister`](Self::deregister). Refused with
    /// [`Error::ChannelExists`] when another live producer holds it.
    pub fn register(&self, registration: &Registration) -> Result<(), Error> {
        let body = register_body(registration, &self.handle.shared.owner_token);
        // A deregistration of this channel still being re-sent must not
        // land after this registration.
        self.handle
            .shared
            .lock()
            .forget(OwnRequest::Deregistration, &registration.channel);
        self.call("REG_REQ", body.clone())?;
        self.handle
            .shared
            .lock()
            .kept
            .insert(registration.channel.clone(), body);
        Ok(())
    }

    /// `DISC_REQ`: who produces `channel`. With `expected_hash`, a
    /// channel registered with another channel hash is refused by the
    /// broker ([`Error::SchemaMismatch`]); an unknown channel is
    /// [`Error::NotDiscovered`].
    pub fn discover(
        &self,
        channel: &str,
        expected_hash: Option<SchemaHash>,
    ) -> Result<ChannelRecord, Error> {
        self.discover_expecting(channel, expected_hash, None)
    }

    fn discover_expecting(
        &self,
        channel: &str,
        expected_hash: Option<SchemaHash>,
        expected_slot_hash: Option<SchemaHash>,
    ) -> Result<ChannelRecord, Error> {
        let mut body = Map::new();
        body.insert("channel".into(), channel.into());
        if let Some(hash) = expected_hash {
            body.insert("expected_hash".into(), hash.to_string().into());
        }
        if let Some(hash) = expected_slot_hash {
            body.insert("expected_slot_hash".into(), hash.to_string().into());
        }
        let reply = self.call("DISC_REQ", body)?;
        self.record(reply)
    }

    /// `DEREG_REQ`: removes `channel`'s registration by `producer_pid`
    /// (and stops renewing it). Deregistering what is not registered is
    /// not an error.
    pub fn deregister(&self, channel: &str, producer_pid: u32) -> Result<(), Error> {
        self.handle.shared.lock().stop_renewing(channel);
        let body = deregister_body(channel, producer_pid, &self.handle.shared.owner_token);
        self.call("DEREG_REQ", body).map(drop)
    }

    /// Deregisters without waiting for the reply (for `Drop`): the I/O
    /// thread sends it, even if this is the hub's last handle.
    pub(crate) fn deregister_detached(&self, channel: &str, producer_pid: u32) {
        let shared = &self.handle.shared;
        let request = shared.request(
            "DEREG_REQ",
            deregister_body(channel, producer_pid, &shared.owner_token),
        );
        let mut state = shared.lock();
        state.stop_renewing(channel);
        state.enqueue(
            request,
            None,
            shared.options.timeout,
            Some((OwnRequest::Deregistration, channel.to_owned())),
        );
        drop(state);
        shared.wake();
    }

    /// `LIST_REQ`: every channel the broker knows.
    pub fn list(&self) -> Result<Vec<ChannelRecord>, Error> {
        let reply = self.call("LIST_REQ", Map::new())?;
        let Some(Value::Array(channels)) = reply.get("channels") else {
            return Err(self.protocol(format!(
                "a LIST_REQ reply without a `channels` array: {reply}"
            )));
        };
        channels.iter().cloned().map(|c| self.record(c)).collect()
    }

    fn record(&self, value: Value) -> Result<ChannelRecord, Error> {
        serde_json::from_value(value.clone()).map_err(|e| {
            self.protocol(format!(
                "a channel record that does not read ({e}): {value}"
            ))
        })
    }

    fn protocol(&self, problem: String) -> Error {
        Error::BrokerProtocol {
            endpoint: self.endpoint().to_owned(),
            problem,
        }
    }

    /// Sends one request and waits for its reply; an `ERROR` reply
    /// becomes the matching [`Error`].
    fn call(&self, kind: &'static str, body: Map<String, Value>) -> Result<Value, Error> {
        let shared = &self.handle.shared;
        let channel = body
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let request = shared.request(kind, body);
        let id = request.0.clone();
        let (tx, rx): (SyncSender<Answer>, Receiver<Answer>) = mpsc::sync_channel(1);
        {
            let mut state = shared.lock();
            if let Some(why) = &state.failed {
                return Err(Error::BrokerIo {
                    endpoint: shared.endpoint.clone(),
                    source: std::io::Error::other(why.clone()),
                });
            }
            state.enqueue(request, Some(tx), shared.options.timeout, None);
        }
        shared.wake();
        let timeout = shared.options.timeout;
        let answer = match rx.recv_timeout(timeout) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => {
                shared.lock().pending.remove(&id);
                // The reply may have been handed over between the timeout
                // and the removal: it is ours, take it.
                rx.try_recv().map_err(|_| Error::BrokerTimeout {
                    endpoint: shared.endpoint.clone(),
                    request: kind,
                    waited: timeout,
                })?
            }
            Err(RecvTimeoutError::Disconnected) => {
                let why = shared.lock().failed.clone().unwrap_or_default();
                return Err(Error::BrokerIo {
                    endpoint: shared.endpoint.clone(),
                    source: std::io::Error::other(format!("the hub's I/O thread stopped: {why}")),
                });
            }
        };
        let reply = answer.map_err(|why| Error::BrokerIo {
            endpoint: shared.endpoint.clone(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, why),
        })?;
        match reply.get("status").and_then(Value::as_str) {
            Some("OK") => Ok(reply),
            Some("ERROR") => Err(error_of(&shared.endpoint, channel, &reply)),
            _ => Err(self.protocol(format!("a reply without `status` OK or ERROR: {reply}"))),
        }
    }
}

impl Discovery for MessageHub {
    fn find(&self, channel: &str, expected: Expected) -> Result<ChannelRecord, Error> {
        self.discover_expecting(channel, expected.channel_hash, expected.slot_hash)
    }

    fn source(&self) -> String {
        self.endpoint().to_owned()
    }
}

impl std::fmt::Debug for MessageHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageHub")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the hub's I/O thread panicked");
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the maps consistent (each
        // change is one insert or remove): carry on with them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wake(&self) {
        // A full pipe already holds a wake-up; nothing else can fail here
        // that the I/O thread's poll timeout does not cover.
        let _ = (&self.waker).write(&[1]);
    }

    /// A request of `kind` with `body` and a fresh id: the id, and the
    /// frame to send.
    fn request(&self, kind: &str, body: Map<String, Value>) -> (String, Vec<u8>) {
        // Relaxed: only uniqueness matters, which the atomic increment
        // gives in any order.
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}.{n}", self.nonce);
        let mut request = Map::new();
        request.insert("type".into(), kind.into());
        request.insert("request_id".into(), id.clone().into());
        request.extend(body);
        (id, Value::Object(request).to_string().into_bytes())
    }
}

impl State {
    /// Queues `(id, frame)` to be sent, its reply going to `reply_to`
    /// (`None`: one of the hub's own requests, given up after `timeout`).
    fn enqueue(
        &mut self,
        (id, frame): (String, Vec<u8>),
        reply_to: Option<SyncSender<Answer>>,
        timeout: Duration,
        about: Option<(OwnRequest, String)>,
    ) {
        self.pending.insert(
            id.clone(),
            Pending {
                frame,
                reply_to,
                sent_at: None,
                give_up: Instant::now() + timeout,
                about,
            },
        );
        self.outbox.push_back(id);
    }

    /// Stops sending (and re-sending) the hub's own `what` for `channel`.
    fn forget(&mut self, what: OwnRequest, channel: &str) {
        self.pending.retain(|_, p| {
            p.about
                .as_ref()
                .is_none_or(|(w, c)| *w != what || c != channel)
        });
    }

    /// Stops renewing `channel`, including a renewal not yet answered: a
    /// re-sent renewal landing after the deregistration would register
    /// the channel again.
    fn stop_renewing(&mut self, channel: &str) {
        self.kept.remove(channel);
        self.forget(OwnRequest::Renewal, channel);
    }
}

fn register_body(registration: &Registration, owner_token: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("channel".into(), registration.channel.clone().into());
    body.insert("shm_name".into(), registration.shm_name.clone().into());
    body.insert(
        "channel_hash".into(),
        registration.channel_hash.to_string().into(),
    );
    if let Some(hash) = registration.slot_hash {
        body.insert("slot_hash".into(), hash.to_string().into());
    }
    body.insert("producer_pid".into(), registration.producer_pid.into());
    if let Some(start_time) = os::process_start_time(registration.producer_pid) {
        body.insert("producer_start_time".into(), start_time.into());
    }
    if let Some(boot_id) = os::boot_id() {
        body.insert("boot_id".into(), boot_id.into());
    }
    body.insert(
        "zmq_endpoint".into(),
        registration
            .zmq_endpoint
            .clone()
            .map_or(Value::Null, Value::from),
    );
    body.insert("owner_token".into(), owner_token.into());
    body
}

fn deregister_body(channel: &str, producer_pid: u32, owner_token: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("channel".into(), channel.into());
    body.insert("producer_pid".into(), producer_pid.into());
    body.insert("owner_token".into(), owner_token.into());
    body
}

/// A fresh secret: 128 bits from the OS's random source, in hex.
fn owner_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The [`Error`] an `ERROR` reply to a request about `channel` stands for.
fn error_of(endpoint: &str, channel: String, reply: &Value) -> Error {
    let text = |key: &str| reply.get(key).and_then(Value::as_str).unwrap_or_default();
    let hash = |key: &str| text(key).parse::<SchemaHash>().ok();
    let code = text("code").to_owned();
    let message = text("message").to_owned();
    let refused = |code: String, message: String| Error::BrokerRefused {
        endpoint: endpoint.to_owned(),
        code,
        message,
    };
    match code.as_str() {
        "NOT_FOUND" => Error::NotDiscovered {
            channel,
            endpoint: endpoint.to_owned(),
            detail: message,
        },
        "CHANNEL_EXISTS" => Error::ChannelExists {
            channel,
            holder: reply
                .get("producer_pid")
                .and_then(Value::as_u64)
                .and_then(|pid| u32::try_from(pid).ok()),
        },
        "SCHEMA_MISMATCH" => {
            let hashes = match (hash("channel_hash"), hash("expected_hash")) {
                (Some(found), Some(expected)) => {
                    Some(("channel hash, at the broker", found, expected))
                }
                _ => hash("slot_hash")
                    .zip(hash("expected_slot_hash"))
                    .map(|(found, expected)| ("slot type, at the broker", found, expected)),
            };
            match hashes {
                Some((part, found, expected)) => Error::SchemaMismatch {
                    channel,
                    part: part.into(),
                    expected: Box::new(expected),
                    found: Box::new(found),
                    detail: String::new(),
                },
                None => refused(code, message),
            }
        }
        _ => refused(code, message),
    }
}

/// The I/O thread: sends what callers queued, hands replies to their
/// callers, re-sends what went unanswered, renews registrations.
fn io_thread(shared: &Shared, socket: &zmq::Socket, mut wakee: UnixStream) {
    let mut next_refresh = Instant::now() + shared.options.refresh_interval;
    loop {
        let timeout = next_deadline(shared, next_refresh)
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(250));
        let mut items = [
            socket.as_poll_item(zmq::POLLIN),
            zmq::PollItem::from_fd(wakee.as_raw_fd(), zmq::POLLIN),
        ];
        match zmq::poll(
            &mut items,
            i64::try_from(timeout.as_millis()).unwrap_or(250),
        ) {
            Ok(_) | Err(zmq::Error::EINTR) => {}
            Err(e) => return fail(shared, format!("poll: {e}")),
        }
        let mut drain = [0u8; 64];
        while matches!(wakee.read(&mut drain), Ok(n) if n > 0) {}

        loop {
            match socket.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => deliver(shared, frames),
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => break,
                Err(e) => return fail(shared, format!("receive: {e}")),
            }
        }

        let now = Instant::now();
        let (to_send, stop) = {
            let mut state = shared.lock();
            if now >= next_refresh {
                renew(shared, &mut state);
                next_refresh = now + shared.options.refresh_interval;
            }
            // Requests nobody waits for any more.
            state
                .pending
                .retain(|_, p| p.reply_to.is_some() || now < p.give_up);
            let mut to_send: Vec<String> = state.outbox.drain(..).collect();
            for (id, p) in &state.pending {
                if p.sent_at
                    .is_some_and(|at| now >= at + shared.options.resend_interval)
                {
                    to_send.push(id.clone());
                }
            }
            (to_send, state.stopping)
        };
        let path_state = match (&shared.ipc_path, to_send.is_empty()) {
            (Some(path), false) => socket_path::check(path, &shared.trusted),
            _ => Ok(true),
        };
        if let Err(why) = path_state {
            refuse(shared, &to_send, &why.to_string());
        } else if path_state.is_ok_and(|there| !there) {
            // No socket there: ZeroMQ would keep the frames for whoever
            // binds the path next. Hold them here, and look again soon.
            let mut state = shared.lock();
            for id in to_send {
                if let Some(p) = state.pending.get_mut(&id) {
                    p.sent_at = None;
                    state.outbox.push_back(id);
                }
            }
        } else {
            for id in to_send {
                let Some(frame) = shared.lock().pending.get(&id).map(|p| p.frame.clone()) else {
                    continue;
                };
                match socket.send(frame, zmq::DONTWAIT) {
                    Ok(()) => {
                        if let Some(p) = shared.lock().pending.get_mut(&id) {
                            p.sent_at = Some(now);
                        }
                    }
                    // A full queue (the broker away for long): tried again
                    // soon; the caller's timeout bounds it.
                    Err(zmq::Error::EAGAIN) => {
                        let mut state = shared.lock();
                        if let Some(p) = state.pending.get_mut(&id) {
                            p.sent_at = None;
                            state.outbox.push_back(id);
                        }
                    }
                    Err(e) => return fail(shared, format!("send: {e}")),
                }
            }
        }
        if stop {
            // What was queued is sent; the socket's linger gives it up to
            // LINGER to leave when the socket closes.
            return;
        }
    }
}

/// When the I/O thread next has something to do without being woken.
fn next_deadline(shared: &Shared, next_refresh: Instant) -> Instant {
    let state = shared.lock();
    let unsent = (!state.outbox.is_empty()).then(|| Instant::now() + RETRY_UNSENT);
    state
        .pending
        .values()
        .filter_map(|p| p.sent_at.map(|at| at + shared.options.resend_interval))
        .chain(unsent)
        .fold(next_refresh, Instant::min)
}

/// Sends nothing of `ids` to a socket path that is no longer safe: their
/// callers get `why` at once; the hub's own requests are dropped (renewals
/// are made again, and checked again, at the next refresh).
fn refuse(shared: &Shared, ids: &[String], why: &str) {
    tracing::warn!(endpoint = %shared.endpoint, %why, "requests not sent");
    let mut state = shared.lock();
    for id in ids {
        if let Some(pending) = state.pending.remove(id)
            && let Some(tx) = pending.reply_to
        {
            // The slot holds one answer and this is the only one.
            let _ = tx.try_send(Err(why.to_owned()));
        }
    }
}

/// Queues a renewal of each kept registration that has none in flight.
fn renew(shared: &Shared, state: &mut State) {
    let in_flight: Vec<String> = state
        .pending
        .values()
        .filter_map(|p| match &p.about {
            Some((OwnRequest::Renewal, channel)) => Some(channel.clone()),
            _ => None,
        })
        .collect();
    let due: Vec<(String, Map<String, Value>)> = state
        .kept
        .iter()
        .filter(|(channel, _)| !in_flight.contains(channel))
        .map(|(channel, body)| (channel.clone(), body.clone()))
        .collect();
    for (channel, body) in due {
        state.enqueue(
            shared.request("REG_REQ", body),
            None,
            shared.options.refresh_interval,
            Some((OwnRequest::Renewal, channel)),
        );
    }
}

/// Hands a reply to the caller waiting on its id.
fn deliver(shared: &Shared, frames: Vec<Vec<u8>>) {
    // From a ROUTER: [reply], or ["", reply] if it kept a REQ delimiter.
    let Some(payload) = frames.last() else { return };
    let Ok(reply) = serde_json::from_slice::<Value>(payload) else {
        tracing::warn!(endpoint = %shared.endpoint, "the broker sent a frame that is not JSON");
        return;
    };
    let Some(id) = reply.get("request_id").and_then(Value::as_str) else {
        tracing::warn!(endpoint = %shared.endpoint, %reply, "a broker reply without a request_id");
        return;
    };
    let mut state = shared.lock();
    match state.pending.remove(id) {
        Some(Pending {
            reply_to: Some(tx), ..
        }) => {
            // The slot holds one reply and this is the only one sent to
            // it; a caller that has gone makes this fail, harmlessly.
            let _ = tx.try_send(Ok(reply));
        }
        Some(Pending {
            reply_to: None,
            about,
            ..
        }) => {
            if reply.get("status").and_then(Value::as_str) != Some("OK") {
                tracing::warn!(
                    endpoint = %shared.endpoint,
                    request = ?about,
                    %reply,
                    "the broker refused a request the hub sent on its own"
                );
            }
        }
        None => {
            state.late_replies += 1;
            tracing::debug!(endpoint = %shared.endpoint, id, "late or duplicate reply dropped");
        }
    }
}

/// Records why the I/O thread stops; waiting callers see their sender
/// dropped and get the reason.
fn fail(shared: &Shared, why: String) {
    tracing::error!(endpoint = %shared.endpoint, %why, "the hub's I/O thread stops");
    let mut state = shared.lock();
    state.failed = Some(why);
    state.pending.clear();
}
