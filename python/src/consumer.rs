//! `datahub.Consumer` and the `datahub.Item`s it reads: each item holds its
//! slot (a detached read of the runtime's consumer) until it is released,
//! by leaving its `with` block, `release()`, taking the next item in a
//! `for` loop, or being garbage-collected; its `data` is a read-only numpy
//! view of the slot, no copy, that raises once the item is released.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock, TryLockError};
use std::time::Duration;

use datahub::{AttachOptions, Described, DetachedRead, ErrorKind, Start};
use numpy::PyArrayDescr;
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::errors::to_pyerr;
use crate::view::{self, Released};
use crate::wait;
use crate::zone::{LockedZone, Zone};

type Inner = datahub::Consumer<Described>;

/// A consumer of a DataHub channel, reading its items in place.
///
/// ```python
/// c = datahub.Consumer.attach("sensor_a", schema="schemas/sensor.toml", channel="sensor")
/// with c.next(timeout=1.0) as item:
///     print(item.seq, item.data["samples"].mean())
/// ```
#[pyclass(module = "datahub._datahub", name = "Consumer", frozen)]
pub(crate) struct Consumer {
    inner: RwLock<Option<Inner>>,
    name: String,
    /// The slot's numpy dtype; `None` for raw bytes (1-D `uint8` views).
    dtype: Option<Py<PyArrayDescr>>,
    mapping: datahub::Mapping,
    /// The item a `for` loop gave last, released when it takes the next.
    current: Mutex<Option<Py<Item>>>,
    /// The `released` flag of the item held now (one at a time), set by
    /// `close` so that its views raise.
    held: Mutex<Option<Released>>,
    /// Items the garbage collector dropped while `inner` was locked: given
    /// back at the next call. A plain lock, held only to push or take.
    pending: Mutex<Vec<DetachedRead>>,
    /// Set by `close`: a wait in another thread ends at its next slice.
    closing: AtomicBool,
}

impl Consumer {
    fn closed_error(&self) -> datahub::Error {
        ErrorKind::Closed {
            channel: self.name.clone(),
        }
        .into()
    }

    /// The runtime's consumer, or `Closed` once `close()` was called.
    /// Items the garbage collector dropped meanwhile are given back first.
    fn with<T>(&self, py: Python<'_>, f: impl FnOnce(&Inner) -> PyResult<T>) -> PyResult<T> {
        let inner = wait::read(py, &self.inner);
        match inner.as_ref() {
            Some(inner) => {
                let pending = std::mem::take(&mut *lock_plain(&self.pending));
                for held in pending {
                    drop(inner.reattach(held));
                }
                f(inner)
            }
            None => {
                drop(inner);
                Err(to_pyerr(py, self.closed_error()))
            }
        }
    }

    /// The wait of `next` (`next` true) or `latest` (`read`), sliced; ends
    /// with `Closed` when another thread closes the consumer.
    fn wait_for(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        next: bool,
        read: impl for<'a> Fn(
            &'a Inner,
            Duration,
        ) -> Result<datahub::ReadSlot<'a, Described>, datahub::Error>
        + Sync,
    ) -> PyResult<DetachedRead> {
        let waited = self.with(py, |inner| {
            // The next item, already there, is taken without releasing
            // the GIL.
            if next
                && let Ok(Some(item)) = inner.try_next().map(|i| i.map(datahub::ReadSlot::detach))
            {
                return Ok(Ok(item));
            }
            Ok(wait::sliced_rust(py, &self.name, timeout, |slice, _| {
                if self.closing.load(Ordering::Relaxed) {
                    return Err(self.closed_error());
                }
                read(inner, slice).map(datahub::ReadSlot::detach)
            }))
        })?;
        // The lock is let go: the error may become Python's now.
        waited.map_err(|e| match e {
            wait::Waited::Error(e) => to_pyerr(py, e),
            wait::Waited::Python(e) => e,
        })
    }

    fn item(slf: &Bound<'_, Self>, held: DetachedRead) -> PyResult<Py<Item>> {
        let released = Released::default();
        *lock_plain(&slf.get().held) = Some(released.clone());
        Py::new(
            slf.py(),
            Item {
                seq: held.seq(),
                lost_before: held.lost_before(),
                len: held.len(),
                consumer: slf.clone().unbind(),
                held: Mutex::new(Some(held)),
                released,
                data: Mutex::new(None),
            },
        )
    }

    /// Releases the item a `for` loop gave last, if any.
    fn release_current(&self, py: Python<'_>) -> PyResult<()> {
        let current = wait::lock(py, &self.current).take();
        match current {
            Some(item) => item.get().give_back(py),
            None => Ok(()),
        }
    }
}

