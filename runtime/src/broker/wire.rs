//! The broker's wire protocol (DESIGN.md §9): one JSON object per ZeroMQ
//! frame each way. A request has `"type"` and `"request_id"` (a string);
//! its reply echoes `request_id` and carries `"status": "OK"` or
//! `"ERROR"` with a `"code"` and a `"message"`. This module turns bytes
//! from the network into a validated [`Envelope`] or a [`Refusal`] that
//! says which field is wrong, and never panics on what it reads:
//! everything here is outside input. `docs/broker.md` lists the messages.

use serde_json::{Map, Value};

use crate::types::SchemaHash;

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
    /// The code as it is written on the wire.
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
}

/// A validated request and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    /// The caller's id, echoed in the reply.
    pub(crate) request_id: String,
    /// What is asked.
    pub(crate) request: Request,
}

/// What a client asks the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// `REG_REQ`.
    Register(RegisterRequest),
    /// `DISC_REQ`.
    Discover {
        /// The channel.
        channel: String,
        /// The channel hash the caller expects, if it knows it.
        expected_hash: Option<SchemaHash>,
        /// The slot type hash the caller expects, if it knows it.
        expected_slot_hash: Option<SchemaHash>,
    },
    /// `DEREG_REQ`.
    Deregister {
        /// The channel.
        channel: String,
        /// The pid that registered it.
        producer_pid: u32,
        /// The secret the registration was made with, if it was.
        owner_token: Option<String>,
    },
    /// `LIST_REQ`.
    List,
}

/// The fields of a `REG_REQ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegisterRequest {
    /// The channel.
    pub(crate) channel: String,
    /// The shared-memory object's name on the producer's host.
    pub(crate) shm_name: String,
    /// The channel hash.
    pub(crate) channel_hash: SchemaHash,
    /// The slot type's hash, when the producer gives it.
    pub(crate) slot_hash: Option<SchemaHash>,
    /// The producer's pid (on its host).
    pub(crate) producer_pid: u32,
    /// The producer's start time in clock ticks since boot (`/proc`), so a
    /// reused pid is not taken for the producer.
    pub(crate) producer_start_time: Option<u64>,
    /// The producer host's boot id; absent or equal to the broker's means
    /// the producer runs on the broker's host.
    pub(crate) boot_id: Option<String>,
    /// Where the producer also publishes over ZeroMQ, if it does.
    pub(crate) zmq_endpoint: Option<String>,
    /// A secret the client chose; whoever shows it owns the registration
    /// (renews, rewrites, deregisters it). Never sent back.
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

/// Reads one request frame.
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
    let Value::Object(object) = value else {
        return Err(invalid(
            None,
            format!("expected a JSON object, found {}", kind(&value)),
        ));
    };
    let fields = Fields(&object);
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
    let kind_of_request = match object.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(other) => {
            return Err(invalid(
                id,
                format!("field `type`: expected a string, found {}", kind(other)),
            ));
        }
        None => return Err(invalid(id, "field `type` is missing".into())),
    };
    let read = |kind: &str| -> Result<Request, String> {
        Ok(match kind {
            "REG_REQ" => Request::Register(RegisterRequest {
                channel: fields.channel()?,
                shm_name: required(fields.text("shm_name")?, "shm_name")?,
                channel_hash: required(fields.hash("channel_hash")?, "channel_hash")?,
                slot_hash: fields.hash("slot_hash")?,
                producer_pid: fields.pid()?,
                producer_start_time: fields.number("producer_start_time")?,
                boot_id: fields.text("boot_id")?,
                zmq_endpoint: fields.text("zmq_endpoint")?,
                owner_token: fields.owner_token()?,
            }),
            "DISC_REQ" => Request::Discover {
                channel: fields.channel()?,
                expected_hash: fields.hash("expected_hash")?,
                expected_slot_hash: fields.hash("expected_slot_hash")?,
            },
            "DEREG_REQ" => Request::Deregister {
                channel: fields.channel()?,
                producer_pid: fields.pid()?,
                owner_token: fields.owner_token()?,
            },
            // `LIST_REQ`: the one type left (unknown ones are refused below,
            // before this is called).
            _ => Request::List,
        })
    };
    if !REQUEST_TYPES.contains(&kind_of_request) {
        return Err(Refusal {
            request_id: id,
            code: Code::UnknownMsgType,
            message: format!(
                "unknown request type `{}`: expected one of {}",
                kind_of_request.chars().take(64).collect::<String>(),
                REQUEST_TYPES.join(", ")
            ),
        });
    }
    let request = read(kind_of_request).map_err(|message| invalid(id, message))?;
    Ok(Envelope {
        request_id,
        request,
    })
}

