//! The broker's wire protocol (`docs/broker.md`): one JSON object per ZeroMQ
//! frame each way. A request has `"type"` and `"request_id"` (a string);
//! its reply echoes `request_id` and carries `"status": "OK"` or
//! `"ERROR"` with a `"code"` and a `"message"`. `docs/broker.md` lists
//! the messages.
//!
//! Each record has one serde model here, which both ends use: the hub
//! writes an [`Envelope`] and reads the replies below, the broker reads
//! requests into the same types and writes the same replies, and the
//! error codes are spelled once, in [`Code::as_str`]. Reading a request
//! never panics and says which field is wrong ([`Refusal`]): everything
//! the broker reads is outside input.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use datahub::SchemaHash;

/// The largest request the broker reads (bytes). Larger ones are refused
/// unread, so one request costs a bounded amount of parsing.
pub(crate) const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// The longest `request_id`, `shm_name`, `zmq_endpoint`, `boot_id` or
/// `owner_token`.
pub(crate) const MAX_TEXT: usize = 256;

/// The shortest `owner_token`: a secret shorter than 128 bits of hex could
/// be guessed.
pub(crate) const MIN_OWNER_TOKEN: usize = 32;

/// The reply codes of `"status": "ERROR"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    /// Another live producer holds the channel's registration.
    ChannelExists,
    /// No registration for the channel.
    NotFound,
    /// The registered channel (or slot) hash is not the expected one.
    SchemaMismatch,
    /// Not JSON, not an object, a field missing or of the wrong type.
    InvalidRequest,
    /// A `"type"` the broker does not serve.
    UnknownMsgType,
    /// A request about a registration that another client owns, or a
    /// registration of a process the client may not speak for.
    NotOwner,
    /// A `REG_REQ` for a process that does not exist (here).
    ProducerDead,
    /// The broker holds as many registrations as it may.
    RegistryFull,
    /// The client holds as many registrations as one client may.
    QuotaExceeded,
}

impl Code {
    /// Every code.
    const ALL: [Self; 9] = [
        Self::ChannelExists,
        Self::NotFound,
        Self::SchemaMismatch,
        Self::InvalidRequest,
        Self::UnknownMsgType,
        Self::NotOwner,
        Self::ProducerDead,
        Self::RegistryFull,
        Self::QuotaExceeded,
    ];

    /// The code as it is written on the wire: the one place it is spelled.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ChannelExists => "CHANNEL_EXISTS",
            Self::NotFound => "NOT_FOUND",
            Self::SchemaMismatch => "SCHEMA_MISMATCH",
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::UnknownMsgType => "UNKNOWN_MSG_TYPE",
            Self::NotOwner => "NOT_OWNER",
            Self::ProducerDead => "PRODUCER_DEAD",
            Self::RegistryFull => "REGISTRY_FULL",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
        }
    }

    /// The code written `text` on the wire, if this broker version knows it.
    pub(crate) fn from_wire(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == text)
    }
}

/// A request and its id: what the hub writes, what the broker reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Envelope {
    /// The caller's id, echoed in the reply.
    pub(crate) request_id: String,
    /// What is asked (its `"type"` and fields).
    #[serde(flatten)]
    pub(crate) request: Request,
}

/// What a client asks the broker, tagged by `"type"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum Request {
    /// `REG_REQ`.
    #[serde(rename = "REG_REQ")]
    Register(RegisterRequest),
    /// `DISC_REQ`.
    #[serde(rename = "DISC_REQ")]
    Discover {
        /// The channel.
        #[serde(deserialize_with = "channel")]
        channel: String,
        /// The channel hash the caller expects, if it knows it.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "expected_hash"
        )]
        expected_hash: Option<SchemaHash>,
        /// The slot type hash the caller expects, if it knows it.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "expected_slot_hash"
        )]
        expected_slot_hash: Option<SchemaHash>,
    },
    /// `DEREG_REQ`.
    #[serde(rename = "DEREG_REQ")]
    Deregister {
        /// The channel.
        #[serde(deserialize_with = "channel")]
        channel: String,
        /// The pid that registered it.
        #[serde(deserialize_with = "producer_pid")]
        producer_pid: u32,
        /// The secret the registration was made with, if it was.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "owner_token"
        )]
        owner_token: Option<String>,
    },
    /// `LIST_REQ`.
    #[serde(rename = "LIST_REQ")]
    List,
}

