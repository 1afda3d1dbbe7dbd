//! What the broker knows: one registration per channel, whether its
//! producer still lives, and who owns it. A producer on the broker's host
//! is identified by pid and start time, asked of the OS (DESIGN.md §7:
//! never decided by silence); one on another host (another boot id) holds
//! a lease that its `MessageHub` renews by registering again.
//!
//! A registration belongs to the client that made it: whoever shows its
//! secret owner token, or, made without one, its connection. Only the
//! owner (or the producer process itself, known by its `ipc://`
//! credentials) may renew, rewrite or deregister it while its producer
//! lives. A client may register only processes of its own user (root: any)
//! when the broker knows its user. Pure logic over a [`Processes`] oracle and the
//! [`Peer`] a request came from, so it is tested without processes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use blake2::{Blake2b256, Digest};
use serde_json::{Map, Value};

use super::peer::{Identity, Peer, user_label};
use super::wire::{Code, RegisterRequest};
use crate::types::SchemaHash;

/// How long a registration from another host lasts without renewal.
pub(crate) const REMOTE_LEASE: Duration = Duration::from_secs(10);

/// How many channels one broker holds, so registrations cannot exhaust
/// its memory.
pub(crate) const MAX_CHANNELS: usize = 4096;

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
        crate::segment::os::process_start_time(pid)
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
    /// Extra reply fields (the hashes of a mismatch, the holder's pid).
    pub(crate) fields: Map<String, Value>,
}

impl Failure {
    fn new(code: Code, message: String) -> Self {
        Self {
            code,
            message,
            fields: Map::new(),
        }
    }
}

/// Every registration of one broker.
pub(crate) struct Registry<P> {
    entries: BTreeMap<String, Entry>,
    processes: P,
    boot_id: Option<String>,
    max_channels: usize,
}

impl<P: Processes> Registry<P> {
    /// An empty registry on the host with `boot_id` (`None`: unknown, so
    /// every producer is taken to be local), holding at most
    /// `max_channels` registrations.
    pub(crate) fn new(processes: P, boot_id: Option<String>, max_channels: usize) -> Self {
        Self {
            entries: BTreeMap::new(),
            processes,
            boot_id,
            max_channels,
        }
    }

    /// Registrations held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// `REG_REQ` from `peer`: registers (or renews) `req`. Refused when
    /// another live producer holds the channel (`CHANNEL_EXISTS`), when
    /// another client owns this producer's registration (only its owner
    /// renews or changes it) or the client may not speak for the process
    /// (`NOT_OWNER`), when a local producer does not exist
    /// (`PRODUCER_DEAD`) or when the registry is full.
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
                    failure
                        .fields
                        .insert("producer_pid".into(), existing.reg.producer_pid.into());
                    return Err(failure);
                }
                if !self.owns(existing, token.as_deref(), peer) {
                    return Err(self.not_owner(existing));
                }
                // The owner renews or rewrites its registration.
                let since = existing.since;
                self.entries.insert(
                    req.channel.clone(),
                    Entry {
                        reg: req,
                        life,
                        owner,
                        since,
                    },
                );
                return Ok(());
            }
            // A dead producer's name goes to the next registration.
            let channel = req.channel.clone();
            self.entries.remove(&channel);
        }
        if self.entries.len() >= self.max_channels {
            self.sweep(now);
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
        self.entries.insert(
            req.channel.clone(),
            Entry {
                reg: req,
                life,
                owner,
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
            // Another host's pids mean nothing here.
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
            self.entries.remove(channel);
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
            let (registered_key, expected_key) = if what == "channel hash" {
                ("channel_hash", "expected_hash")
            } else {
                ("slot_hash", "expected_slot_hash")
            };
            failure
                .fields
                .insert(registered_key.into(), registered.to_string().into());
            failure
                .fields
                .insert(expected_key.into(), expected.to_string().into());
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
                self.entries.remove(channel);
                Ok(true)
            }
        }
    }

    /// Drops the registrations of dead producers and lapsed leases;
    /// returns the channels dropped, each with its producer's pid.
    pub(crate) fn sweep(&mut self, now: Instant) -> Vec<(String, u32)> {
        let dead: Vec<(String, u32)> = self
            .entries
            .iter()
            .filter(|(_, entry)| !self.is_alive(entry, now))
            .map(|(channel, entry)| (channel.clone(), entry.reg.producer_pid))
            .collect();
        for (channel, _) in &dead {
            self.entries.remove(channel);
        }
        dead
    }

    /// Every registration, by channel name.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// `entry` as the fields of a `DISC_REQ` reply or a `LIST_REQ` item.
    pub(crate) fn record(&self, entry: &Entry, now: Instant) -> Map<String, Value> {
        let reg = &entry.reg;
        let boot_id = match &entry.life {
            Life::Local { .. } => self.boot_id.clone(),
            Life::Remote { boot_id, .. } => Some(boot_id.clone()),
        };
        let mut fields = Map::new();
        fields.insert("channel".into(), reg.channel.clone().into());
        fields.insert("shm_name".into(), reg.shm_name.clone().into());
        fields.insert("channel_hash".into(), reg.channel_hash.to_string().into());
        fields.insert(
            "slot_hash".into(),
            reg.slot_hash
                .map_or(Value::Null, |h| Value::from(h.to_string())),
        );
        fields.insert("producer_pid".into(), reg.producer_pid.into());
        fields.insert(
            "zmq_endpoint".into(),
            reg.zmq_endpoint.clone().map_or(Value::Null, Value::from),
        );
        fields.insert("boot_id".into(), boot_id.map_or(Value::Null, Value::from));
        fields.insert(
            "local".into(),
            matches!(entry.life, Life::Local { .. }).into(),
        );
        let age = now.saturating_duration_since(entry.since);
        fields.insert(
            "registered_ms".into(),
            u64::try_from(age.as_millis()).unwrap_or(u64::MAX).into(),
        );
        fields
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::*;
    use crate::broker::peer::Credentials;

    /// Processes that a test starts and kills by hand: pid to start time
    /// and user.
    #[derive(Default)]
    struct Fake {
        processes: RefCell<HashMap<u32, (u64, u32)>>,
    }

    impl Processes for &Fake {
        fn start_time(&self, pid: u32) -> Option<u64> {
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
        Registry::new(fake, Some("here".into()), 3)
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
        assert_eq!(refused.fields["producer_pid"], 10);
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
        assert_eq!(wrong.fields["channel_hash"], hash(1).to_string());
        assert_eq!(wrong.fields["expected_hash"], hash(9).to_string());
        let wrong = reg.discover("cam", None, Some(hash(9)), now).unwrap_err();
        assert_eq!(wrong.fields["slot_hash"], hash(2).to_string());
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
        let mut reg = Registry::new(&fake, Some("here".into()), 10);
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
        // Another host's pids are not checked here.
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
    fn a_full_registry_makes_room_by_sweeping_then_refuses() {
        let fake = Fake::default();
        for pid in 1..=5 {
            fake.start(pid, 1);
        }
        let mut reg = registry(&fake);
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
        reg.register(req("c9", 4), &anonymous(4), now).unwrap();
        assert_eq!(reg.len(), 3);
    }
}
