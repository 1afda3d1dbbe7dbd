//! What the broker knows: one registration per channel, whether its
//! producer still lives, and who owns it. A producer on the broker's host
//! is identified by pid and start time, asked of the OS (`docs/protocol.md`, "Liveness and recovery":
//! never decided by silence); one on another host (another boot id) holds
//! a lease that its `MessageHub` renews by registering again.
//!
//! A registration belongs to the client that made it: whoever shows its
//! secret owner token, or, made without one, its connection. Only the
//! owner (or the producer process itself, known by its `ipc://`
//! credentials) may renew, rewrite or deregister it while its producer
//! lives. A client may register only processes of its own user (root: any)
//! when the broker knows its user, and holds at most a quota of
//! registrations. Pure logic over a [`Processes`] oracle and the
//! [`Peer`] a request came from, so it is tested without processes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use blake2::{Blake2b256, Digest};

use crate::peer::{Client, Identity, Peer, user_label};
use crate::wire::{Code, Details, RegisterRequest};
use datahub::ChannelRecord;
use datahub::SchemaHash;

/// How long a registration from another host lasts without renewal.
pub(crate) const REMOTE_LEASE: Duration = Duration::from_secs(10);

/// How many channels one broker holds, so registrations cannot exhaust
/// its memory.
pub(crate) const MAX_CHANNELS: usize = 4096;

/// How many registrations one client holds by default: a quarter of the
/// registry, so no one client can fill it.
pub(crate) const DEFAULT_QUOTA: usize = 1024;

/// The least time between two sweeps made to find room for a client at
/// its quota or a full registry, so that a flood of refused registrations
/// does not become a flood of sweeps.
const ROOM_SWEEP_GAP: Duration = Duration::from_millis(50);

/// The broker host's processes.
pub(crate) trait Processes {
    /// The start time of process `pid` (clock ticks since boot), or `None`
    /// if there is no such live process.
    fn start_time(&self, pid: u32) -> Option<u64>;

    /// The real and effective user ids of process `pid`.
    fn uids(&self, pid: u32) -> Option<[u32; 2]>;
}

/// The real processes of this host, from `/proc`.
pub(crate) struct OsProcesses;

impl Processes for OsProcesses {
    fn start_time(&self, pid: u32) -> Option<u64> {
        datahub::host::process_start_time(pid)
    }

    fn uids(&self, pid: u32) -> Option<[u32; 2]> {
        super::peer::process_uids(pid)
    }
}

/// One registration.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// What the producer registered (without its owner token).
    pub(crate) reg: RegisterRequest,
    /// How its producer's life is judged.
    life: Life,
    /// Who may renew, rewrite or deregister it.
    owner: Owner,
    /// Whose quota it counts against.
    client: Client,
    /// When it was first registered.
    since: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Life {
    /// On the broker's host: this pid with this start time.
    Local { start_time: u64 },
    /// On the host with this boot id, until the lease runs out.
    Remote { boot_id: String, until: Instant },
}

impl Life {
    /// Whether both describe the same producer process (the lease aside).
    fn same_process(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Local { start_time: a }, Self::Local { start_time: b }) => a == b,
            (Self::Remote { boot_id: a, .. }, Self::Remote { boot_id: b, .. }) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// Whoever shows the owner token with this digest (the token itself is
    /// not kept).
    Token([u8; 32]),
    /// This connection, from this peer.
    Connection { id: Vec<u8>, identity: Identity },
}

