//! The exceptions Python sees: `datahub.DataHubError` (with `.code`, the
//! `DH` number as an int) and one subclass per situation a Python user can
//! act on. Every Rust error reaches Python through [`to_pyerr`] (runtime),
//! [`schema_err`] (schema files) or [`new_err`] (the binding's own
//! situations, under the runtime's codes `code::RELEASED` and
//! `code::INVALID_ARGUMENT`); nothing else raises.
//!
//! The classes are made at module init with `type(name, bases, namespace)`,
//! not with `create_exception!`: that macro takes one base, and `Timeout`
//! needs two (`DataHubError` and the builtin `TimeoutError`). `.code` is a
//! plain instance attribute set when raising (and a class attribute with the
//! class's usual code, for instances a user makes), which works on every
//! abi3 version (`docs/python-research.md`, section 6).
//!
//! A class may serve several codes of one situation: `Timeout` is raised for
//! DH209 (a wait ran out), DH205 (a segment still being created when the wait
//! ran out) and DH217 (no reply from the broker); `NotFound` for DH203 (no
//! such segment) and DH219 (the broker knows no producer). `.code` always
//! says which.

use pyo3::exceptions::{PyException, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use datahub::ErrorKind;

/// The codes the binding raises for situations of its own: the runtime's
/// (`ErrorKind::Stale`, `ErrorKind::InvalidArgument`), so that Python, C
/// and Rust report one situation under one number.
pub(crate) mod code {
    /// A slot, item, zone guard or view used after it was released
    /// (`ErrorKind::Stale`).
    pub(crate) const RELEASED: u16 = 228;
    /// A Python argument the binding cannot use: a value of the wrong
    /// shape or dtype, an unknown field or zone, an unknown option, a
    /// schema without the channel asked for, a layout numpy cannot
    /// describe (`ErrorKind::InvalidArgument`).
    pub(crate) const INVALID_ARGUMENT: u16 = 229;
}

/// One exception class of the module. The discriminant indexes the table
/// of classes made at init ([`SPECS`], same order; a new class goes before
/// `InvalidArgument`, which stays last, or the length check moves with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exc {
    /// `DataHubError(Exception)`: the base; also raised as itself for
    /// errors no subclass covers (I/O, broker, foreign files, no room).
    DataHubError,
    /// DH1xx: a schema file that does not load.
    SchemaError,
    /// DH201: a channel configuration or name that cannot be used (also a
    /// `ValueError`).
    InvalidConfig,
    /// DH202.
    ChannelExists,
    /// DH203, DH219.
    NotFound,
    /// DH204.
    CorruptSegment,
    /// DH206.
    Closed,
    /// DH207.
    SchemaMismatch,
    /// DH208.
    ConsumersFull,
    /// DH209, DH205, DH217 (also a `TimeoutError`).
    Timeout,
    /// DH211.
    ChecksumMismatch,
    /// DH212.
    WrongZone,
    /// DH213 (also a `ValueError`).
    PayloadTooLarge,
    /// DH214.
    AccessDenied,
    /// DH215.
    ProducerGone,
    /// DH216.
    SchemaChanged,
    /// DH225.
    ItemHeld,
    /// DH226.
    NoRing,
    /// DH228.
    Released,
    /// DH227.
    SlotHeld,
    /// DH229 (also a `ValueError`).
    InvalidArgument,
}

/// A builtin exception a class also derives from.
#[derive(Clone, Copy)]
enum Builtin {
    Timeout,
    Value,
}

struct Spec {
    exc: Exc,
    name: &'static str,
    /// The code of an instance made from Python (`raise Closed("...")`).
    code: u16,
    builtin: Option<Builtin>,
    doc: &'static str,
}