impl Request {
    /// The channel the request is about, if it is about one.
    pub(crate) fn channel(&self) -> Option<&str> {
        match self {
            Self::Register(req) => Some(&req.channel),
            Self::Discover { channel, .. } | Self::Deregister { channel, .. } => Some(channel),
            Self::List => None,
        }
    }

    /// Its `"type"`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Register(_) => "REG_REQ",
            Self::Discover { .. } => "DISC_REQ",
            Self::Deregister { .. } => "DEREG_REQ",
            Self::List => "LIST_REQ",
        }
    }
}

/// The fields of a `REG_REQ`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RegisterRequest {
    /// The channel.
    #[serde(deserialize_with = "channel")]
    pub(crate) channel: String,
    /// The shared-memory object's name on the producer's host.
    #[serde(deserialize_with = "shm_name")]
    pub(crate) shm_name: String,
    /// The channel hash.
    #[serde(deserialize_with = "channel_hash")]
    pub(crate) channel_hash: SchemaHash,
    /// The slot type's hash, when the producer gives it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "slot_hash"
    )]
    pub(crate) slot_hash: Option<SchemaHash>,
    /// The producer's pid (on its host).
    #[serde(deserialize_with = "producer_pid")]
    pub(crate) producer_pid: u32,
    /// The producer's start time in clock ticks since boot (`/proc`), so a
    /// reused pid is not taken for the producer.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "producer_start_time"
    )]
    pub(crate) producer_start_time: Option<u64>,
    /// The producer host's boot id; absent or equal to the broker's means
    /// the producer runs on the broker's host.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "boot_id"
    )]
    pub(crate) boot_id: Option<String>,
    /// Where the producer also publishes over ZeroMQ, if it does.
    #[serde(default, deserialize_with = "zmq_endpoint")]
    pub(crate) zmq_endpoint: Option<String>,
    /// A secret the client chose; whoever shows it owns the registration
    /// (renews, rewrites, deregisters it). Never sent back.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "owner_token"
    )]
    pub(crate) owner_token: Option<String>,
}

/// Why a request was refused before it could be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The request's id, when it could be read.
    pub(crate) request_id: Option<String>,
    /// `INVALID_REQUEST` or `UNKNOWN_MSG_TYPE`.
    pub(crate) code: Code,
    /// What was expected, what was found.
    pub(crate) message: String,
}

/// The request types the broker serves.
pub(crate) const REQUEST_TYPES: [&str; 4] = ["REG_REQ", "DISC_REQ", "DEREG_REQ", "LIST_REQ"];

/// Reads one request frame: the envelope by hand (so that a refusal can
/// echo a readable id and name an unknown type), the request through its
/// serde model, whose field readers name the field that is wrong.
pub(crate) fn parse_request(frame: &[u8]) -> Result<Envelope, Refusal> {
    let invalid = |request_id: Option<String>, message: String| Refusal {
        request_id,
        code: Code::InvalidRequest,
        message,
    };
    if frame.len() > MAX_REQUEST_BYTES {
        return Err(invalid(
            None,
            format!(
                "a request of {} bytes; the broker reads at most {MAX_REQUEST_BYTES}",
                frame.len()
            ),
        ));
    }
    let value: Value = serde_json::from_slice(frame).map_err(|e| {
        invalid(
            None,
            format!("expected one JSON object, found invalid JSON: {e}"),
        )
    })?;
    let Value::Object(object) = &value else {
        return Err(invalid(
            None,
            format!("expected a JSON object, found {}", kind(&value)),
        ));
    };
    let request_id = match object.get("request_id") {
        Some(Value::String(id)) if id.len() <= MAX_TEXT => id.clone(),
        Some(Value::String(id)) => {
            return Err(invalid(
                None,
                format!(
                    "field `request_id`: expected at most {MAX_TEXT} bytes, found {}",
                    id.len()
                ),
            ));
        }
        Some(other) => {
            return Err(invalid(
                None,
                format!(
                    "field `request_id`: expected a string, found {}",
                    kind(other)
                ),
            ));
        }
        None => return Err(invalid(None, "field `request_id` is missing".into())),
    };
    let id = Some(request_id.clone());
    match object.get("type") {
        Some(Value::String(t)) if REQUEST_TYPES.contains(&t.as_str()) => {}
        Some(Value::String(t)) => {
            return Err(Refusal {
                request_id: id,
                code: Code::UnknownMsgType,
                message: format!(
                    "unknown request type `{}`: expected one of {}",
                    t.chars().take(64).collect::<String>(),
                    REQUEST_TYPES.join(", ")
                ),
            });
        }
        Some(other) => {
            return Err(invalid(
                id,
                format!("field `type`: expected a string, found {}", kind(other)),
            ));
        }
        None => return Err(invalid(id, "field `type` is missing".into())),
    }
    let request = Request::deserialize(value).map_err(|e| invalid(id, e.to_string()))?;
    Ok(Envelope {
        request_id,
        request,
    })
}

