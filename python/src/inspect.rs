//! Channels seen from outside, as `datahub inspect --json`, `datahub list`
//! and `datahub cleanup --json` show them: `inspect(channel)`,
//! `list_channels()` and `cleanup(...)`. Read-only except `cleanup`, which
//! removes only abandoned segments (dead producer, no live consumer).
//!
//! The runtime's snapshots derive `serde::Serialize`; they reach Python as
//! JSON read by `json.loads`, so the dicts have exactly the CLI's field
//! names and values (hashes as `dh1:` text, enums as lowercase words).

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors::{Exc, OrRaise, code, new_err};

/// A snapshot of channel `channel`, as a dict: what `datahub inspect
/// --json CHANNEL` prints (`channel`, `state`, `channel_hash`, `slot`,
/// `capacity`, `overflow`, `checksum`, `secret`, `max_consumers`,
/// `stall_timeout_ms`, `segment_bytes`, `uptime_ms`, `committed`,
/// `producer`, `counters`, `consumers`, `zones`, `slots`). Read from a
/// private copy of the segment: nothing is written. Raises `NotFound`
/// (code 203) when the channel does not exist.
#[pyfunction]
#[pyo3(signature = (channel))]
pub(crate) fn inspect<'py>(py: Python<'py>, channel: &str) -> PyResult<Bound<'py, PyAny>> {
    let snapshot = py.detach(|| datahub::inspect(channel)).or_raise(py)?;
    to_python(py, &snapshot)
}

/// The names of the channels that have a segment on this machine, sorted.
#[pyfunction]
pub(crate) fn list_channels(py: Python<'_>) -> PyResult<Vec<String>> {
    py.detach(datahub::list_channels).or_raise(py)
}

/// Removes abandoned segments: those whose producer is dead and that no
/// live consumer is attached to, as `datahub cleanup` does. `channels` is
/// a channel name or a list of them; `None` judges every channel on the
/// machine (an empty list judges none). With `dry_run`, nothing is
/// removed. Returns one dict per channel judged: `channel`, `verdict`
/// (`removed`, `would_remove`, `kept`, `skipped`) and `reason`.
#[pyfunction]
#[pyo3(signature = (channels=None, *, dry_run=false))]
pub(crate) fn cleanup<'py>(
    py: Python<'py>,
    channels: Option<&Bound<'py, PyAny>>,
    dry_run: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let channels: Vec<String> = match channels {
        None => Vec::new(),
        Some(one) if one.is_instance_of::<PyString>() => vec![one.extract()?],
        Some(many) => {
            let many: Vec<String> = many.extract().map_err(|_| {
                new_err(
                    py,
                    Exc::InvalidArgument,
                    code::INVALID_ARGUMENT,
                    format!(
                        "cleanup(channels=...) takes a channel name, a list of names or None \
                         (every channel), not {}",
                        type_name(many)
                    ),
                )
            })?;
            if many.is_empty() {
                // The runtime reads an empty list as "every channel": a
                // caller's empty list means none.
                return to_python(py, &Vec::<datahub::Cleanup>::new());
            }
            many
        }
    };
    let verdicts = py
        .detach(|| datahub::cleanup(&channels, dry_run))
        .or_raise(py)?;
    to_python(py, &verdicts)
}

/// Python objects for a serializable value, through JSON: the CLI's
/// `--json` shape exactly.
pub(crate) fn to_python<'py>(
    py: Python<'py>,
    value: &impl serde::Serialize,
) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| {
        new_err(
            py,
            Exc::DataHubError,
            0,
            format!("cannot convert a snapshot to Python objects: {e}"),
        )
    })?;
    py.import("json")?.call_method1("loads", (text,))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "that".into())
}