impl Owner {
    fn of(token: Option<&str>, peer: &Peer) -> Self {
        match token {
            Some(token) => Self::Token(digest(token)),
            None => Self::Connection {
                id: peer.connection.clone(),
                identity: peer.identity.clone(),
            },
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Blake2b256::digest(token.as_bytes()).into()
}

/// A request the registry refuses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    /// The reply code.
    pub(crate) code: Code,
    /// What went wrong and what to do.
    pub(crate) message: String,
    /// Extra reply fields (the hashes of a mismatch, the holder's pid),
    /// boxed so that a refusal stays cheap to return.
    pub(crate) details: Box<Details>,
}

impl Failure {
    fn new(code: Code, message: String) -> Self {
        Self {
            code,
            message,
            details: Box::default(),
        }
    }
}

/// Every registration of one broker.
pub(crate) struct Registry<P> {
    entries: BTreeMap<String, Entry>,
    /// Registrations held, by client.
    held: HashMap<Client, usize>,
    processes: P,
    boot_id: Option<String>,
    max_channels: usize,
    quota: usize,
    /// Changes whenever what `LIST_REQ` shows changes (but for ages).
    generation: u64,
    last_sweep: Option<Instant>,
}

impl<P: Processes> Registry<P> {
    /// An empty registry on the host with `boot_id` (`None`: unknown, so
    /// every producer is taken to be local), holding at most
    /// `max_channels` registrations, at most `quota` of them per client.
    pub(crate) fn new(
        processes: P,
        boot_id: Option<String>,
        max_channels: usize,
        quota: usize,
    ) -> Self {
        Self {
            entries: BTreeMap::new(),
            held: HashMap::new(),
            processes,
            boot_id,
            max_channels,
            quota,
            generation: 0,
            last_sweep: None,
        }
    }

    /// Registrations held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// A number that changes whenever a registration is added, removed or
    /// changed (renewals that change nothing leave it): a `LIST_REQ` reply
    /// built at one generation holds for as long as it lasts.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// `REG_REQ` from `peer`: registers (or renews) `req`. Refused when
    /// another live producer holds the channel (`CHANNEL_EXISTS`), when
    /// another client owns this producer's registration (only its owner
    /// renews or changes it) or the client may not speak for the process
    /// (`NOT_OWNER`), when a local producer does not exist
    /// (`PRODUCER_DEAD`), at the client's quota (`QUOTA_EXCEEDED`) or when
    /// the registry is full.
    pub(crate) fn register(
        &mut self,
        mut req: RegisterRequest,
        peer: &Peer,
        now: Instant,
    ) -> Result<(), Failure> {
        let token = req.owner_token.take();
        let life = self.life_of(&req, now)?;
        self.may_speak_for(&req, &life, peer)?;
        let owner = Owner::of(token.as_deref(), peer);
        let client = peer.client();
        if let Some(existing) = self.entries.get(&req.channel) {
            if self.is_alive(existing, now) {
                let same_process = existing.reg.producer_pid == req.producer_pid
                    && existing.life.same_process(&life);
                if !same_process {
                    let mut failure = Failure::new(
                        Code::ChannelExists,
                        format!(
                            "channel `{}` is registered by producer pid {}, which is alive: stop it first, or \
                             use another channel name",
                            req.channel, existing.reg.producer_pid
                        ),
                    );
                    failure.details.producer_pid = Some(existing.reg.producer_pid);
                    return Err(failure);
                }
                if !self.owns(existing, token.as_deref(), peer) {
                    return Err(self.not_owner(existing));
                }
                // The owner renews or rewrites its registration.
                if existing.client != client && self.held_by(&client) >= self.quota {
                    return Err(self.over_quota(&client));
                }
                let since = existing.since;
                let changed = existing.reg != req;
                let old_client = existing.client.clone();
                self.release(&old_client);
                *self.held.entry(client.clone()).or_default() += 1;
                if changed {
                    self.generation += 1;
                }
                self.entries.insert(
                    req.channel.clone(),
                    Entry {
                        reg: req,
                        life,
                        owner,
                        client,
                        since,
                    },
                );
                return Ok(());
            }
            // A dead producer's name goes to the next registration.
            let channel = req.channel.clone();
            self.remove(&channel);
        }
        if self.held_by(&client) >= self.quota {
            self.sweep_for_room(now);
        }
        if self.held_by(&client) >= self.quota {
            return Err(self.over_quota(&client));
        }
        if self.entries.len() >= self.max_channels {
            self.sweep_for_room(now);
        }
        if self.entries.len() >= self.max_channels {
            return Err(Failure::new(
                Code::RegistryFull,
                format!(
                    "the broker holds {} channels, its limit: deregister channels no longer produced",
                    self.max_channels
                ),
            ));
        }
        *self.held.entry(client.clone()).or_default() += 1;
        self.generation += 1;
        self.entries.insert(
            req.channel.clone(),
            Entry {
                reg: req,
                life,
                owner,
                client,
                since: now,
            },
        );
        Ok(())
    }