/// Field readers for `deserialize_with`: each reads any JSON value, so
/// that a value of the wrong kind is refused with the field's name and
/// what was found rather than serde's generic words.
macro_rules! field_readers {
    ($($field:ident: $read:ident -> $ty:ty;)*) => {
        $(
            fn $field<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let value = Value::deserialize(d)?;
                $read(stringify!($field), &value).map_err(D::Error::custom)
            }
        )*
    };
}

field_readers! {
    channel: read_channel -> String;
    shm_name: read_required_text -> String;
    channel_hash: read_required_hash -> SchemaHash;
    slot_hash: read_hash -> Option<SchemaHash>;
    expected_hash: read_hash -> Option<SchemaHash>;
    expected_slot_hash: read_hash -> Option<SchemaHash>;
    producer_pid: read_pid -> u32;
    producer_start_time: read_number -> Option<u64>;
    boot_id: read_text -> Option<String>;
    zmq_endpoint: read_text -> Option<String>;
    owner_token: read_owner_token -> Option<String>;
}

fn read_channel(field: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(c) if datahub_schema::is_channel_name(c) => Ok(c.clone()),
        Value::String(c) => Err(format!(
            "field `{field}`: expected 1 to 63 ASCII letters, digits, `_` or `-`, found {:?}",
            c.chars().take(80).collect::<String>()
        )),
        other => Err(format!(
            "field `{field}`: expected a string, found {}",
            kind(other)
        )),
    }
}

fn read_pid(field: &str, value: &Value) -> Result<u32, String> {
    let found = match value {
        Value::Number(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(pid) if pid > 0 => return Ok(pid),
            _ => n.to_string(),
        },
        other => kind(other).to_owned(),
    };
    Err(format!(
        "field `{field}`: expected a process id (an integer from 1 to 4294967295), found {found}"
    ))
}

/// An optional string field (`null` is absent).
fn read_text(field: &str, value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.len() <= MAX_TEXT => Ok(Some(s.clone())),
        Value::String(s) => Err(format!(
            "field `{field}`: expected at most {MAX_TEXT} bytes, found {}",
            s.len()
        )),
        other => Err(format!(
            "field `{field}`: expected a string, found {}",
            kind(other)
        )),
    }
}

fn read_required_text(field: &str, value: &Value) -> Result<String, String> {
    read_text(field, value)?.ok_or_else(|| format!("field `{field}` is missing"))
}

/// The optional `owner_token`: a secret long enough not to be guessed.
fn read_owner_token(field: &str, value: &Value) -> Result<Option<String>, String> {
    match read_text(field, value)? {
        Some(token) if token.len() < MIN_OWNER_TOKEN => Err(format!(
            "field `{field}`: expected a secret of {MIN_OWNER_TOKEN} to {MAX_TEXT} bytes, found {} bytes",
            token.len()
        )),
        token => Ok(token),
    }
}