/// Every class, in the order of [`Exc`] (checked by [`classes`]); the
/// first is the base of the others.
const SPECS: [Spec; 21] = [
    Spec {
        exc: Exc::DataHubError,
        name: "DataHubError",
        code: 0,
        builtin: None,
        doc: "Base of every DataHub error. `.code` is its stable number: DH1xx schema files, \
              DH2xx the runtime (channels, slots, zones, and the binding's own situations). The message \
              says what was expected, what was found and what to do.",
    },
    Spec {
        exc: Exc::SchemaError,
        name: "SchemaError",
        code: 100,
        builtin: None,
        doc: "A schema file that does not load: unreadable (DH190) or invalid (DH1xx, the first \
              problem's code; the message lists every problem at its file:line:col).",
    },
    Spec {
        exc: Exc::InvalidConfig,
        name: "InvalidConfig",
        code: 201,
        builtin: Some(Builtin::Value),
        doc: "DH201: a channel configuration or name that cannot describe a channel.",
    },
    Spec {
        exc: Exc::ChannelExists,
        name: "ChannelExists",
        code: 202,
        builtin: None,
        doc: "DH202: the channel exists and its producer is alive.",
    },
    Spec {
        exc: Exc::NotFound,
        name: "NotFound",
        code: 203,
        builtin: None,
        doc: "DH203: no such channel on this machine (no /dev/shm/datahub.<name>); DH219: the \
              broker knows no producer of it.",
    },
    Spec {
        exc: Exc::CorruptSegment,
        name: "CorruptSegment",
        code: 204,
        builtin: None,
        doc: "DH204: the channel's segment cannot be true (corrupted, truncated, or not DataHub's).",
    },
    Spec {
        exc: Exc::Closed,
        name: "Closed",
        code: 206,
        builtin: None,
        doc: "DH206: the producer closed the channel for good (every item was read).",
    },
    Spec {
        exc: Exc::SchemaMismatch,
        name: "SchemaMismatch",
        code: 207,
        builtin: None,
        doc: "DH207: the channel's schema is not the one expected; the message names the first \
              differing field.",
    },
    Spec {
        exc: Exc::ConsumersFull,
        name: "ConsumersFull",
        code: 208,
        builtin: None,
        doc: "DH208: every consumer entry of the channel is taken.",
    },
    Spec {
        exc: Exc::Timeout,
        name: "Timeout",
        code: 209,
        builtin: Some(Builtin::Timeout),
        doc: "DH209: a wait ran out (also a TimeoutError). DH205: the channel was still being \
              created when it ran out; DH217: the broker did not answer in time.",
    },
    Spec {
        exc: Exc::ChecksumMismatch,
        name: "ChecksumMismatch",
        code: 211,
        builtin: None,
        doc: "DH211: an item's enforced checksum did not match; the item is skipped.",
    },
    Spec {
        exc: Exc::WrongZone,
        name: "WrongZone",
        code: 212,
        builtin: None,
        doc: "DH212: the channel has no zone of that name and kind.",
    },
    Spec {
        exc: Exc::PayloadTooLarge,
        name: "PayloadTooLarge",
        code: 213,
        builtin: Some(Builtin::Value),
        doc: "DH213: a payload longer than the channel's slots (also a ValueError).",
    },
    Spec {
        exc: Exc::AccessDenied,
        name: "AccessDenied",
        code: 214,
        builtin: None,
        doc: "DH214: the channel's secret and the caller's differ.",
    },
    Spec {
        exc: Exc::ProducerGone,
        name: "ProducerGone",
        code: 215,
        builtin: None,
        doc: "DH215: the channel's producer died and no producer took it over.",
    },
    Spec {
        exc: Exc::SchemaChanged,
        name: "SchemaChanged",
        code: 216,
        builtin: None,
        doc: "DH216: the channel was recreated with another schema or configuration: re-attach.",
    },
    Spec {
        exc: Exc::ItemHeld,
        name: "ItemHeld",
        code: 225,
        builtin: None,
        doc: "DH225: the consumer still holds an item: release it before taking the next.",
    },
    Spec {
        exc: Exc::NoRing,
        name: "NoRing",
        code: 226,
        builtin: None,
        doc: "DH226: the channel has no ring (capacity 0, zones only).",
    },
    Spec {
        exc: Exc::Released,
        name: "Released",
        code: code::RELEASED,
        builtin: None,
        doc: "DH228: a slot, item, zone lock or numpy view used after it was released \
              (committed, aborted, unlocked): copy what you need before.",
    },
    Spec {
        exc: Exc::SlotHeld,
        name: "SlotHeld",
        code: 227,
        builtin: None,
        doc: "DH227: the producer still has a slot acquired: commit or abort it first.",
    },
    Spec {
        exc: Exc::InvalidArgument,
        name: "InvalidArgument",
        code: code::INVALID_ARGUMENT,
        builtin: Some(Builtin::Value),
        doc: "DH229: an argument the binding cannot use (wrong shape or dtype, unknown field, \
              zone or option; a schema without the channel asked for; a layout numpy cannot \
              describe). Also a ValueError.",
    },
];

// One spec per `Exc` variant (their order is checked at init).
const _: () = assert!(SPECS.len() == Exc::InvalidArgument as usize + 1);

/// The classes, made once per process.
static CLASSES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Vec<Py<PyType>>> {
    CLASSES.get_or_try_init(py, || {
        let type_ = py.import("builtins")?.getattr("type")?;
        let mut made: Vec<Py<PyType>> = Vec::with_capacity(SPECS.len());
        for (index, spec) in SPECS.iter().enumerate() {
            if spec.exc as usize != index {
                return Err(PyException::new_err(format!(
                    "datahub: exception table out of order at `{}`",
                    spec.name
                )));
            }
            let parent = match made.first() {
                None => py.get_type::<PyException>(),
                Some(base) => base.bind(py).clone(),
            };
            let bases = match spec.builtin {
                None => PyTuple::new(py, [parent])?,
                Some(builtin) => {
                    let builtin = match builtin {
                        Builtin::Timeout => py.get_type::<PyTimeoutError>(),
                        Builtin::Value => py.get_type::<PyValueError>(),
                    };
                    PyTuple::new(py, [parent, builtin])?
                }
            };
            let namespace = PyDict::new(py);
            namespace.set_item("__module__", "datahub")?;
            namespace.set_item("__doc__", spec.doc)?;
            namespace.set_item("code", spec.code)?;
            let class = type_
                .call1((spec.name, bases, namespace))?
                .cast_into::<PyType>()?;
            made.push(class.unbind());
        }
        Ok(made)
    })
}