    /// How the life of `req`'s producer will be judged.
    fn life_of(&self, req: &RegisterRequest, now: Instant) -> Result<Life, Failure> {
        let local = match (&req.boot_id, &self.boot_id) {
            (Some(theirs), Some(ours)) => theirs == ours,
            _ => true,
        };
        if !local {
            return Ok(Life::Remote {
                boot_id: req.boot_id.clone().unwrap_or_default(),
                until: now + REMOTE_LEASE,
            });
        }
        let pid = req.producer_pid;
        match (self.processes.start_time(pid), req.producer_start_time) {
            (None, _) => Err(Failure::new(
                Code::ProducerDead,
                format!(
                    "no process {pid} runs on the broker's host: register from the producer's process; a \
                     producer on another host sends its boot_id"
                ),
            )),
            (Some(found), Some(claimed)) if found != claimed => Err(Failure::new(
                Code::ProducerDead,
                format!(
                    "process {pid} started at tick {found}, not at {claimed}: the producer that sent this \
                     died and its pid was reused"
                ),
            )),
            (Some(start_time), _) => Ok(Life::Local { start_time }),
        }
    }

    /// Whether `peer` may register a process of this host with `req`'s
    /// pid: when its user is known, only its own user's processes (root:
    /// any), since a user can do no more to another's processes.
    fn may_speak_for(
        &self,
        req: &RegisterRequest,
        life: &Life,
        peer: &Peer,
    ) -> Result<(), Failure> {
        if !matches!(life, Life::Local { .. }) {
            // Another host's pids mean nothing here; the quota bounds them.
            return Ok(());
        }
        let pid = req.producer_pid;
        match &peer.identity {
            Identity::Local(creds) if creds.uid == 0 || creds.pid == pid => Ok(()),
            Identity::Local(creds) => match self.processes.uids(pid) {
                Some(uids) if uids.contains(&creds.uid) => Ok(()),
                Some([_, effective]) => Err(Failure::new(
                    Code::NotOwner,
                    format!(
                        "process {pid} runs as {}, and you connect as {}: a client registers only processes \
                         of its own user (root: any); register from the producer's process",
                        user_label(effective),
                        user_label(creds.uid)
                    ),
                )),
                None => Err(Failure::new(
                    Code::ProducerDead,
                    format!(
                        "no process {pid} runs on the broker's host: register from the producer's process"
                    ),
                )),
            },
            Identity::Unverified(why) => Err(Failure::new(
                Code::NotOwner,
                format!(
                    "the broker could not read the credentials of your connection ({why}), so it cannot tell \
                     whether process {pid} is yours: send the request again"
                ),
            )),
            // A `tcp://` peer (or one of a platform without credentials):
            // it cannot be checked (docs/broker.md, "Security").
            Identity::Address(_) | Identity::Anonymous => Ok(()),
        }
    }

    /// Whether `peer`, showing `token`, owns `entry`: it shows the token
    /// the registration was made with, or it made the registration without
    /// one on this connection, or it is the producer process itself.
    fn owns(&self, entry: &Entry, token: Option<&str>, peer: &Peer) -> bool {
        let owner = match &entry.owner {
            Owner::Token(expected) => token.is_some_and(|t| digest(t) == *expected),
            Owner::Connection { id, identity } => {
                peer.connection == *id && peer.identity == *identity
            }
        };
        let the_producer = matches!(
            (&peer.identity, &entry.life),
            (Identity::Local(creds), Life::Local { .. }) if creds.pid == entry.reg.producer_pid
        );
        owner || the_producer
    }

    fn not_owner(&self, entry: &Entry) -> Failure {
        Failure::new(
            Code::NotOwner,
            format!(
                "channel `{}` of producer pid {} was registered by another client: only that client (with \
                 its owner token, or on its connection) or process {} itself may renew, change or deregister \
                 it while it lives",
                entry.reg.channel, entry.reg.producer_pid, entry.reg.producer_pid
            ),
        )
    }

    fn held_by(&self, client: &Client) -> usize {
        self.held.get(client).copied().unwrap_or(0)
    }

    fn over_quota(&self, client: &Client) -> Failure {
        let mut failure = Failure::new(
            Code::QuotaExceeded,
            format!(
                "{client} holds {} registrations, as many as one client may: deregister channels no longer \
                 produced, or start the broker with a larger --quota",
                self.held_by(client)
            ),
        );
        failure.details.quota = Some(self.quota);
        failure
    }

