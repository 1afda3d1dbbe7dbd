//! `datahub.Producer` and the `datahub.WriteSlot`s it gives: a slot is
//! claimed (a detached write slot of the runtime's producer) until it is
//! committed (a clean exit from its `with` block, `commit()`) or aborted
//! (an exception in the block, `abort()`, garbage collection); its `data`
//! is a writable numpy view of the slot, no copy, that raises once the
//! slot is committed or aborted.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, TryLockError};

use datahub::{
    ChannelConfig, ChecksumPolicy, Described, DetachedWrite, ErrorKind, SlotKind, SlotLayout,
};
use numpy::PyArrayDescr;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict};

use crate::errors::to_pyerr;
use crate::view::{self, Released};
use crate::wait;
use crate::zone::{LockedZone, Zone};

type Inner = datahub::Producer<Described>;

/// The configuration of `channel` of the schema file at `path` (its only
/// channel when `channel` is `None`): `SchemaError` for a file that does
/// not load, `InvalidArgument` for a channel it lacks.
pub(crate) fn schema_config(
    py: Python<'_>,
    path: &Path,
    channel: Option<&str>,
) -> PyResult<ChannelConfig> {
    let schema = crate::schema::load(py, path.to_owned())?;
    let channel = crate::schema::channel(py, &schema, path, channel)?;
    ChannelConfig::from_schema(&schema, &channel.name).map_err(|e| to_pyerr(py, e))
}

/// The numpy dtype of typed slots of `layout`; `None` for raw bytes.
pub(crate) fn slot_dtype(
    py: Python<'_>,
    layout: &SlotLayout,
) -> PyResult<Option<Py<PyArrayDescr>>> {
    match layout.kind() {
        SlotKind::Bytes => Ok(None),
        _ => Ok(Some(
            crate::dtype::dtype_of(py, layout.canonical())?.unbind(),
        )),
    }
}

/// The producer of a DataHub channel, created from a TOML schema.
///
/// ```python
/// p = datahub.Producer.create("schemas/sensor.toml", channel="sensor", name="sensor_a")
/// with p.acquire(timeout=1.0) as slot:
///     slot.data["seq"] = 7
/// p.send({"seq": 8, "samples": frame})
/// ```
#[pyclass(module = "datahub._datahub", name = "Producer", frozen)]
pub(crate) struct Producer {
    inner: Mutex<Option<Inner>>,
    name: String,
    dtype: Option<Py<PyArrayDescr>>,
    mapping: datahub::Mapping,
    kind: SlotKind,
    checksum: ChecksumPolicy,
    /// The `released` flag of the slot acquired now (one at a time), set
    /// by `close` so that its views raise.
    slot: Mutex<Option<Released>>,
    /// Slots the garbage collector dropped unfinished while `inner` was
    /// locked: aborted at the next call. A plain lock, held only to push
    /// or take.
    pending: Mutex<Vec<DetachedWrite>>,
    /// Set by `close`: a wait in another thread ends at its next slice.
    closing: AtomicBool,
}

impl Producer {
    fn closed_error(&self) -> datahub::Error {
        ErrorKind::Closed {
            channel: self.name.clone(),
        }
        .into()
    }