/// An optional `dh1:` hash field.
fn read_hash(field: &str, value: &Value) -> Result<Option<SchemaHash>, String> {
    let Some(text) = read_text(field, value)? else {
        return Ok(None);
    };
    text.parse().map(Some).map_err(|e| {
        format!(
            "field `{field}`: expected a `dh1:` hash (64 hex digits), found {:?}: {e}",
            text.chars().take(80).collect::<String>()
        )
    })
}

fn read_required_hash(field: &str, value: &Value) -> Result<SchemaHash, String> {
    read_hash(field, value)?.ok_or_else(|| format!("field `{field}` is missing"))
}

/// An optional unsigned integer field.
fn read_number(field: &str, value: &Value) -> Result<Option<u64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("field `{field}`: expected an unsigned integer, found {n}")),
        other => Err(format!(
            "field `{field}`: expected an unsigned integer, found {}",
            kind(other)
        )),
    }
}

/// What kind of JSON value `value` is, for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A reply's `"status"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Status {
    /// Served; the reply's body follows.
    #[serde(rename = "OK")]
    Ok,
    /// Refused; an [`ErrorBody`] follows.
    #[serde(rename = "ERROR")]
    Error,
}

/// A reply: the request's id (null when it could not be read), the
/// status, and the body of that status and request, beside them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Reply<B> {
    /// The request's id, echoed.
    pub(crate) request_id: Option<String>,
    /// OK or ERROR.
    pub(crate) status: Status,
    /// The rest of the reply.
    #[serde(flatten)]
    pub(crate) body: B,
}

impl<B> Reply<B> {
    /// An `OK` reply to `request_id`.
    pub(crate) fn ok(request_id: &str, body: B) -> Self {
        Self {
            request_id: Some(request_id.to_owned()),
            status: Status::Ok,
            body,
        }
    }
}

impl Reply<ErrorBody> {
    /// An `ERROR` reply.
    pub(crate) fn error(
        request_id: Option<&str>,
        code: Code,
        message: &str,
        details: Details,
    ) -> Self {
        Self {
            request_id: request_id.map(str::to_owned),
            status: Status::Error,
            body: ErrorBody {
                code: code.as_str().to_owned(),
                message: message.to_owned(),
                details,
            },
        }
    }
}

/// What the hub reads of any reply to hand it to its caller: its id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Routing {
    /// The request's id, echoed.
    pub(crate) request_id: Option<String>,
}

/// The head of any reply, which says how to read the rest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Head {
    /// The request's id, echoed.
    pub(crate) request_id: Option<String>,
    /// OK or ERROR.
    pub(crate) status: Status,
}

/// A `REG_REQ`'s `OK` body: nothing. (A `DISC_REQ`'s is the channel's
/// [`ChannelRecord`](datahub::ChannelRecord).)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Registered {}

/// A `DEREG_REQ`'s `OK` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Removed {
    /// Whether there was a registration to remove.
    pub(crate) removed: bool,
}

/// A `LIST_REQ`'s `OK` body: every record (`C` is the records, or their
/// JSON already written, which the broker keeps between changes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Channels<C> {
    /// The records.
    pub(crate) channels: C,
}

/// An `ERROR` reply's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    /// A [`Code`], as written on the wire (kept as text: a newer broker
    /// may send one this version does not know).
    pub(crate) code: String,
    /// What went wrong and what to do.
    pub(crate) message: String,
    /// What the code comes with.
    #[serde(flatten)]
    pub(crate) details: Details,
}

/// The fields some refusals carry beside their message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Details {
    /// `CHANNEL_EXISTS`: the pid of the live producer that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) producer_pid: Option<u32>,
    /// `SCHEMA_MISMATCH` on the channel hash: the registered one...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) channel_hash: Option<SchemaHash>,
    /// ... and the expected one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expected_hash: Option<SchemaHash>,
    /// `SCHEMA_MISMATCH` on the slot type: the registered hash...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) slot_hash: Option<SchemaHash>,
    /// ... and the expected one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expected_slot_hash: Option<SchemaHash>,
    /// `QUOTA_EXCEEDED`: how many registrations one client may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quota: Option<usize>,
}

#[cfg(test)]
mod tests {
    use datahub::ChannelRecord;

    use super::*;