    /// Forgets `channel`'s registration.
    fn remove(&mut self, channel: &str) -> Option<Entry> {
        let entry = self.entries.remove(channel)?;
        self.release(&entry.client);
        self.generation += 1;
        Some(entry)
    }

    fn release(&mut self, client: &Client) {
        if let Some(n) = self.held.get_mut(client) {
            *n -= 1;
            if *n == 0 {
                self.held.remove(client);
            }
        }
    }

    /// Whether `entry`'s producer lives (or, remote, holds its lease).
    fn is_alive(&self, entry: &Entry, now: Instant) -> bool {
        match &entry.life {
            Life::Local { start_time } => {
                self.processes.start_time(entry.reg.producer_pid) == Some(*start_time)
            }
            Life::Remote { until, .. } => now < *until,
        }
    }

    /// `DISC_REQ`: the registration of `channel`, if its producer lives
    /// and the hashes are the expected ones. A dead producer's
    /// registration is dropped here.
    pub(crate) fn discover(
        &mut self,
        channel: &str,
        expected_hash: Option<SchemaHash>,
        expected_slot_hash: Option<SchemaHash>,
        now: Instant,
    ) -> Result<&Entry, Failure> {
        let not_found = || {
            Failure::new(
                Code::NotFound,
                format!("no producer has registered channel `{channel}` with this broker"),
            )
        };
        let dead = {
            let entry = self.entries.get(channel).ok_or_else(not_found)?;
            (!self.is_alive(entry, now)).then_some(entry.reg.producer_pid)
        };
        if let Some(pid) = dead {
            self.remove(channel);
            let mut failure = not_found();
            failure.message = format!(
                "channel `{channel}`'s producer (pid {pid}) died; its registration was dropped"
            );
            return Err(failure);
        }
        let entry = self.entries.get(channel).ok_or_else(not_found)?;
        let mismatch = |what: &str, registered: &SchemaHash, expected: &SchemaHash| {
            let mut failure = Failure::new(
                Code::SchemaMismatch,
                format!(
                    "channel `{channel}` is registered with {what} {registered}, you expect {expected}: \
                     the producer and this consumer were built from different schemas"
                ),
            );
            let details = &mut failure.details;
            if what == "channel hash" {
                details.channel_hash = Some(*registered);
                details.expected_hash = Some(*expected);
            } else {
                details.slot_hash = Some(*registered);
                details.expected_slot_hash = Some(*expected);
            }
            failure
        };
        if let Some(expected) = expected_hash
            && expected != entry.reg.channel_hash
        {
            return Err(mismatch("channel hash", &entry.reg.channel_hash, &expected));
        }
        if let (Some(expected), Some(registered)) = (expected_slot_hash, &entry.reg.slot_hash)
            && expected != *registered
        {
            return Err(mismatch("slot hash", registered, &expected));
        }
        Ok(entry)
    }

    /// `DEREG_REQ` from `peer`: removes `channel`'s registration by
    /// `pid`. Refused (`NOT_OWNER`) when another pid registered it, or
    /// another client owns it and its producer lives. Whether there was
    /// one; deregistering twice is not an error.
    pub(crate) fn deregister(
        &mut self,
        channel: &str,
        pid: u32,
        token: Option<&str>,
        peer: &Peer,
        now: Instant,
    ) -> Result<bool, Failure> {
        match self.entries.get(channel) {
            None => Ok(false),
            Some(entry) if entry.reg.producer_pid != pid => Err(Failure::new(
                Code::NotOwner,
                format!(
                    "channel `{channel}` is registered by pid {}, not {pid}: only its producer deregisters it",
                    entry.reg.producer_pid
                ),
            )),
            Some(entry) if !self.owns(entry, token, peer) && self.is_alive(entry, now) => {
                Err(self.not_owner(entry))
            }
            Some(_) => {
                self.remove(channel);
                Ok(true)
            }
        }
    }