#[pymethods]
impl Consumer {
    /// Attaches to channel `name`. With `schema` (a TOML schema file) the
    /// channel must be that schema's `channel` (the schema's only channel
    /// when not given), slot type and zones, else `SchemaMismatch` names
    /// the first differing field; without, the layout the channel records
    /// is used. `start` is "oldest" (the oldest item held) or "newest".
    /// Waits up to `timeout` seconds for the channel to appear.
    #[staticmethod]
    #[pyo3(signature = (name, schema=None, channel=None, start="oldest", timeout=2.0))]
    fn attach(
        py: Python<'_>,
        name: &str,
        schema: Option<std::path::PathBuf>,
        channel: Option<&str>,
        start: &str,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let start = match start {
            "oldest" => Start::Oldest,
            "newest" => Start::Newest,
            other => {
                return Err(to_pyerr(
                    py,
                    ErrorKind::InvalidArgument {
                        channel: name.to_owned(),
                        problem: format!("start {other:?}: expected \"oldest\" or \"newest\""),
                    }
                    .into(),
                ));
            }
        };
        let mut options = AttachOptions::default()
            .start(start)
            .ready_timeout(Duration::from_millis(50));
        if let Some(schema) = schema {
            let config = crate::producer::schema_config(py, &schema, channel)?;
            options = options.channel_hash(config.channel_hash::<Described>());
            if let Some(layout) = config.layout() {
                options = options.slot_layout(layout.clone());
            }
        }
        // A channel that is not there yet is waited for, as a timeout.
        let mut missing = false;
        let attached = wait::sliced_rust(py, name, timeout, |slice, _| {
            let deadline = std::time::Instant::now() + slice;
            loop {
                match Inner::attach_with(name, &options) {
                    Err(e)
                        if matches!(e.kind(), ErrorKind::NoSuchChannel { .. })
                            && std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::NoSuchChannel { .. }) => {
                        missing = true;
                        return Err(ErrorKind::Timeout {
                            channel: name.to_owned(),
                            waited: slice,
                            cause: "the channel does not exist (no producer created it)".into(),
                        }
                        .into());
                    }
                    other => {
                        missing = false;
                        return other;
                    }
                }
            }
        });
        let inner = match attached {
            Ok(inner) => inner,
            // A channel that never appeared is `NotFound`, not a timeout.
            Err(wait::Waited::Error(_)) if missing => {
                return Err(to_pyerr(
                    py,
                    ErrorKind::NoSuchChannel {
                        channel: name.to_owned(),
                    }
                    .into(),
                ));
            }
            Err(wait::Waited::Error(e)) => return Err(to_pyerr(py, e)),
            Err(wait::Waited::Python(e)) => return Err(e),
        };
        let dtype = crate::producer::slot_dtype(py, inner.slot_layout())?;
        Ok(Self {
            name: name.to_owned(),
            mapping: inner.mapping(),
            inner: RwLock::new(Some(inner)),
            dtype,
            current: Mutex::new(None),
            held: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            closing: AtomicBool::new(false),
        })
    }

    /// The next item in order, waiting up to `timeout` seconds (`None`: no
    /// limit) for it: an `Item` to use in a `with` block.
    #[pyo3(signature = (timeout=None))]
    fn next(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<Py<Item>> {
        let py = slf.py();
        let this = slf.get();
        this.release_current(py)?;
        let held = this.wait_for(py, timeout, true, |inner, slice| inner.next(slice))?;
        Self::item(slf, held)
    }

    /// The newest item (skipping older unread ones), waiting up to
    /// `timeout` seconds for one newer than the last read.
    #[pyo3(signature = (timeout=None))]
    fn latest(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<Py<Item>> {
        let py = slf.py();
        let this = slf.get();
        this.release_current(py)?;
        let held = this.wait_for(py, timeout, false, |inner, slice| inner.latest(slice))?;
        Self::item(slf, held)
    }

    /// The next item if one is there now, else `None`; never waits.
    fn try_next(slf: &Bound<'_, Self>) -> PyResult<Option<Py<Item>>> {
        let py = slf.py();
        let this = slf.get();
        this.release_current(py)?;
        let found = this.with(py, |inner| {
            Ok(inner
                .try_next()
                .map(|found| found.map(datahub::ReadSlot::detach)))
        })?;
        match found.map_err(|e| to_pyerr(py, e))? {
            Some(held) => Self::item(slf, held).map(Some),
            None => Ok(None),
        }
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next item of a `for` loop: the previous one is released first;
    /// the loop ends when the channel is closed and every item was read.
    fn __next__(slf: &Bound<'_, Self>) -> PyResult<Py<Item>> {
        let py = slf.py();
        let this = slf.get();
        match Self::next(slf, None) {
            Ok(item) => {
                *wait::lock(py, &this.current) = Some(item.clone_ref(py));
                Ok(item)
            }
            Err(e) if closed(py, &e) => Err(PyStopIteration::new_err(())),
            Err(e) => Err(e),
        }
    }

    /// The lock-free zone `name`: its atomic fields by name.
    fn zone(&self, py: Python<'_>, name: &str) -> PyResult<Zone> {
        self.with(py, |inner| {
            inner
                .described_zone(name)
                .map(Zone::new)
                .map_err(|e| to_pyerr(py, e))
        })
    }

    /// The locked zone `name`: `with c.locked_zone("calibration") as z:`
    /// gives a numpy view of it while its lock is held (waiting up to
    /// `timeout` seconds for the lock).
    #[pyo3(signature = (name, timeout=None))]
    fn locked_zone(
        &self,
        py: Python<'_>,
        name: &str,
        timeout: Option<f64>,
    ) -> PyResult<LockedZone> {
        self.with(py, |inner| {
            let zone = inner
                .described_locked_zone(name)
                .map_err(|e| to_pyerr(py, e))?;
            LockedZone::new(py, zone, inner.mapping(), timeout)
        })
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

    /// The channel hash the segment records (slot type and zones), `dh1:...`.
    #[getter]
    fn schema_hash(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |inner| Ok(inner.channel_hash().to_string()))
    }

    /// The slot type's canonical form (`[u8;N]` for raw bytes).
    #[getter]
    fn layout(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |inner| Ok(inner.slot_layout().canonical().to_owned()))
    }

    /// "typed" or "bytes".
    #[getter]
    fn kind(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.with(py, |inner| Ok(inner.slot_layout().kind().as_str()))
    }

    /// Bytes per slot.
    #[getter]
    fn slot_size(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |inner| Ok(inner.slot_size()))
    }

    /// Items lost so far (overwritten before they were read).
    #[getter]
    fn lost(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |inner| Ok(inner.lost()))
    }

    /// The sequence number of the next item `next()` returns.
    #[getter]
    fn position(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |inner| Ok(inner.position()))
    }

    /// Detaches from the channel: an item still held is released (its
    /// views raise), and a wait in another thread ends with `Closed`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.closing.store(true, Ordering::Relaxed);
        self.release_current(py)?;
        let inner = wait::write(py, &self.inner).take();
        if let Some(released) = lock_plain(&self.held).take() {
            released.set();
        }
        drop(inner);
        Ok(())
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<datahub.Consumer of channel {:?}>", self.name)
    }
}

