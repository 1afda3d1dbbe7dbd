//! Finding a channel by name through a discovery service, and announcing
//! one (`docs/broker.md`): the consumer side, the [`Discovery`] trait that
//! [`Consumer::discover`](crate::Consumer::discover) and generated channel
//! modules ask, answering with a [`ChannelRecord`]; the producer side, the
//! [`Registry`] trait that [`Producer::register`](crate::Producer::register)
//! hands a [`Registration`] to, keeping the [`Registered`] guard that
//! withdraws it. The runtime only defines the traits: the ZeroMQ broker's
//! client `MessageHub` (crate `datahub-broker`) implements both, and so
//! can anything else (a static table, a test double), without the runtime
//! depending on a network stack.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::types::SchemaHash;

/// The hashes a consumer expects of a channel it looks for; the service
/// refuses a channel registered with others ([`ErrorKind::SchemaMismatch`](crate::ErrorKind::SchemaMismatch)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Expected {
    /// The channel hash (slot type and zones), when known.
    pub channel_hash: Option<SchemaHash>,
    /// The slot type's hash, when known.
    pub slot_hash: Option<SchemaHash>,
}

impl Expected {
    /// Expects `hash` as the channel hash.
    pub fn channel_hash(mut self, hash: SchemaHash) -> Self {
        self.channel_hash = Some(hash);
        self
    }

    /// Expects `hash` as the slot type's hash.
    pub fn slot_hash(mut self, hash: SchemaHash) -> Self {
        self.slot_hash = Some(hash);
        self
    }
}

/// A service that says who produces a channel: the broker's client
/// (`datahub_broker::MessageHub`), or anything else that can (a static
/// table, a test double).
///
/// ```
/// use datahub::{ChannelRecord, Discovery, Error, ErrorKind, Expected};
///
/// /// Knows no channel at all.
/// struct Nobody;
///
/// impl Discovery for Nobody {
///     fn find(&self, channel: &str, _: Expected) -> Result<ChannelRecord, Error> {
///         Err(ErrorKind::NotDiscovered {
///             channel: channel.into(),
///             endpoint: self.source(),
///             detail: "nobody knows anything".into(),
///         }
///         .into())
///     }
///     fn source(&self) -> String {
///         "nowhere".into()
///     }
/// }
///
/// let err = datahub::Consumer::<datahub::Bytes>::discover(&Nobody, "cam0").unwrap_err();
/// assert_eq!(err.code(), "DH219");
/// ```
pub trait Discovery {
    /// Who produces `channel`, refusing one registered with other hashes
    /// than `expected` ([`ErrorKind::SchemaMismatch`](crate::ErrorKind::SchemaMismatch)); an unknown channel is
    /// [`ErrorKind::NotDiscovered`](crate::ErrorKind::NotDiscovered).
    fn find(&self, channel: &str, expected: Expected) -> Result<ChannelRecord, Error>;

    /// Where the answers come from (the broker's endpoint), for messages.
    fn source(&self) -> String;
}

/// What a broker knows of one channel (a `DISC_REQ` reply, an item of a
/// `LIST_REQ` reply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelRecord {
    /// The channel.
    pub channel: String,
    /// The shared-memory object's POSIX name on the producer's host.
    pub shm_name: String,
    /// The channel hash.
    pub channel_hash: SchemaHash,
    /// The slot type's hash, if the producer gave it.
    #[serde(default)]
    pub slot_hash: Option<SchemaHash>,
    /// The producer's pid (on its host).
    pub producer_pid: u32,
    /// The producer's ZeroMQ endpoint, if any.
    #[serde(default)]
    pub zmq_endpoint: Option<String>,
    /// The producer host's boot id, when known.
    #[serde(default)]
    pub boot_id: Option<String>,
    /// Whether the producer runs on the broker's host (its liveness is
    /// checked by pid; a remote one holds a lease).
    #[serde(default)]
    pub local: bool,
    /// Milliseconds since the channel was registered.
    #[serde(default)]
    pub registered_ms: u64,
}