    /// Drops the registrations of dead producers and lapsed leases;
    /// returns the channels dropped, each with its producer's pid. Asks
    /// the OS once per producer process, however many channels it has.
    pub(crate) fn sweep(&mut self, now: Instant) -> Vec<(String, u32)> {
        let mut start_times: HashMap<u32, Option<u64>> = HashMap::new();
        let dead: Vec<(String, u32)> = self
            .entries
            .iter()
            .filter(|(_, entry)| match &entry.life {
                Life::Local { start_time } => {
                    let pid = entry.reg.producer_pid;
                    *start_times
                        .entry(pid)
                        .or_insert_with(|| self.processes.start_time(pid))
                        != Some(*start_time)
                }
                Life::Remote { until, .. } => now >= *until,
            })
            .map(|(channel, entry)| (channel.clone(), entry.reg.producer_pid))
            .collect();
        for (channel, _) in &dead {
            self.remove(channel);
        }
        self.last_sweep = Some(now);
        dead
    }

    /// A sweep to make room, unless one ran within [`ROOM_SWEEP_GAP`].
    fn sweep_for_room(&mut self, now: Instant) {
        let recent = self
            .last_sweep
            .is_some_and(|at| now.saturating_duration_since(at) < ROOM_SWEEP_GAP);
        if !recent {
            self.sweep(now);
        }
    }