    /// Runs `f` on the runtime's producer (`None` once closed), after
    /// aborting the slots the garbage collector dropped. No Python code
    /// runs while the lock is held: errors become Python's after it.
    fn with_inner<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
        let mut inner = wait::lock(py, &self.inner);
        let inner = inner.as_mut()?;
        for held in std::mem::take(&mut *lock_plain(&self.pending)) {
            drop(inner.reattach(held));
        }
        Some(f(inner))
    }

    /// Claims the next slot, waiting as `timeout` allows.
    fn claim(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<DetachedWrite> {
        let claimed = self.with_inner(py, |inner| {
            wait::sliced_rust(py, &self.name, timeout, |slice, last| {
                if self.closing.load(Ordering::Relaxed) {
                    return Err(self.closed_error());
                }
                // Only a timeout that ends the whole wait is counted.
                inner.set_timeouts_counted(last);
                inner.acquire(slice).map(datahub::WriteSlot::detach)
            })
        });
        match claimed {
            None => Err(to_pyerr(py, self.closed_error())),
            Some(Ok(held)) => {
                *lock_plain(&self.slot) = None;
                Ok(held)
            }
            Some(Err(wait::Waited::Error(e))) => Err(to_pyerr(py, e)),
            Some(Err(wait::Waited::Python(e))) => Err(e),
        }
    }

    /// Records the checksum of the slot `held` carrying `len` bytes now;
    /// gives it back, still claimed.
    fn checksum(&self, py: Python<'_>, held: DetachedWrite, len: usize) -> PyResult<DetachedWrite> {
        let done = self.with_inner(py, |inner| {
            let mut slot = inner.reattach(held)?;
            // `len` was checked against the slot by the setter.
            let sized = slot.set_len(len);
            slot.update_checksum();
            sized.map(|()| slot.detach())
        });
        match done {
            Some(done) => done.map_err(|e| to_pyerr(py, e)),
            None => Err(to_pyerr(py, self.closed_error())),
        }
    }

    /// Commits (`len`: the item's bytes, for raw bytes) or aborts `held`.
    /// `Closed` once the producer is closed (which aborted the slot).
    fn finish(&self, py: Python<'_>, held: DetachedWrite, commit: Option<usize>) -> PyResult<u64> {
        let seq = held.seq();
        let done = self.with_inner(py, |inner| {
            let mut slot = inner.reattach(held)?;
            if let Some(len) = commit {
                slot.set_len(len)?;
                slot.commit();
            }
            Ok(seq)
        });
        match done {
            Some(done) => done.map_err(|e| to_pyerr(py, e)),
            None => Err(to_pyerr(py, self.closed_error())),
        }
    }
}

impl Producer {
    /// `f`'s answer about the runtime's producer, its error (or `Closed`)
    /// made Python's once the lock is let go.
    fn ask<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Inner) -> Result<T, datahub::Error>,
    ) -> PyResult<T> {
        self.with_inner(py, f)
            .unwrap_or_else(|| Err(self.closed_error()))
            .map_err(|e| to_pyerr(py, e))
    }
}

/// Locks one of the small locks that are held only to read or write a
/// field, never across Python code or a wait: taken with the GIL held.
fn lock_plain<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[pymethods]
impl Producer {
    /// Creates channel `channel` of the TOML schema file `schema` (its only
    /// channel when not given) under the name `name` (the channel's by
    /// default): capacity, overflow, checksums, zones and the slot layout
    /// come from the schema. A channel whose producer died is taken over.
    #[staticmethod]
    #[pyo3(signature = (schema, channel=None, name=None))]
    fn create(
        py: Python<'_>,
        schema: std::path::PathBuf,
        channel: Option<&str>,
        name: Option<&str>,
    ) -> PyResult<Self> {
        let mut config = schema_config(py, &schema, channel)?;
        if let Some(name) = name {
            config = config.with_name(name);
        }
        let mut inner = py
            .detach(|| Inner::create(&config))
            .map_err(|e| to_pyerr(py, e))?;
        // Waits are cut into slices (`wait`): only a whole one that runs
        // out is a timeout.
        inner.set_timeouts_counted(false);
        let dtype = slot_dtype(py, inner.slot_layout())?;
        Ok(Self {
            name: config.name().to_owned(),
            kind: inner.slot_layout().kind(),
            checksum: inner.checksum_policy(),
            mapping: inner.mapping(),
            inner: Mutex::new(Some(inner)),
            dtype,
            slot: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            closing: AtomicBool::new(false),
        })
    }

