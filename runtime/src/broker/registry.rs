//! What the broker knows: one registration per channel, and whether its
//! producer still lives. A producer on the broker's host is identified by
//! pid and start time, asked of the OS (DESIGN.md §7: never decided by
//! silence); one on another host (another boot id) holds a lease that its
//! `MessageHub` renews by registering again. Pure logic over a
//! [`Processes`] oracle, so it is tested without processes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

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
}

/// The real processes of this host, from `/proc`.
pub(crate) struct OsProcesses;

impl Processes for OsProcesses {
    fn start_time(&self, pid: u32) -> Option<u64> {
        crate::segment::os::process_start_time(pid)
    }
}

/// One registration.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// What the producer registered.
    pub(crate) reg: RegisterRequest,
    /// How its life is judged.
    owner: Owner,
    /// When it was first registered.
    since: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// On the broker's host: this pid with this start time.
    Local { start_time: u64 },
    /// On the host with this boot id, until the lease runs out.
    Remote { boot_id: String, until: Instant },
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
    /// every producer is taken to be local).
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

    /// `REG_REQ`: registers (or renews) `req`. Refused when another live
    /// producer holds the channel, when a local producer does not exist,
    /// or when the registry is full.
    pub(crate) fn register(&mut self, req: RegisterRequest, now: Instant) -> Result<(), Failure> {
        let owner = self.owner_of(&req, now)?;
        if let Some(existing) = self.entries.get(&req.channel) {
            let same = existing.reg.producer_pid == req.producer_pid
                && match (&existing.owner, &owner) {
                    (Owner::Local { start_time: a }, Owner::Local { start_time: b }) => a == b,
                    (Owner::Remote { boot_id: a, .. }, Owner::Remote { boot_id: b, .. }) => a == b,
                    _ => false,
                };
            if !same && self.is_alive(existing, now) {
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
            let since = if same { existing.since } else { now };
            self.entries.insert(
                req.channel.clone(),
                Entry {
                    reg: req,
                    owner,
                    since,
                },
            );
            return Ok(());
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
                owner,
                since: now,
            },
        );
        Ok(())
    }

    /// How the life of `req`'s producer will be judged.
    fn owner_of(&self, req: &RegisterRequest, now: Instant) -> Result<Owner, Failure> {
        let local = match (&req.boot_id, &self.boot_id) {
            (Some(theirs), Some(ours)) => theirs == ours,
            _ => true,
        };
        if !local {
            return Ok(Owner::Remote {
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
            (Some(start_time), _) => Ok(Owner::Local { start_time }),
        }
    }

    /// Whether `entry`'s producer lives (or, remote, holds its lease).
    fn is_alive(&self, entry: &Entry, now: Instant) -> bool {
        match &entry.owner {
            Owner::Local { start_time } => {
                self.processes.start_time(entry.reg.producer_pid) == Some(*start_time)
            }
            Owner::Remote { until, .. } => now < *until,
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

    /// `DEREG_REQ`: removes `channel`'s registration if `pid` holds it.
    /// Whether there was one; deregistering twice is not an error.
    pub(crate) fn deregister(&mut self, channel: &str, pid: u32) -> Result<bool, Failure> {
        match self.entries.get(channel) {
            None => Ok(false),
            Some(entry) if entry.reg.producer_pid != pid => Err(Failure::new(
                Code::NotOwner,
                format!(
                    "channel `{channel}` is registered by pid {}, not {pid}: only its producer deregisters it",
                    entry.reg.producer_pid
                ),
            )),
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
        let boot_id = match &entry.owner {
            Owner::Local { .. } => self.boot_id.clone(),
            Owner::Remote { boot_id, .. } => Some(boot_id.clone()),
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
            matches!(entry.owner, Owner::Local { .. }).into(),
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

    /// Processes that a test starts and kills by hand.
    #[derive(Default)]
    struct Fake(RefCell<HashMap<u32, u64>>);

    impl Processes for &Fake {
        fn start_time(&self, pid: u32) -> Option<u64> {
            self.0.borrow().get(&pid).copied()
        }
    }

    impl Fake {
        fn start(&self, pid: u32, start_time: u64) {
            self.0.borrow_mut().insert(pid, start_time);
        }
        fn kill(&self, pid: u32) {
            self.0.borrow_mut().remove(&pid);
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
        }
    }

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
        reg.register(req("cam", 10), now).unwrap();
        reg.register(req("cam", 10), now).unwrap(); // a renewal
        let refused = reg.register(req("cam", 11), now).unwrap_err();
        assert_eq!(refused.code, Code::ChannelExists);
        assert_eq!(refused.fields["producer_pid"], 10);
        fake.kill(10);
        reg.register(req("cam", 11), now).unwrap();
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
        reg.register(req("cam", 10), now).unwrap();
        fake.start(10, 999); // died, and the pid went to another process
        let gone = reg.discover("cam", None, None, now).unwrap_err();
        assert_eq!(gone.code, Code::NotFound);
        assert!(gone.message.contains("died"), "{}", gone.message);
        assert_eq!(reg.len(), 0);
        let mut stale = req("cam", 10);
        stale.producer_start_time = Some(100);
        assert_eq!(
            reg.register(stale, now).unwrap_err().code,
            Code::ProducerDead
        );
        assert_eq!(
            reg.register(req("cam", 77), now).unwrap_err().code,
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
        reg.register(req("a", 10), now).unwrap();
        reg.register(req("b", 11), now).unwrap();
        let mut remote = req("c", 12345);
        remote.boot_id = Some("elsewhere".into());
        reg.register(remote.clone(), now).unwrap();
        fake.kill(10);
        assert_eq!(reg.sweep(now), [("a".to_owned(), 10)]);
        assert_eq!(reg.sweep(now + REMOTE_LEASE / 2), []);
        reg.register(remote, now + REMOTE_LEASE / 2).unwrap(); // renewed
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
        reg.register(req("cam", 10), now).unwrap();
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
        reg.register(req("cam", 10), now).unwrap();
        assert_eq!(reg.deregister("cam", 11).unwrap_err().code, Code::NotOwner);
        assert_eq!(reg.deregister("cam", 10), Ok(true));
        assert_eq!(reg.deregister("cam", 10), Ok(false));
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
            reg.register(req(&format!("c{i}"), pid), now).unwrap();
        }
        assert_eq!(
            reg.register(req("c9", 4), now).unwrap_err().code,
            Code::RegistryFull
        );
        fake.kill(1);
        reg.register(req("c9", 4), now).unwrap();
        assert_eq!(reg.len(), 3);
    }
}