/// Whether `e` is `datahub.Closed` (DH206): the end of a `for` loop.
fn closed(py: Python<'_>, e: &PyErr) -> bool {
    e.value(py)
        .getattr("code")
        .and_then(|code| code.extract::<u16>())
        .is_ok_and(|code| code == 206)
}

/// An item read from a channel, held in place until released: use it in a
/// `with` block, or call `release()`. `data` is a read-only numpy view of
/// the slot (no copy) that raises `datahub.Released` once the item is
/// released; `copy()` gives an owned copy that outlives it.
#[pyclass(module = "datahub._datahub", name = "Item", frozen)]
pub(crate) struct Item {
    consumer: Py<Consumer>,
    held: Mutex<Option<DetachedRead>>,
    released: Released,
    seq: u64,
    lost_before: u64,
    len: usize,
    /// `data`, once made.
    data: Mutex<Option<Py<PyAny>>>,
}

impl Item {
    /// Gives the slot back (idempotent).
    pub(crate) fn give_back(&self, py: Python<'_>) -> PyResult<()> {
        let Some(held) = wait::lock(py, &self.held).take() else {
            return Ok(());
        };
        // Views raise from now on, before the slot can be reused.
        self.released.set();
        wait::lock(py, &self.data).take();
        let consumer = self.consumer.get();
        let given = {
            let inner = wait::read(py, &consumer.inner);
            // Closed: leaving the channel released every item.
            inner.as_ref().map(|inner| inner.reattach(held).map(drop))
        };
        given.unwrap_or(Ok(())).map_err(|e| to_pyerr(py, e))
    }

