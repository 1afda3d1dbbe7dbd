//! Waiting from Python: the GIL is released while a call waits, and the
//! wait is cut into slices of at most 50 ms, between which Python's signal
//! handlers run (`py.check_signals()`), so Ctrl-C interrupts any wait
//! within a slice. Also the locks of the bindings' objects, taken so that
//! a thread waiting for one never holds the GIL (`*_py_attached`).

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use datahub::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::sync::{MutexExt, RwLockExt};

use crate::errors::to_pyerr;

/// The longest a wait runs without looking at Python's signals.
const SLICE: Duration = Duration::from_millis(50);

/// A Python `timeout` (seconds, or `None` for no limit), checked.
pub(crate) fn timeout(channel: &str, timeout: Option<f64>) -> Result<Option<Duration>, Error> {
    match timeout {
        None => Ok(None),
        Some(t) => Duration::try_from_secs_f64(t).map(Some).map_err(|_| {
            ErrorKind::InvalidArgument {
                channel: channel.to_owned(),
                problem: format!("timeout {t}: expected seconds, 0 or more, or None for no limit"),
            }
            .into()
        }),
    }
}

/// Runs `attempt(slice, last)` with the GIL released, in slices of at
/// most 50 ms until it gives something other than a timeout or `timeout`
/// seconds passed (`None`: no limit), checking Python's signals between
/// slices; `last` says whether a timeout of this slice ends the wait. A
/// final timeout reports the whole wait. The error becomes Python's only
/// after `attempt` returned: callers may hold their locks in it.
pub(crate) fn sliced<T: Send>(
    py: Python<'_>,
    channel: &str,
    timeout: Option<f64>,
    attempt: impl FnMut(Duration, bool) -> Result<T, Error> + Send,
) -> PyResult<T> {
    sliced_rust(py, channel, timeout, attempt).map_err(|e| match e {
        Waited::Error(e) => to_pyerr(py, e),
        Waited::Python(e) => e,
    })
}

/// Why a sliced wait ended without a value.
pub(crate) enum Waited {
    /// The runtime's error (not yet Python's).
    Error(Error),
    /// Python's (a signal handler raised, Ctrl-C).
    Python(PyErr),
}

/// [`sliced`], leaving a runtime error unconverted: for callers that hold
/// a lock of theirs across the wait, and must not run Python code (which
/// making an exception may, through the garbage collector) until they let
/// it go.
pub(crate) fn sliced_rust<T: Send>(
    py: Python<'_>,
    channel: &str,
    timeout: Option<f64>,
    mut attempt: impl FnMut(Duration, bool) -> Result<T, Error> + Send,
) -> Result<T, Waited> {
    let limit = self::timeout(channel, timeout).map_err(Waited::Error)?;
    let start = Instant::now();
    loop {
        let left = limit.map(|l| l.saturating_sub(start.elapsed()));
        let slice = left.map_or(SLICE, |left| left.min(SLICE));
        let last = left.is_some_and(|left| left <= slice);
        match py.detach(|| attempt(slice, last)) {
            Err(e) if matches!(e.kind(), ErrorKind::Timeout { .. }) => {
                if last {
                    return Err(Waited::Error(whole_wait(e, start.elapsed())));
                }
                py.check_signals().map_err(Waited::Python)?;
            }
            other => return other.map_err(Waited::Error),
        }
    }
}

/// A slice's timeout, reporting `waited` (the whole wait) instead.
fn whole_wait(e: Error, waited: Duration) -> Error {
    match e.into_kind() {
        ErrorKind::Timeout { channel, cause, .. } => ErrorKind::Timeout {
            channel,
            waited,
            cause,
        }
        .into(),
        other => other.into(),
    }
}

/// Locks `m`, releasing the GIL while waiting for it.
pub(crate) fn lock<'a, T>(py: Python<'_>, m: &'a Mutex<T>) -> MutexGuard<'a, T> {
    m.lock_py_attached(py)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Read-locks `l`, releasing the GIL while waiting for it.
pub(crate) fn read<'a, T>(py: Python<'_>, l: &'a RwLock<T>) -> RwLockReadGuard<'a, T> {
    l.read_py_attached(py)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write-locks `l`, releasing the GIL while waiting for it.
pub(crate) fn write<'a, T>(py: Python<'_>, l: &'a RwLock<T>) -> RwLockWriteGuard<'a, T> {
    l.write_py_attached(py)
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