impl ChannelRecord {
    /// Channel `channel` in shared-memory object `shm_name`, with
    /// `channel_hash`, produced by `producer_pid`, and nothing else known:
    /// the start of a record that a discovery service fills in.
    ///
    /// ```
    /// use datahub::{ChannelRecord, SchemaHash};
    ///
    /// let hash = SchemaHash::digest(b"an example");
    /// let mut record = ChannelRecord::new("cam0", "/datahub.cam0", hash, 42);
    /// record.local = true;
    /// assert!(record.is_on_this_host());
    /// assert_eq!(record.zmq_endpoint, None);
    /// ```
    pub fn new(channel: &str, shm_name: &str, channel_hash: SchemaHash, producer_pid: u32) -> Self {
        Self {
            channel: channel.to_owned(),
            shm_name: shm_name.to_owned(),
            channel_hash,
            slot_hash: None,
            producer_pid,
            zmq_endpoint: None,
            boot_id: None,
            local: false,
            registered_ms: 0,
        }
    }

    /// Whether the producer runs on this host, as far as boot ids tell.
    pub fn is_on_this_host(&self) -> bool {
        match (&self.boot_id, crate::segment::os::boot_id()) {
            (Some(theirs), Some(ours)) => *theirs == ours,
            _ => true,
        }
    }
}

/// What a producer announces to a [`Registry`]: which channel, in which
/// shared-memory object, with which hashes, by which process. The
/// producer-side counterpart of [`ChannelRecord`].
///
/// ```
/// use datahub::{Registration, SchemaHash};
///
/// let hash = SchemaHash::digest(b"an example");
/// let registration = Registration::new("cam0", hash, 42).zmq_endpoint("tcp://10.0.0.2:5555");
/// assert_eq!(registration.shm_name, "/datahub.cam0");
/// assert_eq!(registration.zmq_endpoint.as_deref(), Some("tcp://10.0.0.2:5555"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Registration {
    /// The channel.
    pub channel: String,
    /// The shared-memory object's POSIX name (`/datahub.<channel>`).
    pub shm_name: String,
    /// The channel hash (slot type and zones).
    pub channel_hash: SchemaHash,
    /// The slot type's hash, so a consumer of another slot type is refused
    /// at the service even when it does not know the zones.
    pub slot_hash: Option<SchemaHash>,
    /// The producer's pid.
    pub producer_pid: u32,
    /// Where the producer also publishes over ZeroMQ, if it does.
    pub zmq_endpoint: Option<String>,
}

impl Registration {
    /// Channel `channel` with `channel_hash`, produced by `producer_pid`,
    /// in the shared-memory object DataHub names after the channel.
    ///
    /// ```
    /// # let hash = datahub::SchemaHash::digest(b"x");
    /// let registration = datahub::Registration::new("imu", hash, std::process::id());
    /// assert_eq!(registration.slot_hash, None);
    /// ```
    pub fn new(channel: &str, channel_hash: SchemaHash, producer_pid: u32) -> Self {
        Self {
            channel: channel.to_owned(),
            shm_name: crate::segment::os::shm_name(channel),
            channel_hash,
            slot_hash: None,
            producer_pid,
            zmq_endpoint: None,
        }
    }

    /// With the slot type's hash.
    ///
    /// ```
    /// # let hash = datahub::SchemaHash::digest(b"x");
    /// let registration = datahub::Registration::new("imu", hash, 1).slot_hash(hash);
    /// assert_eq!(registration.slot_hash, Some(hash));
    /// ```
    pub fn slot_hash(mut self, hash: SchemaHash) -> Self {
        self.slot_hash = Some(hash);
        self
    }

    /// With the producer's ZeroMQ endpoint.
    ///
    /// ```
    /// # let hash = datahub::SchemaHash::digest(b"x");
    /// let registration = datahub::Registration::new("imu", hash, 1).zmq_endpoint("ipc:///tmp/imu");
    /// assert_eq!(registration.zmq_endpoint.as_deref(), Some("ipc:///tmp/imu"));
    /// ```
    pub fn zmq_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.zmq_endpoint = Some(endpoint.into());
        self
    }
}

