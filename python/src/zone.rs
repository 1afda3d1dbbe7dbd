//! `datahub.Zone` (a lock-free zone: its atomic fields loaded, stored and
//! added to by name) and `datahub.LockedZone` (a locked zone: a numpy view
//! of it while its lock is held, in a `with` block).

use std::sync::Mutex;

use datahub::{DescribedLockedZone, DescribedZone, ErrorKind, HeldLock, Value};
use numpy::PyArrayDescr;
use pyo3::prelude::*;

use crate::errors::to_pyerr;
use crate::view::{self, Released};
use crate::wait;

/// A lock-free zone of a channel: its atomic fields by name
/// (`"frame_count"`, nested `"motor.speed"`, elements `"counts[3]"`).
///
/// ```python
/// tel = c.zone("telemetry")
/// tel.store("state", 1); tel.fetch_add("frame_count", 1); tel.load("fps")
/// ```
#[pyclass(module = "datahub._datahub", name = "Zone", frozen)]
pub(crate) struct Zone {
    inner: DescribedZone,
}

impl Zone {
    pub(crate) fn new(inner: DescribedZone) -> Self {
        Self { inner }
    }
}

/// A Python number as a zone value.
fn value(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    if let Ok(i) = v.extract::<i64>() {
        return Ok(Value::Int(i));
    }
    if let Ok(u) = v.extract::<u64>() {
        return Ok(Value::UInt(u));
    }
    Ok(Value::Float(v.extract::<f64>()?))
}

/// A zone value as a Python number.
fn number(py: Python<'_>, v: Value) -> PyResult<Py<PyAny>> {
    Ok(match v {
        Value::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Value::UInt(u) => u.into_pyobject(py)?.into_any().unbind(),
        Value::Float(f) => f.into_pyobject(py)?.into_any().unbind(),
        _ => py.None(),
    })
}

#[pymethods]
impl Zone {
    /// The value of the atomic field `field` (an int or a float).
    fn load(&self, py: Python<'_>, field: &str) -> PyResult<Py<PyAny>> {
        let v = self.inner.load(field).map_err(|e| to_pyerr(py, e))?;
        number(py, v)
    }

    /// Stores `value` in the atomic field `field`.
    fn store(&self, py: Python<'_>, field: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner
            .store(field, self::value(value)?)
            .map_err(|e| to_pyerr(py, e))
    }

    /// Adds `delta` to the atomic field `field`; returns the value before.
    fn fetch_add(
        &self,
        py: Python<'_>,
        field: &str,
        delta: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let v = self
            .inner
            .fetch_add(field, value(delta)?)
            .map_err(|e| to_pyerr(py, e))?;
        number(py, v)
    }

    /// The paths of the zone's atomic fields.
    #[getter]
    fn fields(&self) -> Vec<String> {
        self.inner.fields()
    }

    /// The zone's name.
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// The zone type's canonical form.
    #[getter]
    fn layout(&self) -> String {
        self.inner.canonical()
    }

    fn __repr__(&self) -> String {
        format!("<datahub.Zone {:?}>", self.inner.name())
    }
}

/// A locked zone of a channel. `with zone as z:` takes its lock and gives
/// `z`, a numpy view of the zone (a 0-d structured array: `z["gain"][0]`),
/// writable, that raises `datahub.Released` once the block is left and the
/// lock released.
#[pyclass(module = "datahub._datahub", name = "LockedZone", frozen)]
pub(crate) struct LockedZone {
    inner: DescribedLockedZone,
    mapping: datahub::Mapping,
    dtype: Py<PyArrayDescr>,
    timeout: Option<f64>,
    held: Mutex<Option<(HeldLock, Released)>>,
}

impl LockedZone {
    pub(crate) fn new(
        py: Python<'_>,
        inner: DescribedLockedZone,
        mapping: datahub::Mapping,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let dtype = crate::dtype::dtype_of(py, &inner.canonical())?.unbind();
        Ok(Self {
            inner,
            mapping,
            dtype,
            timeout,
            held: Mutex::new(None),
        })
    }

    fn unlock(&self, py: Python<'_>) -> PyResult<()> {
        let Some((held, released)) = wait::lock(py, &self.held).take() else {
            return Ok(());
        };
        released.set();
        let guard = self.inner.reattach(held).map_err(|e| to_pyerr(py, e))?;
        drop(guard);
        Ok(())
    }
}

#[pymethods]
impl LockedZone {
    /// Takes the lock (waiting up to the zone's `timeout`) and gives a
    /// writable numpy view of the zone.
    fn __enter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut held = wait::lock(py, &self.held);
        if held.is_some() {
            return Err(to_pyerr(
                py,
                ErrorKind::InvalidArgument {
                    channel: self.mapping.channel().to_owned(),
                    problem: format!(
                        "zone `{}` is locked by this handle already: one `with` at a time",
                        self.inner.name()
                    ),
                }
                .into(),
            ));
        }
        let zone = &self.inner;
        let lock = wait::sliced(py, self.mapping.channel(), self.timeout, |slice, _| {
            zone.lock(slice).map(datahub::DescribedZoneGuard::detach)
        })?;
        let released = Released::default();
        let bytes = view::Bytes {
            start: lock.as_ptr(),
            len: lock.len(),
            writable: true,
            mapping: self.mapping.clone(),
        };
        let dtype = self.dtype.bind(py);
        let fits = view::itemsize(dtype) <= lock.len();
        *held = Some((lock, released.clone()));
        if !fits {
            drop(held);
            self.unlock(py)?;
            return Err(to_pyerr(
                py,
                ErrorKind::InvalidArgument {
                    channel: self.mapping.channel().to_owned(),
                    problem: "the zone's dtype is larger than the zone".into(),
                }
                .into(),
            ));
        }
        // The lock is held (this mapping's flag and the shared lock) until
        // `unlock`, which sets `released` first; the bytes lie in the
        // mapping the guard keeps; the dtype is the zone's recorded layout,
        // checked against its size (zones are 64-aligned).
        // SAFETY: see `view::view`'s conditions, met as above.
        unsafe {
            view::view(
                py,
                bytes,
                Some(dtype),
                &released,
                format!(
                    "zone `{}` of channel `{}`",
                    self.inner.name(),
                    self.mapping.channel()
                ),
            )
        }
    }

    /// Releases the lock; the view raises from now on.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.unlock(py)?;
        Ok(false)
    }

    /// A copy of the zone's value, taken under the lock.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let view = self.__enter__(py)?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("copy", true)?;
        kwargs.set_item("subok", false)?;
        let copy = py
            .import("numpy")?
            .call_method("array", (view,), Some(&kwargs));
        self.unlock(py)?;
        copy
    }

    /// The zone's numpy dtype.
    #[getter]
    fn dtype(&self, py: Python<'_>) -> Py<PyArrayDescr> {
        self.dtype.clone_ref(py)
    }

    /// The zone's name.
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// The pid of the process holding the lock now, if any.
    #[getter]
    fn holder(&self) -> Option<u32> {
        self.inner.holder()
    }

    fn __repr__(&self) -> String {
        format!("<datahub.LockedZone {:?}>", self.inner.name())
    }
}

impl Drop for LockedZone {
    fn drop(&mut self) {
        if let Some((held, released)) = self.held.get_mut().ok().and_then(Option::take) {
            released.set();
            drop(self.inner.reattach(held));
        }
    }
}
