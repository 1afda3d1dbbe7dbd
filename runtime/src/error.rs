//! The runtime's errors: [`Error`], one pointer wide (cheap to return and
//! move), boxing an [`ErrorKind`]: one enum, each variant a situation a
//! user can act on, with a stable code (`DH2xx`) for the metrics block and
//! the C and Python bindings.

use std::io;
use std::time::Duration;

use crate::types::SchemaHash;

/// An error of the runtime: what went wrong ([`Error::kind`], to match on),
/// its stable code ([`Error::code`]) and a message that says what was
/// expected, what was found and what to do (`Display`). One pointer wide:
/// the details are boxed, so a `Result<T, Error>` costs little more than a
/// `T` on the hot path.
///
/// ```
/// use datahub::ErrorKind;
///
/// let err = datahub::ChannelConfig::new("bad/name").check().unwrap_err();
/// assert_eq!(err.code(), "DH201");
/// assert!(err.to_string().contains("bad/name"));
/// assert!(matches!(err.kind(), ErrorKind::InvalidConfig { .. }));
/// assert_eq!(size_of::<datahub::Error>(), size_of::<usize>());
/// ```
pub struct Error(Box<ErrorKind>);

impl Error {
    /// What went wrong, with its details.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// What went wrong, owned.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// The stable code of this kind of error (`DH2xx`).
    pub fn code(&self) -> &'static str {
        self.0.code()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Self(Box::new(kind))
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// What can go wrong creating, attaching to or using a channel: the kind
/// of an [`Error`], with its details.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A `ChannelConfig` that cannot describe a channel.
    #[error("invalid channel configuration: {problem}")]
    InvalidConfig {
        /// What is wrong and what to do.
        problem: String,
    },
    /// `Producer::create` found a segment for the channel already.
    #[error(
        "channel `{channel}` already exists (/dev/shm/datahub.{channel}) and its producer{} is alive: \
         stop it first, or use another channel name",
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    ChannelExists {
        /// The channel.
        channel: String,
        /// The pid of the live producer holding it, when known.
        holder: Option<u32>,
    },
    /// No segment for the channel.
    #[error("no channel `{channel}` (no /dev/shm/datahub.{channel}): start its producer first")]
    NoSuchChannel {
        /// The channel.
        channel: String,
    },
    /// The segment's header cannot be true: it was corrupted, truncated,
    /// or written by something else.
    #[error(
        "channel `{channel}` is corrupt: header field `{field}`: expected {expected}, found {found}; \
         once no process uses it, remove /dev/shm/datahub.{channel} (`datahub cleanup` does when its \
         producer closed it) and restart its producer"
    )]
    CorruptSegment {
        /// The channel.
        channel: String,
        /// The header field at fault.
        field: &'static str,
        /// What validation expected.
        expected: String,
        /// What the segment holds.
        found: String,
    },
    /// The segment was still being created when the wait ran out.
    #[error(
        "channel `{channel}` was still being created after {waited:?}: its producer may have died while \
         creating it; restart the producer"
    )]
    NotReady {
        /// The channel.
        channel: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The producer closed the channel for good.
    #[error("channel `{channel}` was closed by its producer")]
    Closed {
        /// The channel.
        channel: String,
    },
    /// The segment's schema is not the one the caller's types describe.
    #[error(
        "schema mismatch on channel `{channel}`, {part}: the segment has {found}, you expect {expected}{detail}"
    )]
    SchemaMismatch {
        /// The channel.
        channel: String,
        /// `slot type` or ``zone `telemetry` ``.
        part: String,
        /// The caller's hash (boxed: errors stay small on the read path).
        expected: Box<SchemaHash>,
        /// The segment's hash.
        found: Box<SchemaHash>,
        /// The first differing field, both sides (starts with a newline),
        /// or empty when the segment's canonical form is unavailable.
        detail: String,
    },
    /// Every consumer entry of the channel is taken.
    #[error(
        "channel `{channel}` already has its {max} consumers: raise `max_consumers` in its configuration, \
         or stop a consumer"
    )]
    ConsumersFull {
        /// The channel.
        channel: String,
        /// Its `max_consumers`.
        max: u32,
    },
    /// A wait ran out.
    #[error("timed out after {waited:?} on channel `{channel}`: {cause}")]
    Timeout {
        /// The channel.
        channel: String,
        /// How long we waited.
        waited: Duration,
        /// What we were waiting for.
        cause: String,
    },
    /// An item's enforced checksum did not match what was read.
    #[error(
        "checksum mismatch on channel `{channel}`, item {seq}: the slot was corrupted or written by something \
         else; the item is skipped (counted in the consumer's checksum_failures)"
    )]
    ChecksumMismatch {
        /// The channel.
        channel: String,
        /// The item.
        seq: u64,
    },
    /// A zone asked for by name is not there, or is of the other kind.
    #[error("channel `{channel}` has no zone `{zone}` of that kind: {problem}")]
    WrongZone {
        /// The channel.
        channel: String,
        /// The zone asked for.
        zone: String,
        /// What the channel has instead, and what to call.
        problem: String,
    },
    /// A payload longer than the channel's slots.
    #[error(
        "a payload of {len} bytes does not fit the {max}-byte slots of channel `{channel}`: send less, or \
         recreate the channel with a larger `slot_size`"
    )]
    PayloadTooLarge {
        /// The channel.
        channel: String,
        /// The payload's length.
        len: usize,
        /// The slot size.
        max: usize,
    },
    /// The channel's secret and the caller's differ (or one side has none).
    #[error("access to channel `{channel}` refused: {problem}")]
    AccessDenied {
        /// The channel.
        channel: String,
        /// Which side lacks or differs, and what to do.
        problem: String,
    },
    /// The channel's producer died (or its segment was removed) and no
    /// producer took it over within the wait.
    #[error(
        "the producer of channel `{channel}`{} is gone: restart it (a restarted producer takes the \
         channel over and this consumer carries on), or re-attach",
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    ProducerGone {
        /// The channel.
        channel: String,
        /// The dead producer's pid, when known.
        pid: Option<u32>,
    },
    /// The channel was recreated by a producer with another schema or
    /// configuration: this consumer's segment is an orphan.
    #[error(
        "channel `{channel}` was recreated with another schema or configuration: re-attach (with the \
         new slot type if it changed)"
    )]
    SchemaChanged {
        /// The channel.
        channel: String,
    },
    /// The broker did not answer within the wait.
    #[error(
        "no reply from the broker at {endpoint} to {request} within {waited:?}: is `datahub broker \
         --endpoint {endpoint}` running? (the broker is optional: consumers on this host can attach \
         by channel name)"
    )]
    BrokerTimeout {
        /// The broker's endpoint.
        endpoint: String,
        /// The request (`DISC_REQ`, ...).
        request: &'static str,
        /// How long we waited.
        waited: Duration,
    },
    /// The broker answered with an error this enum has no variant for.
    #[error("the broker at {endpoint} refused the request: {code}: {message}")]
    BrokerRefused {
        /// The broker's endpoint.
        endpoint: String,
        /// The broker's code (`INVALID_REQUEST`, `NOT_OWNER`, ...).
        code: String,
        /// The broker's message.
        message: String,
    },
    /// The broker knows no live producer of the channel.
    #[error(
        "the broker at {endpoint} knows no producer of channel `{channel}` ({detail}): start its \
         producer with a hub, or check the channel's name"
    )]
    NotDiscovered {
        /// The channel.
        channel: String,
        /// The broker's endpoint.
        endpoint: String,
        /// The broker's message.
        detail: String,
    },
    /// The broker's reply does not read as the protocol says.
    #[error("the broker at {endpoint} sent a reply that does not follow the protocol: {problem}")]
    BrokerProtocol {
        /// The broker's endpoint.
        endpoint: String,
        /// What was expected and what came.
        problem: String,
    },
    /// ZeroMQ could not set up or use the broker's socket (a malformed
    /// endpoint, an address in use, the hub's I/O thread gone).
    #[error("broker endpoint {endpoint}: {source}")]
    BrokerIo {
        /// The endpoint.
        endpoint: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A channel the broker knows is produced on another host: its shared
    /// memory cannot be attached from here.
    #[error(
        "channel `{channel}` is produced on another host (boot id {boot_id}), and shared memory is read \
         on one host only: run the consumer there{}",
        zmq_endpoint.as_ref().map(|e| format!(", or read the producer's ZeroMQ endpoint {e}")).unwrap_or_default()
    )]
    RemoteChannel {
        /// The channel.
        channel: String,
        /// The producer host's boot id.
        boot_id: String,
        /// The producer's ZeroMQ endpoint, if it has one.
        zmq_endpoint: Option<String>,
    },
    /// The channel's name in `/dev/shm` is something DataHub may not use:
    /// not a regular file (a symbolic link, a FIFO, a directory, ...), or,
    /// for a producer or a repair, a file of another user. It was not
    /// written, changed or removed.
    #[error(
        "/dev/shm/datahub.{channel} is {found}, where DataHub expects {expected}: it was left \
         untouched; {advice}"
    )]
    ForeignFile {
        /// The channel.
        channel: String,
        /// What the file is, and whose.
        found: String,
        /// What DataHub needs there.
        expected: String,
        /// What to do.
        advice: String,
    },
    /// `/dev/shm` has no room for the segment: nothing was created.
    #[error(
        "no room in /dev/shm for channel `{channel}`: its segment needs {needed} bytes, {}: free \
         shared memory (`datahub cleanup` removes abandoned segments; `df -h /dev/shm`), enlarge \
         /dev/shm, or lower the channel's capacity, slot size or zones",
        available.map(|a| format!("{a} are free")).unwrap_or_else(|| "and fewer are free".into())
    )]
    OutOfSpace {
        /// The channel.
        channel: String,
        /// Bytes the segment needs.
        needed: u64,
        /// Bytes free in `/dev/shm`, when the OS says.
        available: Option<u64>,
    },
    /// A consumer was asked for an item while it still holds one (its
    /// entry has one read mark: one item at a time).
    #[error(
        "consumer of channel `{channel}` {}: drop that `ReadSlot` (or copy what you need out of \
         it) before reading the next item, or give each thread its own consumer",
        held.map_or("is reading in another thread".to_owned(), |q| format!("still holds item {q}"))
    )]
    ItemHeld {
        /// The channel.
        channel: String,
        /// The sequence number of the item held; `None` when another
        /// thread's read of this consumer is under way (it holds no item
        /// yet).
        held: Option<u64>,
    },
    /// An item was asked of a zones-only channel (capacity 0): it has no
    /// ring, only zones.
    #[error(
        "channel `{channel}` has no ring (capacity 0: it shares zones only), so it has no items to \
         {operation}: use its zones, or recreate it with a capacity"
    )]
    NoRing {
        /// The channel.
        channel: String,
        /// What was asked: "write" or "read".
        operation: &'static str,
    },
    /// A producer was asked for a slot while one it gave out is neither
    /// committed nor aborted (a detached slot of a binding: one slot at a
    /// time).
    #[error(
        "the producer of channel `{channel}` still has item {seq} acquired: commit or abort that \
         slot before acquiring the next"
    )]
    SlotHeld {
        /// The channel.
        channel: String,
        /// The sequence number of the slot acquired.
        seq: u64,
    },
    /// A slot or lock handed back that is no longer held: already
    /// committed, aborted, released or unlocked, or not this handle's.
    #[error("channel `{channel}`: {what} is no longer held ({why}): take a new one")]
    Stale {
        /// The channel.
        channel: String,
        /// What was handed back, e.g. "write slot for item 7".
        what: String,
        /// Why it is not held.
        why: String,
    },
    /// An argument a caller gave (a language binding's caller, say) is not
    /// one the operation takes.
    #[error("channel `{channel}`: {problem}")]
    InvalidArgument {
        /// The channel.
        channel: String,
        /// What is wrong, and what is expected.
        problem: String,
    },
    /// The operating system refused something.
    #[error("channel `{channel}`: {source}")]
    Io {
        /// The channel.
        channel: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl ErrorKind {
    /// The stable code of this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidConfig { .. } => "DH201",
            Self::ChannelExists { .. } => "DH202",
            Self::NoSuchChannel { .. } => "DH203",
            Self::CorruptSegment { .. } => "DH204",
            Self::NotReady { .. } => "DH205",
            Self::Closed { .. } => "DH206",
            Self::SchemaMismatch { .. } => "DH207",
            Self::ConsumersFull { .. } => "DH208",
            Self::Timeout { .. } => "DH209",
            Self::Io { .. } => "DH210",
            Self::ChecksumMismatch { .. } => "DH211",
            Self::WrongZone { .. } => "DH212",
            Self::PayloadTooLarge { .. } => "DH213",
            Self::AccessDenied { .. } => "DH214",
            Self::ProducerGone { .. } => "DH215",
            Self::SchemaChanged { .. } => "DH216",
            Self::BrokerTimeout { .. } => "DH217",
            Self::BrokerRefused { .. } => "DH218",
            Self::NotDiscovered { .. } => "DH219",
            Self::BrokerProtocol { .. } => "DH220",
            Self::BrokerIo { .. } => "DH221",
            Self::RemoteChannel { .. } => "DH222",
            Self::ForeignFile { .. } => "DH223",
            Self::OutOfSpace { .. } => "DH224",
            Self::ItemHeld { .. } => "DH225",
            Self::NoRing { .. } => "DH226",
            Self::SlotHeld { .. } => "DH227",
            Self::Stale { .. } => "DH228",
            Self::InvalidArgument { .. } => "DH229",
        }
    }
}

