//! Schema files from Python: loading one (errors as `SchemaError` with the
//! file's DH1xx code), choosing a channel of it, and the two functions
//! `schema_hash(path, channel=None)` and `describe_schema(path,
//! channel=None)`, which show what a producer created from that schema
//! would have (`datahub-codegen hash --json` gives the same hashes).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use datahub_schema::{Channel, Schema, SlotType};

use crate::errors::{Exc, code, new_err, schema_err};

/// Loads and checks the schema file `path`.
pub(crate) fn load(py: Python<'_>, path: PathBuf) -> PyResult<Schema> {
    py.detach(|| Schema::load(path))
        .map_err(|err| schema_err(py, &err))
}

/// The channel `name` of `schema` (loaded from `path`); without a name,
/// its only channel. A missing or ambiguous channel is `InvalidArgument`
/// (DH229) naming the channels the file has.
pub(crate) fn channel<'s>(
    py: Python<'_>,
    schema: &'s Schema,
    path: &std::path::Path,
    name: Option<&str>,
) -> PyResult<&'s Channel> {
    let names = || {
        let names: Vec<_> = schema
            .channels()
            .iter()
            .map(|c| format!("`{}`", c.name))
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    let found = match name {
        Some(name) => schema.channel(name),
        None if schema.channels().len() == 1 => schema.channels().first(),
        None => None,
    };
    found.ok_or_else(|| {
        let problem = match name {
            Some(name) => format!("has no channel `{name}`"),
            None => "has more than one channel (or none), so say which: channel=...".to_owned(),
        };
        new_err(
            py,
            Exc::InvalidArgument,
            code::INVALID_ARGUMENT,
            format!(
                "schema file `{}` {problem}; its channels: {}",
                path.display(),
                names()
            ),
        )
    })
}

/// The channel hash (`dh1:...`) of channel `channel` of the schema file
/// `path` (its only channel when `channel` is None): what a consumer
/// attaching with that schema checks. Raises `SchemaError` for a file that
/// does not load and `InvalidArgument` for a channel it does not have.
#[pyfunction]
#[pyo3(signature = (path, channel=None))]
pub(crate) fn schema_hash(
    py: Python<'_>,
    path: PathBuf,
    channel: Option<&str>,
) -> PyResult<String> {
    let schema = load(py, path.clone())?;
    Ok(self::channel(py, &schema, &path, channel)?
        .hash()
        .to_string())
}

/// What channel `channel` of the schema file `path` is (its only channel
/// when `channel` is None), as a dict: `channel`, `hash`, `slot_kind`
/// (`typed` or `bytes`), `slot_type` (the struct's name, or None),
/// `slot_canonical`, `slot_size`, `capacity`, `overflow`, `checksum`,
/// `max_consumers`, and `zones` (a list of dicts with `name`, `type`,
/// `locked` and `canonical`). `datahub.dtype_of(d["slot_canonical"])` is
/// the slot's dtype.
#[pyfunction]
#[pyo3(signature = (path, channel=None))]
pub(crate) fn describe_schema<'py>(
    py: Python<'py>,
    path: PathBuf,
    channel: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let schema = load(py, path.clone())?;
    let c = self::channel(py, &schema, &path, channel)?;
    let d = PyDict::new(py);
    d.set_item("channel", &c.name)?;
    d.set_item("hash", c.hash().to_string())?;
    let (kind, slot_type, size) = match &c.slot {
        SlotType::Struct(name) => {
            let size = schema.struct_def(name).map(|s| s.layout.size);
            ("typed", Some(name.as_str()), size)
        }
        SlotType::Bytes { size } => ("bytes", None, Some(*size)),
        // Non-exhaustive: a slot kind added after this binding.
        _ => ("unknown", None, None),
    };
    d.set_item("slot_kind", kind)?;
    d.set_item("slot_type", slot_type)?;
    d.set_item("slot_canonical", c.slot_canonical())?;
    d.set_item("slot_size", size)?;
    d.set_item("capacity", c.capacity)?;
    d.set_item("overflow", c.overflow.as_str())?;
    d.set_item("checksum", c.checksum.as_str())?;
    d.set_item("max_consumers", c.max_consumers)?;
    let zones = PyList::empty(py);
    for (zone, canonical) in c.zones.iter().zip(c.zone_canonicals()) {
        let z = PyDict::new(py);
        z.set_item("name", &zone.name)?;
        z.set_item("type", &zone.ty)?;
        z.set_item("locked", zone.locked)?;
        z.set_item("canonical", canonical)?;
        zones.append(z)?;
    }
    d.set_item("zones", zones)?;
    Ok(d)
}
