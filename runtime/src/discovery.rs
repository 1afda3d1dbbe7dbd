//! Finding a channel by name through a discovery service (DESIGN.md §9):
//! the [`Discovery`] trait that [`Consumer::discover`](crate::Consumer::discover)
//! and generated channel modules ask, implemented by
//! [`broker::MessageHub`](crate::broker::MessageHub) (feature `broker`),
//! and the [`ChannelRecord`] it answers with. The trait exists without
//! the feature, so code generated from a schema compiles either way.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::types::SchemaHash;

/// The hashes a consumer expects of a channel it looks for; the service
/// refuses a channel registered with others ([`Error::SchemaMismatch`]).
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
/// [`MessageHub`](crate::broker::MessageHub), or anything else that can
/// (a static table, a test double).
///
/// ```
/// use datahub::{ChannelRecord, Discovery, Error, Expected};
///
/// /// Knows no channel at all.
/// struct Nobody;
///
/// impl Discovery for Nobody {
///     fn find(&self, channel: &str, _: Expected) -> Result<ChannelRecord, Error> {
///         Err(Error::NotDiscovered {
///             channel: channel.into(),
///             endpoint: self.source(),
///             detail: "nobody knows anything".into(),
///         })
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
    /// than `expected` ([`Error::SchemaMismatch`]); an unknown channel is
    /// [`Error::NotDiscovered`].
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
    /// Whether the producer runs on this host, as far as boot ids tell.
    pub fn is_on_this_host(&self) -> bool {
        match (&self.boot_id, crate::segment::os::boot_id()) {
            (Some(theirs), Some(ours)) => *theirs == ours,
            _ => true,
        }
    }
}