/// [`ErrorKind::SchemaMismatch`](crate::ErrorKind::SchemaMismatch)'s `detail` for a stored canonical form
/// `segment` against the `expected` one: the first difference
/// (`datahub_schema::canon`), on a line of its own.
pub(crate) fn mismatch_detail(segment: &str, expected: &str) -> String {
    format!(
        "\n  {}",
        datahub_schema::canon::first_difference(segment, expected)
    )
}

#[cfg(not(datahub_loom))]
impl From<crate::segment::shm::SegmentError> for Error {
    fn from(e: crate::segment::shm::SegmentError) -> Self {
        ErrorKind::from(e).into()
    }
}

#[cfg(not(datahub_loom))]
impl From<crate::segment::shm::SegmentError> for ErrorKind {
    fn from(e: crate::segment::shm::SegmentError) -> Self {
        use crate::segment::shm::SegmentError as S;
        match e {
            S::NotFound { channel } => Self::NoSuchChannel { channel },
            S::AlreadyExists { channel } => Self::ChannelExists {
                channel,
                holder: None,
            },
            S::Corrupt { channel, corrupt } => Self::CorruptSegment {
                channel,
                field: corrupt.field,
                expected: corrupt.expected,
                found: corrupt.found,
            },
            S::NotReady {
                channel, waited, ..
            } => Self::NotReady { channel, waited },
            S::Closed { channel } => Self::Closed { channel },
            S::TooLarge => Self::InvalidConfig {
                problem: format!(
                    "the segment would exceed {} bytes: lower capacity, slot size or zones",
                    crate::segment::validate::MAX_SEGMENT_SIZE
                ),
            },
            S::NotAFile { channel, found } => Self::ForeignFile {
                found,
                expected: "a regular file (a segment)".into(),
                advice: format!(
                    "if you do not know what made it, ask its owner; remove it (`rm \
                     /dev/shm/datahub.{channel}`) if it is not needed, or use another channel name"
                ),
                channel,
            },
            S::Foreign {
                channel,
                owner,
                mode,
            } => Self::ForeignFile {
                found: format!("a file of {owner} (mode {mode:04o})"),
                expected: "a segment of this process's user".into(),
                advice: format!(
                    "its owner's processes own the channel (run this as that user, or have them \
                     remove it with `datahub cleanup {channel}`), or use another channel name"
                ),
                channel,
            },
            S::OutOfSpace {
                channel,
                needed,
                available,
            } => Self::OutOfSpace {
                channel,
                needed,
                available,
            },
            S::Io { channel, source } => Self::Io { channel, source },
        }
    }
}