/// A request's fields, read with messages that name the field.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn channel(&self) -> Result<String, String> {
        match self.0.get("channel") {
            Some(Value::String(c)) if datahub_schema::is_channel_name(c) => Ok(c.clone()),
            Some(Value::String(c)) => Err(format!(
                "field `channel`: expected 1 to 63 ASCII letters, digits, `_` or `-`, found {:?}",
                c.chars().take(80).collect::<String>()
            )),
            Some(other) => Err(format!(
                "field `channel`: expected a string, found {}",
                kind(other)
            )),
            None => Err("field `channel` is missing".into()),
        }
    }

    fn pid(&self) -> Result<u32, String> {
        let found = match self.0.get("producer_pid") {
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(pid) if pid > 0 => return Ok(pid),
                _ => n.to_string(),
            },
            Some(other) => kind(other).to_owned(),
            None => return Err("field `producer_pid` is missing".into()),
        };
        Err(format!(
            "field `producer_pid`: expected a process id (an integer from 1 to 4294967295), found {found}"
        ))
    }

    /// An optional string field (`null` is absent).
    fn text(&self, field: &str) -> Result<Option<String>, String> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= MAX_TEXT => Ok(Some(s.clone())),
            Some(Value::String(s)) => Err(format!(
                "field `{field}`: expected at most {MAX_TEXT} bytes, found {}",
                s.len()
            )),
            Some(other) => Err(format!(
                "field `{field}`: expected a string, found {}",
                kind(other)
            )),
        }
    }

    /// The optional `owner_token`: a secret long enough not to be guessed.
    fn owner_token(&self) -> Result<Option<String>, String> {
        match self.text("owner_token")? {
            Some(token) if token.len() < MIN_OWNER_TOKEN => Err(format!(
                "field `owner_token`: expected a secret of {MIN_OWNER_TOKEN} to {MAX_TEXT} bytes, found {} bytes",
                token.len()
            )),
            token => Ok(token),
        }
    }

    /// An optional `dh1:` hash field.
    fn hash(&self, field: &str) -> Result<Option<SchemaHash>, String> {
        let Some(text) = self.text(field)? else {
            return Ok(None);
        };
        text.parse().map(Some).map_err(|e| {
            format!(
                "field `{field}`: expected a `dh1:` hash (64 hex digits), found {:?}: {e}",
                text.chars().take(80).collect::<String>()
            )
        })
    }

    /// An optional unsigned integer field.
    fn number(&self, field: &str) -> Result<Option<u64>, String> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("field `{field}`: expected an unsigned integer, found {n}")),
            Some(other) => Err(format!(
                "field `{field}`: expected an unsigned integer, found {}",
                kind(other)
            )),
        }
    }
}

/// `value` of a field that must be present.
fn required<T>(value: Option<T>, field: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("field `{field}` is missing"))
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

/// An `OK` reply to `request_id` with `fields`.
pub(crate) fn ok_reply(request_id: &str, fields: Map<String, Value>) -> Value {
    let mut reply = Map::new();
    reply.insert("request_id".into(), request_id.into());
    reply.insert("status".into(), "OK".into());
    reply.extend(fields);
    Value::Object(reply)
}

/// An `ERROR` reply (`request_id` null when it could not be read).
pub(crate) fn error_reply(
    request_id: Option<&str>,
    code: Code,
    message: &str,
    fields: Map<String, Value>,
) -> Value {
    let mut reply = Map::new();
    reply.insert(
        "request_id".into(),
        request_id.map_or(Value::Null, Value::from),
    );
    reply.insert("status".into(), "ERROR".into());
    reply.insert("code".into(), code.as_str().into());
    reply.insert("message".into(), message.into());
    reply.extend(fields);
    Value::Object(reply)
}

#[cfg(test)]
mod tests {
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
                "`channel` is missing",
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
                "`channel_hash` is missing",
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
    fn replies_echo_the_id_or_null() {
        let reply = error_reply(None, Code::InvalidRequest, "m", Map::new());
        assert_eq!(reply["request_id"], Value::Null);
        assert_eq!(reply["code"], "INVALID_REQUEST");
        let reply = ok_reply("9", Map::new());
        assert_eq!(reply["request_id"], "9");
        assert_eq!(reply["status"], "OK");
    }
}
