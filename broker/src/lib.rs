//! Discovery by name and schema hash over ZeroMQ (`docs/broker.md`): the
//! [`Broker`] (`datahub broker`) keeps who produces which channel, with
//! which channel hash, in which shared-memory object; [`MessageHub`] is
//! its thread-safe client. Producers register
//! ([`Producer::register`](datahub::Producer::register), through the
//! runtime's [`Registry`](datahub::Registry) trait), consumers discover
//! then attach ([`Consumer::discover`](datahub::Consumer::discover),
//! through its [`Discovery`](datahub::Discovery) trait). No data
//! goes through the broker, and nothing else needs it: a consumer on the
//! same host can always attach by channel name. `docs/broker.md` gives the
//! messages.
//!
//! The runtime, `datahub`, defines the traits and the records and knows
//! nothing of ZeroMQ; this crate implements them, so a program that does
//! not use the broker does not build libzmq.
//!
//! ```
//! use std::time::Duration;
//! use datahub_broker::{Broker, MessageHub};
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

pub use datahub::{ChannelRecord, Registration};
pub use hub::{HubOptions, MessageHub};
pub use server::{Broker, BrokerOptions, BrokerStats, BrokerThread};

/// The endpoint a broker binds and a hub connects to when none is given:
/// `ipc://$XDG_RUNTIME_DIR/datahub-broker.sock`, or under `/tmp`.
///
/// ```
/// let endpoint = datahub_broker::default_endpoint();
/// assert!(endpoint.starts_with("ipc://") && endpoint.ends_with("/datahub-broker.sock"));
/// ```
pub fn default_endpoint() -> String {
    let path = datahub::host::runtime_dir().join("datahub-broker.sock");
    format!("ipc://{}", path.display())
}

/// The endpoint to use when none is given: `$DATAHUB_BROKER` if set, else
/// [`default_endpoint`]. `MessageHub::connect_default` and `datahub
/// broker` without `--endpoint` both use it, so they meet.
///
/// ```
/// let endpoint = datahub_broker::configured_endpoint();
/// match std::env::var("DATAHUB_BROKER") {
///     Ok(set) if !set.is_empty() => assert_eq!(endpoint, set),
///     _ => assert_eq!(endpoint, datahub_broker::default_endpoint()),
/// }
/// ```
pub fn configured_endpoint() -> String {
    std::env::var("DATAHUB_BROKER")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(default_endpoint)
}