    const HASH: &str = "dh1:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn refusal(text: &str) -> Refusal {
        parse_request(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_register_request_is_read_with_every_field() {
        let text = format!(
            r#"{{"type":"REG_REQ","request_id":"7","channel":"cam0","shm_name":"/datahub.cam0",
               "channel_hash":"{HASH}","producer_pid":42,"zmq_endpoint":null,"boot_id":"b"}}"#
        );
        let envelope = parse_request(text.as_bytes()).unwrap();
        assert_eq!(envelope.request_id, "7");
        let Request::Register(reg) = envelope.request else {
            panic!("{envelope:?}")
        };
        assert_eq!(reg.channel, "cam0");
        assert_eq!(reg.producer_pid, 42);
        assert_eq!(reg.channel_hash.to_string(), HASH);
        assert_eq!(reg.zmq_endpoint, None);
        assert_eq!(reg.boot_id.as_deref(), Some("b"));
        assert_eq!(reg.owner_token, None);
    }

    #[test]
    fn each_malformed_request_is_refused_naming_what_is_wrong_and_echoing_a_readable_id() {
        let cases: &[(&str, Option<&str>, Code, &str)] = &[
            ("not json", None, Code::InvalidRequest, "invalid JSON"),
            ("[1,2]", None, Code::InvalidRequest, "found an array"),
            (
                r#"{"type":"LIST_REQ"}"#,
                None,
                Code::InvalidRequest,
                "`request_id` is missing",
            ),
            (
                r#"{"type":"LIST_REQ","request_id":5}"#,
                None,
                Code::InvalidRequest,
                "found a number",
            ),
            (
                r#"{"request_id":"a"}"#,
                Some("a"),
                Code::InvalidRequest,
                "`type` is missing",
            ),
            (
                r#"{"request_id":"a","type":[]}"#,
                Some("a"),
                Code::InvalidRequest,
                "`type`: expected a string",
            ),
            (
                r#"{"request_id":"a","type":"NOPE"}"#,
                Some("a"),
                Code::UnknownMsgType,
                "`NOPE`",
            ),
            (
                r#"{"request_id":"a","type":"DISC_REQ"}"#,
                Some("a"),
                Code::InvalidRequest,
                "missing field `channel`",
            ),
            (
                r#"{"request_id":"a","type":"DISC_REQ","channel":"a/b"}"#,
                Some("a"),
                Code::InvalidRequest,
                "\"a/b\"",
            ),
            (
                r#"{"request_id":"a","type":"DISC_REQ","channel":"c","expected_hash":"dh1:zz"}"#,
                Some("a"),
                Code::InvalidRequest,
                "`expected_hash`",
            ),
            (
                r#"{"request_id":"a","type":"DEREG_REQ","channel":"c","producer_pid":-1}"#,
                Some("a"),
                Code::InvalidRequest,
                "found -1",
            ),
            (
                r#"{"request_id":"a","type":"DEREG_REQ","channel":"c","producer_pid":0}"#,
                Some("a"),
                Code::InvalidRequest,
                "found 0",
            ),
            (
                r#"{"request_id":"a","type":"REG_REQ","channel":"c","shm_name":"/x","producer_pid":1}"#,
                Some("a"),
                Code::InvalidRequest,
                "missing field `channel_hash`",
            ),
            (
                r#"{"request_id":"a","type":"DEREG_REQ","channel":"c","producer_pid":1,"owner_token":"short"}"#,
                Some("a"),
                Code::InvalidRequest,
                "`owner_token`: expected a secret of 32 to 256 bytes, found 5",
            ),
        ];
        for (text, id, code, says) in cases {
            let r = refusal(text);
            assert_eq!(r.request_id.as_deref(), *id, "{text}");
            assert_eq!(r.code, *code, "{text}");
            assert!(r.message.contains(says), "{text}: {}", r.message);
        }
    }

    #[test]
    fn oversized_and_deeply_nested_requests_are_refused_without_reading_them_whole() {
        let big = format!(
            r#"{{"request_id":"a","type":"LIST_REQ","x":"{}"}}"#,
            "y".repeat(MAX_REQUEST_BYTES)
        );
        assert!(refusal(&big).message.contains("at most 16384"));
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(refusal(&deep).code, Code::InvalidRequest);
        let long_id = format!(
            r#"{{"request_id":"{}","type":"LIST_REQ"}}"#,
            "i".repeat(MAX_TEXT + 1)
        );
        assert!(refusal(&long_id).message.contains("at most 256 bytes"));
    }

    #[test]
    fn replies_echo_the_id_or_null_and_spell_their_code_once() {
        let reply = Reply::error(None, Code::InvalidRequest, "m", Details::default());
        let value = serde_json::to_value(&reply).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "request_id": null, "status": "ERROR", "code": "INVALID_REQUEST", "message": "m"
            })
        );
        let reply = serde_json::to_value(Reply::ok("9", Removed { removed: true })).unwrap();
        assert_eq!(
            reply,
            serde_json::json!({"request_id": "9", "status": "OK", "removed": true})
        );
        for code in Code::ALL {
            assert_eq!(Code::from_wire(code.as_str()), Some(code));
        }
        assert_eq!(Code::from_wire("NOT_A_CODE"), None);
    }

    /// What the hub writes, the broker reads back as the same request.
    #[test]
    fn every_request_the_hub_writes_reads_back_as_itself() {
        let hash: SchemaHash = HASH.parse().unwrap();
        let token = "t".repeat(MIN_OWNER_TOKEN);
        let requests = [
            Request::Register(RegisterRequest {
                channel: "cam0".into(),
                shm_name: "/datahub.cam0".into(),
                channel_hash: hash,
                slot_hash: Some(hash),
                producer_pid: 42,
                producer_start_time: Some(1234),
                boot_id: Some("b".into()),
                zmq_endpoint: None,
                owner_token: Some(token.clone()),
            }),
            Request::Discover {
                channel: "cam0".into(),
                expected_hash: Some(hash),
                expected_slot_hash: None,
            },
            Request::Deregister {
                channel: "cam0".into(),
                producer_pid: 42,
                owner_token: Some(token),
            },
            Request::List,
        ];
        for request in requests {
            let envelope = Envelope {
                request_id: "a.1".into(),
                request,
            };
            let frame = serde_json::to_vec(&envelope).unwrap();
            let text = String::from_utf8_lossy(&frame).into_owned();
            assert!(
                text.contains(&format!("\"type\":\"{}\"", envelope.request.kind())),
                "{text}"
            );
            assert_eq!(parse_request(&frame), Ok(envelope), "{text}");
        }
    }

    /// What the broker writes, the hub reads back: a record beside the
    /// head, a list of them, a refusal with its details.
    #[test]
    fn every_reply_the_broker_writes_reads_back_as_itself() {
        let hash: SchemaHash = HASH.parse().unwrap();
        let mut record = ChannelRecord::new("cam0", "/datahub.cam0", hash, 42);
        record.local = true;
        let text = serde_json::to_string(&Reply::ok("1", record.clone())).unwrap();
        let read: Reply<ChannelRecord> = serde_json::from_str(&text).unwrap();
        assert_eq!(read.body, record);

        let raw = serde_json::value::to_raw_value(&[record.clone()]).unwrap();
        let text = serde_json::to_string(&Reply::ok("2", Channels { channels: &*raw })).unwrap();
        let head: Head = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (head.request_id.as_deref(), head.status),
            (Some("2"), Status::Ok)
        );
        let read: Reply<Channels<Vec<ChannelRecord>>> = serde_json::from_str(&text).unwrap();
        assert_eq!(read.body.channels, [record]);

        let details = Details {
            channel_hash: Some(hash),
            expected_hash: Some(hash),
            ..Details::default()
        };
        let reply = Reply::error(Some("3"), Code::SchemaMismatch, "differs", details.clone());
        let text = serde_json::to_string(&reply).unwrap();
        let read: Reply<ErrorBody> = serde_json::from_str(&text).unwrap();
        assert_eq!(read, reply);
        assert_eq!(Code::from_wire(&read.body.code), Some(Code::SchemaMismatch));
        assert_eq!(read.body.details, details);
    }
}