/// Adds every exception class to the module (at init).
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    for (spec, class) in SPECS.iter().zip(classes(py)?) {
        module.add(spec.name, class.bind(py))?;
    }
    Ok(())
}

/// An exception of class `exc` with `message` and `.code = code`, to
/// return as `Err(...)`. For the binding's own situations, with a
/// [`code`] constant:
///
/// ```ignore
/// return Err(new_err(py, Exc::Released, code::RELEASED, "slot released: ..."));
/// ```
pub(crate) fn new_err(py: Python<'_>, exc: Exc, code: u16, message: impl Into<String>) -> PyErr {
    let message = message.into();
    let made = || -> PyResult<PyErr> {
        let classes = classes(py)?;
        // Every `Exc` has its class (the table's length is checked at
        // compile time); the base serves otherwise.
        let class = classes
            .get(exc as usize)
            .or(classes.first())
            .ok_or_else(|| PyException::new_err("datahub: the exception classes were not made"))?;
        let class = class.bind(py);
        let instance = class.call1((message.as_str(),))?;
        instance.setattr("code", code)?;
        Ok(PyErr::from_value(instance))
    };
    // Making the exception can only fail when Python itself does (no
    // memory): that failure is the error then.
    made().unwrap_or_else(|failure| failure)
}

/// The Python exception for a runtime error: its class by situation
/// (`err.kind()`), `.code` its DH number, its message the error's Display.
pub(crate) fn to_pyerr(py: Python<'_>, err: datahub::Error) -> PyErr {
    let exc = class_of(err.kind());
    new_err(py, exc, code_number(err.code()), err.to_string())
}

/// The Python exception for a schema file that does not load: a
/// `SchemaError` with its DH1xx code and every problem in the message.
pub(crate) fn schema_err(py: Python<'_>, err: &datahub_schema::Error) -> PyErr {
    new_err(
        py,
        Exc::SchemaError,
        code_number(err.code()),
        err.to_string(),
    )
}

/// `result.or_raise(py)?`: a runtime result with its error made Python's
/// ([`to_pyerr`]).
pub(crate) trait OrRaise<T> {
    /// The value, or the error as a Python exception.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, datahub::Error> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|err| to_pyerr(py, err))
    }
}

/// The class a runtime error is raised as. `ErrorKind` is non-exhaustive:
/// a kind added later is a plain `DataHubError` (with its own code) until
/// it is given a class here.
fn class_of(kind: &ErrorKind) -> Exc {
    match kind {
        ErrorKind::InvalidConfig { .. } => Exc::InvalidConfig,
        ErrorKind::ChannelExists { .. } => Exc::ChannelExists,
        ErrorKind::NoSuchChannel { .. } | ErrorKind::NotDiscovered { .. } => Exc::NotFound,
        ErrorKind::CorruptSegment { .. } => Exc::CorruptSegment,
        ErrorKind::Closed { .. } => Exc::Closed,
        ErrorKind::SchemaMismatch { .. } => Exc::SchemaMismatch,
        ErrorKind::ConsumersFull { .. } => Exc::ConsumersFull,
        ErrorKind::Timeout { .. }
        | ErrorKind::NotReady { .. }
        | ErrorKind::BrokerTimeout { .. } => Exc::Timeout,
        ErrorKind::ChecksumMismatch { .. } => Exc::ChecksumMismatch,
        ErrorKind::WrongZone { .. } => Exc::WrongZone,
        ErrorKind::PayloadTooLarge { .. } => Exc::PayloadTooLarge,
        ErrorKind::AccessDenied { .. } => Exc::AccessDenied,
        ErrorKind::ProducerGone { .. } => Exc::ProducerGone,
        ErrorKind::SchemaChanged { .. } => Exc::SchemaChanged,
        ErrorKind::ItemHeld { .. } => Exc::ItemHeld,
        ErrorKind::NoRing { .. } => Exc::NoRing,
        ErrorKind::SlotHeld { .. } => Exc::SlotHeld,
        ErrorKind::Stale { .. } => Exc::Released,
        ErrorKind::InvalidArgument { .. } => Exc::InvalidArgument,
        _ => Exc::DataHubError,
    }
}

/// `"DH207"` -> 207; 0 for a code that is not `DH` and digits (none is).
fn code_number(code: &str) -> u16 {
    code.strip_prefix("DH")
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}