    /// Every registration, by channel name.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// `entry` as a `DISC_REQ` reply's record or a `LIST_REQ` item.
    pub(crate) fn record(&self, entry: &Entry, now: Instant) -> ChannelRecord {
        let reg = &entry.reg;
        let boot_id = match &entry.life {
            Life::Local { .. } => self.boot_id.clone(),
            Life::Remote { boot_id, .. } => Some(boot_id.clone()),
        };
        let age = now.saturating_duration_since(entry.since);
        let mut record = ChannelRecord::new(
            &reg.channel,
            &reg.shm_name,
            reg.channel_hash,
            reg.producer_pid,
        );
        record.slot_hash = reg.slot_hash;
        record.zmq_endpoint = reg.zmq_endpoint.clone();
        record.boot_id = boot_id;
        record.local = matches!(entry.life, Life::Local { .. });
        record.registered_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
        record
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;

    use super::*;
    use crate::peer::Credentials;

    /// Processes that a test starts and kills by hand: pid to start time
    /// and user.
    #[derive(Default)]
    struct Fake {
        processes: RefCell<HashMap<u32, (u64, u32)>>,
        asked: Cell<usize>,
    }

    impl Processes for &Fake {
        fn start_time(&self, pid: u32) -> Option<u64> {
            self.asked.set(self.asked.get() + 1);
            self.processes.borrow().get(&pid).map(|p| p.0)
        }
        fn uids(&self, pid: u32) -> Option<[u32; 2]> {
            self.processes.borrow().get(&pid).map(|p| [p.1, p.1])
        }
    }

    impl Fake {
        fn start(&self, pid: u32, start_time: u64) {
            self.start_as(pid, start_time, 1000);
        }
        fn start_as(&self, pid: u32, start_time: u64, uid: u32) {
            self.processes.borrow_mut().insert(pid, (start_time, uid));
        }
        fn kill(&self, pid: u32) {
            self.processes.borrow_mut().remove(&pid);
        }
    }

    fn hash(byte: u8) -> SchemaHash {
        SchemaHash::digest(&[byte])
    }

    fn req(channel: &str, pid: u32) -> RegisterRequest {
        RegisterRequest {
            channel: channel.into(),
            shm_name: format!("/datahub.{channel}"),
            channel_hash: hash(1),
            slot_hash: Some(hash(2)),
            producer_pid: pid,
            producer_start_time: None,
            boot_id: None,
            zmq_endpoint: None,
            owner_token: None,
        }
    }

    fn with_token(mut req: RegisterRequest, token: &str) -> RegisterRequest {
        req.owner_token = Some(token.into());
        req
    }

    /// A client on connection `id` the broker knows nothing of.
    fn anonymous(id: u8) -> Peer {
        Peer {
            connection: vec![id],
            identity: Identity::Anonymous,
        }
    }

    /// An `ipc://` client: process `pid` of user `uid`, on connection `id`.
    fn local(id: u8, uid: u32, pid: u32) -> Peer {
        Peer {
            connection: vec![id],
            identity: Identity::Local(Credentials { uid, pid }),
        }
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";
    const OTHER_TOKEN: &str = "fedcba9876543210fedcba9876543210";

    fn registry(fake: &Fake) -> Registry<&Fake> {
        Registry::new(fake, Some("here".into()), 3, 3)
    }

    #[test]
    fn a_live_producer_keeps_its_channel_and_a_dead_ones_is_taken_over() {
        let fake = Fake::default();
        fake.start(10, 100);
        fake.start(11, 200);
        let mut reg = registry(&fake);
        let now = Instant::now();
        let client = anonymous(1);
        reg.register(req("cam", 10), &client, now).unwrap();
        reg.register(req("cam", 10), &client, now).unwrap(); // a renewal
        let refused = reg.register(req("cam", 11), &client, now).unwrap_err();
        assert_eq!(refused.code, Code::ChannelExists);
        assert_eq!(refused.details.producer_pid, Some(10));
        fake.kill(10);
        reg.register(req("cam", 11), &anonymous(2), now).unwrap();
        assert_eq!(
            reg.discover("cam", None, None, now)
                .unwrap()
                .reg
                .producer_pid,
            11
        );
    }

    #[test]
    fn a_reused_pid_is_not_the_producer_that_registered() {
        let fake = Fake::default();
        fake.start(10, 100);
        let mut reg = registry(&fake);
        let now = Instant::now();
        let client = anonymous(1);
        reg.register(req("cam", 10), &client, now).unwrap();
        fake.start(10, 999); // died, and the pid went to another process
        let gone = reg.discover("cam", None, None, now).unwrap_err();
        assert_eq!(gone.code, Code::NotFound);
        assert!(gone.message.contains("died"), "{}", gone.message);
        assert_eq!(reg.len(), 0);
        let mut stale = req("cam", 10);
        stale.producer_start_time = Some(100);
        assert_eq!(
            reg.register(stale, &client, now).unwrap_err().code,
            Code::ProducerDead
        );
        assert_eq!(
            reg.register(req("cam", 77), &client, now).unwrap_err().code,
            Code::ProducerDead
        );
    }

    #[test]
    fn a_sweep_drops_dead_producers_and_lapsed_remote_leases_only() {
        let fake = Fake::default();
        fake.start(10, 1);
        fake.start(11, 1);
        let mut reg = registry(&fake);
        let now = Instant::now();
        let client = anonymous(1);
        reg.register(req("a", 10), &client, now).unwrap();
        reg.register(req("b", 11), &client, now).unwrap();
        let mut remote = req("c", 12345);
        remote.boot_id = Some("elsewhere".into());
        reg.register(remote.clone(), &client, now).unwrap();
        fake.kill(10);
        assert_eq!(reg.sweep(now), [("a".to_owned(), 10)]);
        assert_eq!(reg.sweep(now + REMOTE_LEASE / 2), []);
        reg.register(remote, &client, now + REMOTE_LEASE / 2)
            .unwrap(); // renewed
        assert_eq!(reg.sweep(now + REMOTE_LEASE), []);
        assert_eq!(reg.sweep(now + REMOTE_LEASE * 2), [("c".to_owned(), 12345)]);
        assert_eq!(reg.len(), 1);
    }

    #[test]
    fn a_sweep_asks_the_os_once_per_producer_process() {
        let fake = Fake::default();
        fake.start(10, 1);
        let mut reg = Registry::new(&fake, None, 100, 100);
        let now = Instant::now();
        for i in 0..50 {
            reg.register(req(&format!("c{i}"), 10), &anonymous(1), now)
                .unwrap();
        }
        fake.asked.set(0);
        assert_eq!(reg.sweep(now), []);
        assert_eq!(fake.asked.get(), 1);
    }

    #[test]
    fn discovery_refuses_a_mismatched_channel_or_slot_hash_naming_both() {
        let fake = Fake::default();
        fake.start(10, 1);
        let mut reg = registry(&fake);
        let now = Instant::now();
        reg.register(req("cam", 10), &anonymous(1), now).unwrap();
        reg.discover("cam", Some(hash(1)), Some(hash(2)), now)
            .unwrap();
        let wrong = reg.discover("cam", Some(hash(9)), None, now).unwrap_err();
        assert_eq!(wrong.code, Code::SchemaMismatch);
        assert_eq!(wrong.details.channel_hash, Some(hash(1)));
        assert_eq!(wrong.details.expected_hash, Some(hash(9)));
        let wrong = reg.discover("cam", None, Some(hash(9)), now).unwrap_err();
        assert_eq!(wrong.details.slot_hash, Some(hash(2)));
        assert_eq!(
            reg.discover("nope", None, None, now).unwrap_err().code,
            Code::NotFound
        );
    }

    #[test]
    fn only_the_registering_pid_deregisters_and_twice_is_fine() {
        let fake = Fake::default();
        fake.start(10, 1);
        let mut reg = registry(&fake);
        let now = Instant::now();
        let client = anonymous(1);
        reg.register(req("cam", 10), &client, now).unwrap();
        let wrong_pid = reg.deregister("cam", 11, None, &client, now);
        assert_eq!(wrong_pid.unwrap_err().code, Code::NotOwner);
        assert_eq!(reg.deregister("cam", 10, None, &client, now), Ok(true));
        assert_eq!(reg.deregister("cam", 10, None, &client, now), Ok(false));
    }

    #[test]
    fn only_the_owner_renews_rewrites_or_deregisters_a_live_registration() {
        let fake = Fake::default();
        fake.start(10, 1);
        let mut reg = registry(&fake);
        let now = Instant::now();
        let (owner, stranger) = (anonymous(1), anonymous(2));

        // Owned by its token, from whichever connection shows it.
        reg.register(with_token(req("cam", 10), TOKEN), &owner, now)
            .unwrap();
        for (token, peer) in [
            (None, &owner),
            (Some(OTHER_TOKEN), &owner),
            (None, &stranger),
        ] {
            let mut rewrite = req("cam", 10);
            rewrite.shm_name = "/datahub.elsewhere".into();
            rewrite.owner_token = token.map(str::to_owned);
            let refused = reg.register(rewrite, peer, now).unwrap_err();
            assert_eq!(refused.code, Code::NotOwner, "{token:?}");
            assert!(
                refused.message.contains("another client"),
                "{}",
                refused.message
            );
            let refused = reg.deregister("cam", 10, token, peer, now).unwrap_err();
            assert_eq!(refused.code, Code::NotOwner);
        }
        let entry = reg.discover("cam", None, None, now).unwrap();
        assert_eq!(entry.reg.shm_name, "/datahub.cam");
        let mut rewrite = with_token(req("cam", 10), TOKEN);
        rewrite.zmq_endpoint = Some("tcp://h:1".into());
        reg.register(rewrite, &stranger, now).unwrap();
        assert_eq!(
            reg.deregister("cam", 10, Some(TOKEN), &stranger, now),
            Ok(true)
        );

        // Made without a token: owned by its connection.
        reg.register(req("cam", 10), &owner, now).unwrap();
        let refused = reg.deregister("cam", 10, None, &stranger, now);
        assert_eq!(refused.unwrap_err().code, Code::NotOwner);
        // Showing a token does not own what was made without one.
        let refused = reg.deregister("cam", 10, Some(TOKEN), &stranger, now);
        assert_eq!(refused.unwrap_err().code, Code::NotOwner);
        // A connection that takes the same routing id from another
        // process is not the owner either.
        let impostor = Peer {
            connection: vec![1],
            identity: Identity::Local(Credentials { uid: 1000, pid: 99 }),
        };
        assert!(reg.deregister("cam", 10, None, &impostor, now).is_err());
        // The producer process itself, known by its credentials, always is.
        let producer = local(7, 1000, 10);
        reg.register(with_token(req("cam", 10), OTHER_TOKEN), &producer, now)
            .unwrap();
        assert_eq!(reg.deregister("cam", 10, None, &producer, now), Ok(true));

        // Once the producer is dead, anyone may take the name or drop it.
        reg.register(with_token(req("cam", 10), TOKEN), &owner, now)
            .unwrap();
        fake.kill(10);
        assert_eq!(reg.deregister("cam", 10, None, &stranger, now), Ok(true));
    }

    #[test]
    fn a_client_registers_only_processes_of_its_own_user_unless_root() {
        let fake = Fake::default();
        fake.start_as(10, 1, 1000);
        fake.start_as(11, 1, 0);
        let mut reg = Registry::new(&fake, Some("here".into()), 10, 10);
        let now = Instant::now();
        let alice = local(1, 1000, 500);
        let bob = local(2, 1001, 501);
        let root = local(3, 0, 502);
        reg.register(req("a", 10), &alice, now).unwrap();
        let refused = reg.register(req("b", 10), &bob, now).unwrap_err();
        assert_eq!(refused.code, Code::NotOwner);
        assert!(
            refused.message.contains("uid 1000") && refused.message.contains("uid 1001"),
            "{}",
            refused.message
        );
        let refused = reg.register(req("c", 11), &alice, now).unwrap_err();
        assert_eq!(refused.code, Code::NotOwner);
        reg.register(req("d", 11), &root, now).unwrap();
        reg.register(req("e", 10), &root, now).unwrap();
        // Another host's pids are not checked here (the quota bounds them).
        let mut remote = req("f", 11);
        remote.boot_id = Some("elsewhere".into());
        reg.register(remote, &bob, now).unwrap();
        // A peer whose credentials could not be read is trusted with none.
        let unverified = Peer {
            connection: vec![4],
            identity: Identity::Unverified("EBADF".into()),
        };
        let refused = reg.register(req("g", 10), &unverified, now).unwrap_err();
        assert_eq!(refused.code, Code::NotOwner);
        assert!(refused.message.contains("EBADF"), "{}", refused.message);
    }

    #[test]
    fn a_client_at_its_quota_is_refused_while_others_still_register() {
        let fake = Fake::default();
        fake.start_as(10, 1, 1000);
        fake.start_as(11, 1, 1001);
        let mut reg = Registry::new(&fake, Some("here".into()), 10, 3);
        let now = Instant::now();
        let flooder = local(1, 1000, 10);
        for i in 0..2 {
            reg.register(req(&format!("f{i}"), 10), &flooder, now)
                .unwrap();
        }
        // Registrations for another host count too.
        let mut remote = req("f-remote", 4242);
        remote.boot_id = Some("elsewhere".into());
        reg.register(remote, &flooder, now).unwrap();
        // Another connection of the same user is the same client.
        let refused = reg
            .register(req("f9", 10), &local(9, 1000, 10), now)
            .unwrap_err();
        assert_eq!(refused.code, Code::QuotaExceeded);
        assert_eq!(refused.details.quota, Some(3));
        assert!(refused.message.contains("uid 1000"), "{}", refused.message);
        // Renewing what it holds is not a new registration.
        reg.register(req("f0", 10), &flooder, now).unwrap();
        // Another user is not held back.
        reg.register(req("v", 11), &local(2, 1001, 11), now)
            .unwrap();
        // Deregistering frees room.
        assert_eq!(reg.deregister("f0", 10, None, &flooder, now), Ok(true));
        reg.register(req("f9", 10), &flooder, now).unwrap();
    }

    #[test]
    fn a_full_registry_makes_room_by_sweeping_then_refuses() {
        let fake = Fake::default();
        for pid in 1..=5 {
            fake.start(pid, 1);
        }
        let mut reg = Registry::new(&fake, Some("here".into()), 3, 3);
        let now = Instant::now();
        for (i, pid) in (1..=3).enumerate() {
            reg.register(req(&format!("c{i}"), pid), &anonymous(pid as u8), now)
                .unwrap();
        }
        assert_eq!(
            reg.register(req("c9", 4), &anonymous(4), now)
                .unwrap_err()
                .code,
            Code::RegistryFull
        );
        fake.kill(1);
        // A sweep made to find room runs at most every ROOM_SWEEP_GAP.
        assert_eq!(
            reg.register(req("c9", 4), &anonymous(4), now)
                .unwrap_err()
                .code,
            Code::RegistryFull
        );
        reg.register(req("c9", 4), &anonymous(4), now + ROOM_SWEEP_GAP)
            .unwrap();
        assert_eq!(reg.len(), 3);
    }

    #[test]
    fn the_generation_changes_with_what_a_list_shows_not_with_renewals() {
        let fake = Fake::default();
        fake.start(10, 1);
        let mut reg = registry(&fake);
        let now = Instant::now();
        let client = anonymous(1);
        let g0 = reg.generation();
        reg.register(req("cam", 10), &client, now).unwrap();
        let g1 = reg.generation();
        assert_ne!(g0, g1);
        reg.register(req("cam", 10), &client, now).unwrap();
        assert_eq!(reg.generation(), g1);
        let mut changed = req("cam", 10);
        changed.zmq_endpoint = Some("tcp://h:1".into());
        reg.register(changed, &client, now).unwrap();
        let g2 = reg.generation();
        assert_ne!(g1, g2);
        fake.kill(10);
        reg.sweep(now);
        assert_ne!(reg.generation(), g2);
    }
}
