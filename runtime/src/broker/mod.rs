//! Discovery by name and schema hash over ZeroMQ (DESIGN.md §9): the
//! [`Broker`] (`datahub broker`) keeps who produces which channel, with
//! which channel hash, in which shared-memory object; [`MessageHub`] is
//! its thread-safe client. Producers register
//! ([`Producer::register`](crate::Producer::register)), consumers discover
//! then attach ([`Consumer::discover`](crate::Consumer::discover)). No data
//! goes through the broker, and nothing else needs it: a consumer on the
//! same host can always attach by channel name. `docs/broker.md` gives the
//! messages.
//!
//! ```
//! use std::time::Duration;
//! use datahub::broker::{Broker, MessageHub};
//! use datahub::{ChannelConfig, Consumer, DataHubSlot, Producer};
//!
//! #[derive(Clone, Copy, DataHubSlot)]
//! #[repr(C)]
//! struct Sample { t_ns: u64, value: f64 }
//!
//! let pid = std::process::id();
//! let broker = Broker::spawn(&format!("ipc:///tmp/datahub-doc-mod-{pid}.sock"))?;
//! let hub = MessageHub::connect(broker.endpoint())?;
//!
//! let name = format!("doc-broker-{pid}");
//! let mut producer = Producer::<Sample>::create(&ChannelConfig::new(&name))?;
//! producer.register(&hub)?;
//! producer.write_with(Duration::from_secs(1), |s| s.value = 1.5)?;
//!
//! let mut consumer = Consumer::<Sample>::discover(&hub, &name)?;
//! assert_eq!(consumer.next(Duration::from_secs(1))?.value, 1.5);
//! # Ok::<(), datahub::Error>(())
//! ```

mod hub;
mod peer;
mod registry;
mod server;
mod socket_path;
mod wire;

pub use crate::discovery::ChannelRecord;
pub use hub::{HubOptions, MessageHub};
pub use server::{Broker, BrokerOptions, BrokerStats, BrokerThread};

use crate::types::SchemaHash;

/// The endpoint a broker binds and a hub connects to when none is given:
/// `ipc://$XDG_RUNTIME_DIR/datahub-broker.sock`, or under `/tmp`.
pub fn default_endpoint() -> String {
    let path = crate::segment::os::runtime_dir().join("datahub-broker.sock");
    format!("ipc://{}", path.display())
}

/// The endpoint to use when none is given: `$DATAHUB_BROKER` if set, else
/// [`default_endpoint`]. `MessageHub::connect_default` and `datahub
/// broker` without `--endpoint` both use it, so they meet.
pub fn configured_endpoint() -> String {
    std::env::var("DATAHUB_BROKER")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(default_endpoint)
}

/// What a producer registers with a broker.
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
    /// at the broker even when it does not know the zones.
    pub slot_hash: Option<SchemaHash>,
    /// The producer's pid.
    pub producer_pid: u32,
    /// Where the producer also publishes over ZeroMQ, if it does.
    pub zmq_endpoint: Option<String>,
}

impl Registration {
    /// Channel `channel` with `channel_hash`, produced by `producer_pid`,
    /// in the shared-memory object DataHub names after the channel.
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
    pub fn slot_hash(mut self, hash: SchemaHash) -> Self {
        self.slot_hash = Some(hash);
        self
    }

    /// With the producer's ZeroMQ endpoint.
    pub fn zmq_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.zmq_endpoint = Some(endpoint.into());
        self
    }
}

/// A producer's registration, withdrawn when dropped (without waiting:
/// the hub's I/O thread sends the `DEREG_REQ`).
pub(crate) struct Registered {
    hub: MessageHub,
    channel: String,
    pid: u32,
}

impl Registered {
    pub(crate) fn new(hub: &MessageHub, channel: &str, pid: u32) -> Self {
        Self {
            hub: hub.clone(),
            channel: channel.to_owned(),
            pid,
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.hub.deregister_detached(&self.channel, self.pid);
    }
}