    /// Claims the next slot, waiting up to `timeout` seconds (`None`: no
    /// limit) for room: a `WriteSlot` for a `with` block, which commits it
    /// on a clean exit and aborts it on an exception.
    #[pyo3(signature = (timeout=None))]
    fn acquire(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<WriteSlot> {
        let py = slf.py();
        let this = slf.get();
        let held = this.claim(py, timeout)?;
        let released = Released::default();
        *lock_plain(&this.slot) = Some(released.clone());
        Ok(WriteSlot {
            seq: held.seq(),
            len: Mutex::new(held.capacity()),
            producer: slf.clone().unbind(),
            held: Mutex::new(Some(held)),
            released,
            data: Mutex::new(None),
        })
    }

    /// Sends one item: a dict of fields (fields not given are zero), a
    /// numpy structured scalar or 0-d array of the slot's dtype, or bytes
    /// (exactly the slot's size for a typed channel, at most it for raw
    /// bytes). Waits up to `timeout` seconds for room; returns the item's
    /// sequence number. On a channel with manual checksums, the item's is
    /// recorded.
    #[pyo3(signature = (value, timeout=None))]
    fn send(
        slf: &Bound<'_, Self>,
        value: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<u64> {
        let py = slf.py();
        let slot = Self::acquire(slf, timeout)?;
        match slot.fill(py, value) {
            Ok(len) => {
                if slf.get().checksum == ChecksumPolicy::Manual {
                    slot.set_len(py, len)?;
                    slot.update_checksum(py)?;
                }
                slot.finish(py, Some(len))
            }
            Err(e) => {
                slot.finish(py, None)?;
                Err(e)
            }
        }
    }

    /// The lock-free zone `name`: its atomic fields by name.
    fn zone(&self, py: Python<'_>, name: &str) -> PyResult<Zone> {
        let zone = self.ask(py, |inner| inner.described_zone(name))?;
        Ok(Zone::new(zone))
    }

    /// The locked zone `name`: `with p.locked_zone("calibration") as z:`
    /// gives a writable numpy view of it while its lock is held.
    #[pyo3(signature = (name, timeout=None))]
    fn locked_zone(
        &self,
        py: Python<'_>,
        name: &str,
        timeout: Option<f64>,
    ) -> PyResult<LockedZone> {
        let zone = self.ask(py, |inner| inner.described_locked_zone(name))?;
        LockedZone::new(py, zone, self.mapping.clone(), timeout)
    }

    /// The channel's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The slot's numpy dtype (`uint8` for a raw-bytes channel).
    #[getter]
    fn dtype(&self, py: Python<'_>) -> Py<PyAny> {
        match &self.dtype {
            Some(dtype) => dtype.clone_ref(py).into_any(),
            None => numpy::dtype::<u8>(py).into_any().unbind(),
        }
    }

    /// The channel hash (slot type and zones), `dh1:...`.
    #[getter]
    fn schema_hash(&self, py: Python<'_>) -> PyResult<String> {
        self.ask(py, |inner| Ok(inner.channel_hash().to_string()))
    }

    /// Consumers attached now.
    #[getter]
    fn consumer_count(&self, py: Python<'_>) -> PyResult<usize> {
        self.ask(py, |inner| Ok(inner.consumer_count()))
    }

    /// The sequence number the next committed item will carry.
    #[getter]
    fn next_seq(&self, py: Python<'_>) -> PyResult<u64> {
        self.ask(py, |inner| Ok(inner.next_seq()))
    }

    /// Closes the channel: consumers read what was committed, then get
    /// `Closed`. A slot still acquired is aborted (its views raise, and
    /// committing it raises `Closed`); a wait in another thread ends with
    /// `Closed`.
    fn close(&self, py: Python<'_>) {
        self.closing.store(true, Ordering::Relaxed);
        let inner = wait::lock(py, &self.inner).take();
        if let Some(released) = lock_plain(&self.slot).take() {
            released.set();
        }
        py.detach(|| drop(inner));
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!("<datahub.Producer of channel {:?}>", self.name)
    }
}

/// A slot claimed for writing in place. `data` is a writable numpy view of
/// it (no copy); leaving its `with` block commits it (an exception aborts
/// it), as do `commit()` and `abort()`. Raw-bytes slots carry `len` bytes
/// (the whole slot unless set).
#[pyclass(module = "datahub._datahub", name = "WriteSlot", frozen)]
pub(crate) struct WriteSlot {
    producer: Py<Producer>,
    held: Mutex<Option<DetachedWrite>>,
    released: Released,
    seq: u64,
    len: Mutex<usize>,
    data: Mutex<Option<Py<PyAny>>>,
}

impl WriteSlot {
    fn stale(&self, py: Python<'_>) -> PyErr {
        to_pyerr(
            py,
            ErrorKind::Stale {
                channel: self.producer.get().name.clone(),
                what: format!("the write slot for item {}", self.seq),
                why: "it was committed or aborted".into(),
            }
            .into(),
        )
    }

    /// Commits (`Some(len)`) or aborts (`None`); `Stale` when done already.
    fn finish(&self, py: Python<'_>, commit: Option<usize>) -> PyResult<u64> {
        let Some(held) = wait::lock(py, &self.held).take() else {
            return Err(self.stale(py));
        };
        self.released.set();
        wait::lock(py, &self.data).take();
        self.producer.get().finish(py, held, commit)
    }

    fn view<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // Released by a close of the handle, though not given back yet.
        if self.released.get() {
            return Err(self.stale(py));
        }
        let mut data = wait::lock(py, &self.data);
        if let Some(data) = data.as_ref() {
            return Ok(data.bind(py).clone());
        }
        let held = wait::lock(py, &self.held);
        let Some(held) = held.as_ref() else {
            return Err(self.stale(py));
        };
        let producer = self.producer.get();
        let dtype = producer.dtype.as_ref().map(|d| d.bind(py));
        if let Some(dtype) = dtype
            && view::itemsize(dtype) > held.capacity()
        {
            return Err(self.stale(py));
        }
        let bytes = view::Bytes {
            start: held.as_ptr(),
            len: held.capacity(),
            writable: true,
            mapping: producer.mapping.clone(),
        };
        // The slot is claimed by our producer and out of its hands until
        // `finish`, which sets `released` first; no reader holds it; its
        // bytes lie in the mapping the guard keeps; the dtype is the
        // producer's own layout (size checked just above, alignment at
        // most 64, slots 64-aligned).
        // SAFETY: see `view::view`'s conditions, met as above.
        let view = unsafe {
            view::view(
                py,
                bytes,
                dtype,
                &self.released,
                format!(
                    "the write slot for item {} of channel `{}`",
                    self.seq, producer.name
                ),
            )
        }?;
        *data = Some(view.clone().unbind());
        Ok(view)
    }

    /// Writes `value` into the slot (see `Producer.send`); returns the
    /// item's length.
    fn fill(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<usize> {
        let producer = self.producer.get();
        let capacity = wait::lock(py, &self.held)
            .as_ref()
            .map(DetachedWrite::capacity)
            .ok_or_else(|| self.stale(py))?;
        let invalid = |problem: String| {
            to_pyerr(
                py,
                ErrorKind::InvalidArgument {
                    channel: producer.name.clone(),
                    problem,
                }
                .into(),
            )
        };
        if value.is_instance_of::<PyBytes>() || value.is_instance_of::<PyByteArray>() {
            let bytes: Vec<u8> = value.extract()?;
            if producer.kind == SlotKind::Typed && bytes.len() != capacity {
                return Err(invalid(format!(
                    "{} bytes for a typed slot of {capacity}: give exactly the slot's bytes, a dict \
                     of fields or a numpy value of the slot's dtype",
                    bytes.len()
                )));
            }
            if bytes.len() > capacity {
                return Err(to_pyerr(
                    py,
                    ErrorKind::PayloadTooLarge {
                        channel: producer.name.clone(),
                        len: bytes.len(),
                        max: capacity,
                    }
                    .into(),
                ));
            }
            let held = wait::lock(py, &self.held);
            let held = held.as_ref().ok_or_else(|| self.stale(py))?;
            // The slot is claimed and out of the producer's hands until
            // `finish` (which needs the lock we hold); `bytes` fits it.
            // SAFETY: `capacity >= bytes.len()` bytes of the mapping, ours.
            unsafe { view::write(held.as_ptr(), &bytes) };
            return Ok(bytes.len());
        }
        if producer.kind == SlotKind::Bytes {
            return Err(invalid(format!(
                "a {} for a raw-bytes slot: give bytes or a bytearray",
                value.get_type().name()?
            )));
        }
        let view = self.view(py)?;
        let plain = view.call_method1("view", (py.import("numpy")?.getattr("ndarray")?,))?;
        if let Ok(fields) = value.cast::<PyDict>() {
            // The slot holds an older item: fields a dict leaves out are zero.
            {
                let held = wait::lock(py, &self.held);
                let held = held.as_ref().ok_or_else(|| self.stale(py))?;
                // As for bytes above: the whole claimed slot is ours.
                // SAFETY: `capacity` bytes of the mapping, ours.
                unsafe { view::zero(held.as_ptr(), capacity) };
            }
            let names = plain.getattr("dtype")?.getattr("names")?;
            for (key, field) in fields.iter() {
                let known: bool = names.contains(&key)?;
                if !known {
                    return Err(invalid(format!(
                        "no field {key} in the slot type; its fields are {names}"
                    )));
                }
                plain
                    .get_item(&key)?
                    .call_method1("__setitem__", (pyo3::types::PyEllipsis::get(py), field))?;
            }
        } else {
            // A numpy value is taken only with the slot's dtype: numpy
            // would otherwise copy a scalar into every field, or fields of
            // another order by position.
            let dtype = plain.getattr("dtype")?;
            let same = match value.getattr("dtype") {
                Ok(theirs) => theirs.eq(&dtype)? && value.getattr("shape")?.len()? == 0,
                Err(_) => false,
            };
            if !same {
                return Err(invalid(format!(
                    "a {} for a slot of dtype {dtype}: give a dict of fields, bytes of the \
                     slot's size, or a numpy scalar or 0-d array of exactly that dtype",
                    value.get_type().name()?
                )));
            }
            plain.call_method1("__setitem__", ((), value))?;
        }
        Ok(capacity)
    }
}

#[pymethods]
impl WriteSlot {
    /// The sequence number the item will carry.
    #[getter]
    fn seq(&self) -> u64 {
        self.seq
    }

    /// A writable numpy view of the slot, no copy: a 0-d structured array
    /// of the slot's dtype (`slot.data["seq"] = 7`), or 1-D `uint8` of the
    /// whole slot for raw bytes. Raises `datahub.Released` once the slot is
    /// committed or aborted.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.view(py)
    }

    /// Bytes the item will carry (raw bytes: the whole slot unless set).
    #[getter]
    fn get_len(&self, py: Python<'_>) -> usize {
        *wait::lock(py, &self.len)
    }

    /// Sets how many bytes a raw-bytes item carries.
    #[setter]
    fn set_len(&self, py: Python<'_>, len: usize) -> PyResult<()> {
        let producer = self.producer.get();
        let capacity = wait::lock(py, &self.held)
            .as_ref()
            .map(DetachedWrite::capacity)
            .ok_or_else(|| self.stale(py))?;
        if producer.kind != SlotKind::Bytes && len != capacity {
            return Err(to_pyerr(
                py,
                ErrorKind::InvalidArgument {
                    channel: producer.name.clone(),
                    problem: format!(
                        "len {len} on a typed slot: its items are the whole slot ({capacity} bytes)"
                    ),
                }
                .into(),
            ));
        }
        if len > capacity {
            return Err(to_pyerr(
                py,
                ErrorKind::PayloadTooLarge {
                    channel: producer.name.clone(),
                    len,
                    max: capacity,
                }
                .into(),
            ));
        }
        *wait::lock(py, &self.len) = len;
        Ok(())
    }

    /// Records the item's checksum now, on a channel with manual checksums
    /// (enforced ones are recorded at commit; without, does nothing).
    fn update_checksum(&self, py: Python<'_>) -> PyResult<()> {
        let len = *wait::lock(py, &self.len);
        let mut held = wait::lock(py, &self.held);
        let Some(slot) = held.take() else {
            return Err(self.stale(py));
        };
        *held = Some(self.producer.get().checksum(py, slot, len)?);
        Ok(())
    }

    /// Publishes the item; returns its sequence number.
    fn commit(&self, py: Python<'_>) -> PyResult<u64> {
        let len = *wait::lock(py, &self.len);
        self.finish(py, Some(len))
    }

    /// Gives the slot back unpublished.
    fn abort(&self, py: Python<'_>) -> PyResult<()> {
        self.finish(py, None).map(drop)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Commits on a clean exit, aborts on an exception (which propagates).
    #[pyo3(signature = (exc_type, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        // Committed or aborted inside the block already: nothing to do.
        if wait::lock(py, &self.held).is_none() {
            return Ok(false);
        }
        match exc_type {
            Some(t) if !t.is_none() => self.abort(py)?,
            _ => drop(self.commit(py)?),
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "<datahub.WriteSlot for item {} of channel {:?}{}>",
            self.seq,
            self.producer.get().name,
            if self.released.get() { ", done" } else { "" }
        )
    }
}

impl Drop for WriteSlot {
    /// Garbage-collected unfinished: the slot is aborted, now if the
    /// producer's lock is free, else at the producer's next call (the
    /// collector may run inside a call that holds it).
    fn drop(&mut self) {
        let Some(held) = self.held.get_mut().ok().and_then(Option::take) else {
            return;
        };
        self.released.set();
        let producer = self.producer.get();
        match producer.inner.try_lock() {
            Ok(mut inner) => {
                if let Some(inner) = inner.as_mut() {
                    drop(inner.reattach(held));
                }
            }
            Err(TryLockError::Poisoned(inner)) => {
                if let Some(inner) = inner.into_inner().as_mut() {
                    drop(inner.reattach(held));
                }
            }
            Err(TryLockError::WouldBlock) => lock_plain(&producer.pending).push(held),
        }
    }
}