/// A service that producers announce their channels to, so consumers can
/// [`Discovery::find`] them: the broker's client
/// (`datahub_broker::MessageHub`), or anything else that can (a static
/// table, a test double). Registering hands back a [`Registered`] guard;
/// the registration lasts until the guard is dropped.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::{Arc, Mutex};
/// use datahub::{ChannelConfig, DataHubSlot, Error, Producer, Registered, Registration, Registry};
///
/// /// Keeps registrations in a table of this process.
/// #[derive(Default)]
/// struct Table(Arc<Mutex<BTreeMap<String, Registration>>>);
///
/// impl Registry for Table {
///     fn register(&self, registration: &Registration) -> Result<Registered, Error> {
///         let name = registration.channel.clone();
///         self.0.lock().unwrap().insert(name.clone(), registration.clone());
///         let table = Arc::clone(&self.0);
///         Ok(Registered::on_drop(move || {
///             table.lock().unwrap().remove(&name);
///         }))
///     }
///     fn source(&self) -> String {
///         "a table in this process".into()
///     }
/// }
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Sample { value: f64 }
///
/// let table = Table::default();
/// let name = format!("doc-registry-{}", std::process::id());
/// let mut producer = Producer::<Sample>::create(&ChannelConfig::new(&name))?;
/// producer.register(&table)?;
/// assert_eq!(table.0.lock().unwrap()[&name].producer_pid, std::process::id());
/// drop(producer); // withdraws the registration first
/// assert!(table.0.lock().unwrap().is_empty());
/// # Ok::<(), datahub::Error>(())
/// ```
pub trait Registry {
    /// Announces `registration`; it holds until the returned guard is
    /// dropped. Refused with [`ErrorKind::ChannelExists`](crate::ErrorKind::ChannelExists) when another live
    /// producer holds the channel; a service that does not answer is
    /// [`ErrorKind::BrokerTimeout`](crate::ErrorKind::BrokerTimeout).
    fn register(&self, registration: &Registration) -> Result<Registered, Error>;

    /// Where registrations go (the broker's endpoint), for messages.
    fn source(&self) -> String;
}

/// A registration made with a [`Registry`], withdrawn when dropped. What
/// withdrawing means is the registry's: it gives the guard a value whose
/// own `Drop` withdraws ([`Registered::new`]) or a closure
/// ([`Registered::on_drop`]).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let withdrawn = Arc::new(AtomicBool::new(false));
/// let guard = {
///     let withdrawn = Arc::clone(&withdrawn);
///     // Relaxed: the flag is read after the drop, on this thread.
///     datahub::Registered::on_drop(move || withdrawn.store(true, Ordering::Relaxed))
/// };
/// assert!(!withdrawn.load(Ordering::Relaxed));
/// drop(guard);
/// assert!(withdrawn.load(Ordering::Relaxed));
/// ```
#[must_use = "the registration is withdrawn when this guard is dropped"]
pub struct Registered {
    _withdraw: Box<dyn Send + Sync>,
}

impl Registered {
    /// A guard that holds `withdraw` and drops it (running its `Drop`,
    /// which withdraws the registration) when the guard is dropped.
    ///
    /// ```
    /// /// Withdraws nothing: a registry that forgets on its own.
    /// struct Nothing;
    ///
    /// let guard = datahub::Registered::new(Nothing);
    /// drop(guard);
    /// ```
    pub fn new(withdraw: impl Send + Sync + 'static) -> Self {
        Self {
            _withdraw: Box::new(withdraw),
        }
    }

    /// A guard that calls `withdraw` once, when it is dropped.
    ///
    /// ```
    /// let guard = datahub::Registered::on_drop(|| println!("withdrawn"));
    /// drop(guard); // prints "withdrawn"
    /// ```
    pub fn on_drop(withdraw: impl FnOnce() + Send + 'static) -> Self {
        /// Calls its closure when dropped. The mutex makes it `Sync`
        /// without asking the closure to be: it is only ever reached
        /// through `&mut` (the drop).
        struct OnDrop<F: FnOnce()>(std::sync::Mutex<Option<F>>);

        impl<F: FnOnce()> Drop for OnDrop<F> {
            fn drop(&mut self) {
                let slot = self
                    .0
                    .get_mut()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(withdraw) = slot.take() {
                    withdraw();
                }
            }
        }

        Self::new(OnDrop(std::sync::Mutex::new(Some(withdraw))))
    }
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered").finish_non_exhaustive()
    }
}