    fn stale(&self, py: Python<'_>) -> PyErr {
        to_pyerr(
            py,
            ErrorKind::Stale {
                channel: self.consumer.get().name.clone(),
                what: format!("item {}", self.seq),
                why: "it was released: copy what you need (`item.copy()`) before".into(),
            }
            .into(),
        )
    }

    /// The view of the item, made once.
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
        let consumer = self.consumer.get();
        let dtype = consumer.dtype.as_ref().map(|d| d.bind(py));
        let bytes = view::Bytes {
            start: held.as_ptr().cast_mut(),
            len: held.len(),
            writable: false,
            mapping: consumer.mapping.clone(),
        };
        if let Some(dtype) = dtype
            && view::itemsize(dtype) > held.len()
        {
            return Err(self.stale(py));
        }
        // The item is held (its read mark keeps the producer off the slot)
        // until `release`, which sets `released` first; its bytes lie in
        // the mapping the guard keeps; the dtype came from the layout the
        // runtime checked against the slot (size and alignment, slots are
        // 64-aligned), and its itemsize was just checked; read-only.
        // SAFETY: see `view::view`'s conditions, met as above.
        let view = unsafe {
            view::view(
                py,
                bytes,
                dtype,
                &self.released,
                format!("item {} of channel `{}`", self.seq, consumer.name),
            )
        }?;
        *data = Some(view.clone().unbind());
        Ok(view)
    }
}

#[pymethods]
impl Item {
    /// The item's sequence number.
    #[getter]
    fn seq(&self) -> u64 {
        self.seq
    }

    /// Items lost (overwritten unread) just before this one.
    #[getter]
    fn lost_before(&self) -> u64 {
        self.lost_before
    }

    /// Whether the item was released.
    #[getter]
    fn released(&self) -> bool {
        self.released.get()
    }

    /// A read-only numpy view of the item, no copy: a 0-d structured array
    /// of the slot's dtype (`item.data["seq"]`), or 1-D `uint8` for raw
    /// bytes. Raises `datahub.Released` once the item is released.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.view(py)
    }

    /// An owned numpy copy of the item that outlives it.
    fn copy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let view = self.view(py)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("copy", true)?;
        kwargs.set_item("subok", false)?;
        py.import("numpy")?
            .call_method("array", (view,), Some(&kwargs))
    }

    /// The item's bytes, copied.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let held = wait::lock(py, &self.held);
        let Some(held) = held.as_ref().filter(|_| !self.released.get()) else {
            return Err(self.stale(py));
        };
        // Held until `release`, which needs this lock: see `view`.
        // SAFETY: `len` bytes of the mapping, not written while held.
        let bytes = unsafe { std::slice::from_raw_parts(held.as_ptr(), held.len()) };
        Ok(PyBytes::new(py, bytes))
    }

    /// Bytes of the item (the slot size for typed channels).
    fn __len__(&self) -> usize {
        self.len
    }

    /// Gives the slot back to the producer; `data` raises from now on.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.give_back(py)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.give_back(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "<datahub.Item {} of channel {:?}{}>",
            self.seq,
            self.consumer.get().name,
            if self.released.get() {
                ", released"
            } else {
                ""
            }
        )
    }
}

impl Drop for Item {
    /// Garbage-collected while held: the slot is given back, now if the
    /// consumer's lock is free, else at the consumer's next call (the
    /// collector may run inside a call that holds it).
    fn drop(&mut self) {
        let Some(held) = self.held.get_mut().ok().and_then(Option::take) else {
            return;
        };
        self.released.set();
        let consumer = self.consumer.get();
        match consumer.inner.try_read() {
            Ok(inner) => {
                if let Some(inner) = inner.as_ref() {
                    drop(inner.reattach(held));
                }
            }
            Err(TryLockError::Poisoned(inner)) => {
                if let Some(inner) = inner.into_inner().as_ref() {
                    drop(inner.reattach(held));
                }
            }
            Err(TryLockError::WouldBlock) => lock_plain(&consumer.pending).push(held),
        }
    }
}

/// Locks one of the small locks that are held only to read or write a
/// field, never across Python code or a wait: taken with the GIL held.
pub(crate) fn lock_plain<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
