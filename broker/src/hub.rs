//! `MessageHub`, the broker's client (`docs/broker.md`: "a message queue
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

use serde::de::DeserializeOwned;

use crate::socket_path::{self, Trusted};
use crate::wire::{
    self, Channels, Code, Envelope, ErrorBody, Head, RegisterRequest, Removed, Reply, Request,
    Routing, Status,
};
use datahub::Error;
use datahub::SchemaHash;
use datahub::host;
use datahub::{ChannelRecord, Discovery, ErrorKind, Expected, Registered, Registration, Registry};

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
/// use datahub_broker::HubOptions;
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
/// use datahub_broker::{Broker, MessageHub, Registration};
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
    kept: BTreeMap<String, RegisterRequest>,
    /// Replies that came after their caller stopped waiting.
    late_replies: u64,
    /// The hub is being dropped.
    stopping: bool,
    /// Why the I/O thread stopped, if it did.
    failed: Option<String>,
}

/// What a caller gets: the broker's reply frame, or why it was not asked.
type Answer = Result<Vec<u8>, String>;

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
    /// running shows as [`ErrorKind::BrokerTimeout`] on the first call.
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
    /// ([`ErrorKind::BrokerIo`], naming the user): see
    /// [`HubOptions::trust_socket_owner`].
    pub fn connect_with(endpoint: &str, options: HubOptions) -> Result<Self, Error> {
        let io = |source: std::io::Error| ErrorKind::BrokerIo {
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
        let pid = std::process::id();
        // With the pid's start time, the clock and a count of this
        // process's hubs, unique among every hub that has run on this host.
        static HUBS: AtomicU64 = AtomicU64::new(0);
        // Relaxed: only uniqueness matters, which the increment gives in
        // any order.
        let hub_number = HUBS.fetch_add(1, Ordering::Relaxed);
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let shared = Arc::new(Shared {
            endpoint: endpoint.to_owned(),
            options,
            ipc_path,
            trusted,
            owner_token,
            nonce: format!(
                "{pid:x}.{:x}.{since_epoch:x}.{hub_number:x}",
                host::process_start_time(pid).unwrap_or(0)
            ),
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
    /// [`ErrorKind::ChannelExists`] when another live producer holds it.
    pub fn register(&self, registration: &Registration) -> Result<(), Error> {
        let request = register_request(registration, &self.handle.shared.owner_token);
        // A deregistration of this channel still being re-sent must not
        // land after this registration.
        self.handle
            .shared
            .lock()
            .forget(OwnRequest::Deregistration, &registration.channel);
        self.call::<wire::Registered>(Request::Register(request.clone()))?;
        self.handle
            .shared
            .lock()
            .kept
            .insert(registration.channel.clone(), request);
        Ok(())
    }

    /// `DISC_REQ`: who produces `channel`. With `expected_hash`, a
    /// channel registered with another channel hash is refused by the
    /// broker ([`ErrorKind::SchemaMismatch`]); an unknown channel is
    /// [`ErrorKind::NotDiscovered`].
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
        self.call(Request::Discover {
            channel: channel.to_owned(),
            expected_hash,
            expected_slot_hash,
        })
    }

    /// `DEREG_REQ`: removes `channel`'s registration by `producer_pid`
    /// (and stops renewing it). Deregistering what is not registered is
    /// not an error.
    pub fn deregister(&self, channel: &str, producer_pid: u32) -> Result<(), Error> {
        self.handle.shared.lock().stop_renewing(channel);
        let request = deregister_request(channel, producer_pid, &self.handle.shared.owner_token);
        self.call::<Removed>(request).map(drop)
    }

    /// Deregisters without waiting for the reply (for `Drop`): the I/O
    /// thread sends it, even if this is the hub's last handle.
    fn deregister_detached(&self, channel: &str, producer_pid: u32) {
        let shared = &self.handle.shared;
        let request = shared.request(deregister_request(
            channel,
            producer_pid,
            &shared.owner_token,
        ));
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
        self.call::<Channels<Vec<ChannelRecord>>>(Request::List)
            .map(|list| list.channels)
    }

    fn protocol(&self, problem: String) -> Error {
        ErrorKind::BrokerProtocol {
            endpoint: self.endpoint().to_owned(),
            problem,
        }
        .into()
    }

    /// Sends one request and waits for its reply; an `ERROR` reply
    /// becomes the matching [`Error`].
    fn call<B: DeserializeOwned>(&self, request: Request) -> Result<B, Error> {
        let shared = &self.handle.shared;
        let kind = request.kind();
        let channel = request.channel().unwrap_or_default().to_owned();
        let request = shared.request(request);
        let id = request.0.clone();
        let (tx, rx): (SyncSender<Answer>, Receiver<Answer>) = mpsc::sync_channel(1);
        {
            let mut state = shared.lock();
            if let Some(why) = &state.failed {
                return Err(ErrorKind::BrokerIo {
                    endpoint: shared.endpoint.clone(),
                    source: std::io::Error::other(why.clone()),
                }
                .into());
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
                rx.try_recv().map_err(|_| ErrorKind::BrokerTimeout {
                    endpoint: shared.endpoint.clone(),
                    request: kind,
                    waited: timeout,
                })?
            }
            Err(RecvTimeoutError::Disconnected) => {
                let why = shared.lock().failed.clone().unwrap_or_default();
                return Err(ErrorKind::BrokerIo {
                    endpoint: shared.endpoint.clone(),
                    source: std::io::Error::other(format!("the hub's I/O thread stopped: {why}")),
                }
                .into());
            }
        };
        let reply = answer.map_err(|why| ErrorKind::BrokerIo {
            endpoint: shared.endpoint.clone(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, why),
        })?;
        let does_not_read = |e: serde_json::Error| {
            self.protocol(format!(
                "a {kind} reply that does not read ({e}): {}",
                String::from_utf8_lossy(&reply)
            ))
        };
        let head: Head = serde_json::from_slice(&reply).map_err(does_not_read)?;
        match head.status {
            Status::Ok => serde_json::from_slice::<Reply<B>>(&reply)
                .map(|reply| reply.body)
                .map_err(does_not_read),
            Status::Error => {
                let refusal =
                    serde_json::from_slice::<Reply<ErrorBody>>(&reply).map_err(does_not_read)?;
                Err(error_of(&shared.endpoint, channel, refusal.body))
            }
        }
    }
}

/// Registers through the broker: the hub renews the registration until
/// the [`Registered`] guard is dropped, which sends the `DEREG_REQ`
/// without waiting (the I/O thread sends it, even if the guard held the
/// hub's last handle). What [`Producer::register`](datahub::Producer::register)
/// calls.
///
/// ```
/// use datahub::{Registration, Registry, SchemaHash};
/// use datahub_broker::{Broker, MessageHub};
///
/// let endpoint = format!("ipc:///tmp/datahub-doc-registry-{}.sock", std::process::id());
/// let _broker = Broker::spawn(&endpoint)?;
/// let hub = MessageHub::connect(&endpoint)?;
/// let hash = SchemaHash::digest(b"an example");
/// let me = std::process::id();
/// let registered = Registry::register(&hub, &Registration::new("cam1", hash, me))?;
/// assert_eq!(hub.discover("cam1", Some(hash))?.producer_pid, me);
/// drop(registered); // withdrawn in the background
/// # Ok::<(), datahub::Error>(())
/// ```
impl Registry for MessageHub {
    fn register(&self, registration: &Registration) -> Result<Registered, Error> {
        MessageHub::register(self, registration)?;
        Ok(Registered::new(Withdrawal {
            hub: self.clone(),
            channel: registration.channel.clone(),
            pid: registration.producer_pid,
        }))
    }

    fn source(&self) -> String {
        self.endpoint().to_owned()
    }
}

/// A registration made through [`Registry::register`], withdrawn when
/// dropped.
struct Withdrawal {
    hub: MessageHub,
    channel: String,
    pid: u32,
}

impl Drop for Withdrawal {
    fn drop(&mut self) {
        self.hub.deregister_detached(&self.channel, self.pid);
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

    /// `request` with a fresh id: the id, and the frame to send.
    fn request(&self, request: Request) -> (String, Vec<u8>) {
        // Relaxed: only uniqueness matters, which the atomic increment
        // gives in any order.
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("{}.{n}", self.nonce);
        let envelope = Envelope {
            request_id,
            request,
        };
        // Strings, numbers and hashes always serialize; were one not to,
        // the empty frame is refused by the broker and the caller times
        // out, naming the request.
        let frame = serde_json::to_vec(&envelope).unwrap_or_default();
        (envelope.request_id, frame)
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

/// The `REG_REQ` of `registration`, with what the broker checks its
/// producer by (its start time, this host's boot id) and `owner_token`.
fn register_request(registration: &Registration, owner_token: &str) -> RegisterRequest {
    RegisterRequest {
        channel: registration.channel.clone(),
        shm_name: registration.shm_name.clone(),
        channel_hash: registration.channel_hash,
        slot_hash: registration.slot_hash,
        producer_pid: registration.producer_pid,
        producer_start_time: host::process_start_time(registration.producer_pid),
        boot_id: host::boot_id(),
        zmq_endpoint: registration.zmq_endpoint.clone(),
        owner_token: Some(owner_token.to_owned()),
    }
}

fn deregister_request(channel: &str, producer_pid: u32, owner_token: &str) -> Request {
    Request::Deregister {
        channel: channel.to_owned(),
        producer_pid,
        owner_token: Some(owner_token.to_owned()),
    }
}

/// A fresh secret: 128 bits from the OS's random source, in hex.
fn owner_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The [`Error`] an `ERROR` reply to a request about `channel` stands for.
fn error_of(endpoint: &str, channel: String, refusal: ErrorBody) -> Error {
    let ErrorBody {
        code,
        message,
        details,
    } = refusal;
    let refused = |code: String, message: String| ErrorKind::BrokerRefused {
        endpoint: endpoint.to_owned(),
        code,
        message,
    };
    match Code::from_wire(&code) {
        Some(Code::NotFound) => ErrorKind::NotDiscovered {
            channel,
            endpoint: endpoint.to_owned(),
            detail: message,
        }
        .into(),
        Some(Code::ChannelExists) => ErrorKind::ChannelExists {
            channel,
            holder: details.producer_pid,
        }
        .into(),
        Some(Code::SchemaMismatch) => {
            let hashes = match (details.channel_hash, details.expected_hash) {
                (Some(found), Some(expected)) => {
                    Some(("channel hash, at the broker", found, expected))
                }
                _ => details
                    .slot_hash
                    .zip(details.expected_slot_hash)
                    .map(|(found, expected)| ("slot type, at the broker", found, expected)),
            };
            match hashes {
                Some((part, found, expected)) => ErrorKind::SchemaMismatch {
                    channel,
                    part: part.into(),
                    expected: Box::new(expected),
                    found: Box::new(found),
                    detail: String::new(),
                }
                .into(),
                None => refused(code, message).into(),
            }
        }
        _ => refused(code, message).into(),
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
    let due: Vec<(String, RegisterRequest)> = state
        .kept
        .iter()
        .filter(|(channel, _)| !in_flight.contains(channel))
        .map(|(channel, request)| (channel.clone(), request.clone()))
        .collect();
    for (channel, request) in due {
        state.enqueue(
            shared.request(Request::Register(request)),
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
    let reply = String::from_utf8_lossy(payload);
    // Only the id is read here: whatever else is wrong with the reply is
    // its caller's to report (`MessageHub::call`).
    let routing = match serde_json::from_slice::<Routing>(payload) {
        Ok(routing) => routing,
        Err(e) => {
            tracing::warn!(endpoint = %shared.endpoint, %reply, error = %e, "a broker reply that does not read");
            return;
        }
    };
    let Some(id) = routing.request_id else {
        tracing::warn!(endpoint = %shared.endpoint, %reply, "a broker reply without a request_id");
        return;
    };
    let mut state = shared.lock();
    match state.pending.remove(&id) {
        Some(Pending {
            reply_to: Some(tx), ..
        }) => {
            // The slot holds one reply and this is the only one sent to
            // it; a caller that has gone makes this fail, harmlessly.
            let _ = tx.try_send(Ok(payload.clone()));
        }
        Some(Pending {
            reply_to: None,
            about,
            ..
        }) => {
            let status = serde_json::from_slice::<Head>(payload).map(|head| head.status);
            if !matches!(status, Ok(Status::Ok)) {
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
            tracing::debug!(endpoint = %shared.endpoint, %id, "late or duplicate reply dropped");
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
