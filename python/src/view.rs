//! Numpy views onto shared memory: the one module of the bindings with
//! `unsafe`. A view is a `datahub._view.SlotArray` (an ndarray subclass
//! that checks, at each use, that what it shows is still held) whose numpy
//! base is a [`ViewGuard`]: the guard keeps the channel's memory mapped
//! (a [`datahub::Mapping`]) for as long as any view derived from it lives,
//! so no view ever reads unmapped memory, and it carries the `released`
//! flag that the slot, item or zone lock sets when it is let go.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use numpy::npyffi::{self, NPY_ARRAY_C_CONTIGUOUS, NPY_ARRAY_WRITEABLE, PY_ARRAY_API, npy_intp};
use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// The base object of every view of one slot, item or locked zone: keeps
/// its memory mapped and says whether it was released.
#[pyclass(module = "datahub._datahub", frozen)]
pub(crate) struct ViewGuard {
    _mapping: datahub::Mapping,
    released: Arc<AtomicBool>,
    what: String,
}

#[pymethods]
impl ViewGuard {
    /// Whether the slot, item or lock the views show was let go.
    #[getter]
    fn released(&self) -> bool {
        // Relaxed: set and read by threads that hold the GIL, which
        // orders them.
        self.released.load(Ordering::Relaxed)
    }

    /// What the views show, for error messages ("item 7 of channel `x`").
    #[getter]
    fn what(&self) -> &str {
        &self.what
    }
}

/// The `released` flag shared by a slot object and its views' guard.
#[derive(Clone, Default)]
pub(crate) struct Released(Arc<AtomicBool>);

impl Released {
    /// Marks it released: every view raises from now on.
    pub(crate) fn set(&self) {
        // Relaxed: see `ViewGuard::released`.
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether it was released.
    pub(crate) fn get(&self) -> bool {
        // Relaxed: see `ViewGuard::released`.
        self.0.load(Ordering::Relaxed)
    }
}

/// Where a view's bytes are, and what they may be used for.
pub(crate) struct Bytes {
    /// The first byte (inside the mapping `mapping` keeps).
    pub(crate) start: *mut u8,
    /// How many.
    pub(crate) len: usize,
    /// Whether the view may write them (a producer's slot, a locked zone).
    pub(crate) writable: bool,
    /// The mapping they lie in.
    pub(crate) mapping: datahub::Mapping,
}

/// `datahub._view.SlotArray`, the ndarray subclass of views.
fn slot_array_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    TYPE.import(py, "datahub._view", "SlotArray")
}

/// A view of `bytes`: a 0-d array of `dtype` (a typed slot or zone), or,
/// when `dtype` is `None`, a 1-D `uint8` array of `bytes.len` (raw bytes).
///
/// # Safety
///
/// `bytes.start` must point to `bytes.len` bytes inside the mapping
/// `bytes.mapping` holds, aligned for `dtype`, that stay held (a claimed
/// slot, an item read, a zone locked) until `released` is set; when
/// `bytes.writable`, nobody else may write them meanwhile. `dtype`'s
/// itemsize must be at most `bytes.len`.
pub(crate) unsafe fn view<'py>(
    py: Python<'py>,
    bytes: Bytes,
    dtype: Option<&Bound<'py, PyArrayDescr>>,
    released: &Released,
    what: String,
) -> PyResult<Bound<'py, PyAny>> {
    let guard = Bound::new(
        py,
        ViewGuard {
            _mapping: bytes.mapping.clone(),
            released: Arc::clone(&released.0),
            what,
        },
    )?;
    let subtype = slot_array_type(py)?;
    let (descr, nd, mut dims) = match dtype {
        Some(dtype) => (dtype.clone(), 0, [0 as npy_intp]),
        None => (
            numpy::dtype::<u8>(py),
            1,
            [npy_intp::try_from(bytes.len).unwrap_or(npy_intp::MAX)],
        ),
    };
    let flags = if bytes.writable {
        NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_WRITEABLE
    } else {
        NPY_ARRAY_C_CONTIGUOUS
    };
    // The caller vouches for the bytes (see `# Safety`); numpy takes the
    // descriptor's reference (`into_dtype_ptr` gives one) and reads the
    // dims during the call only; the type object is an ndarray subclass.
    // SAFETY: a valid subtype, descriptor, dims and data for the call.
    let array = unsafe {
        PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            subtype.as_ptr().cast(),
            descr.into_dtype_ptr(),
            nd,
            dims.as_mut_ptr(),
            ptr::null_mut(),
            bytes.start.cast::<c_void>(),
            flags,
            ptr::null_mut(),
        )
    };
    // SAFETY: `array` is a new reference or null with an exception set.
    let array = unsafe { Bound::from_owned_ptr_or_err(py, array) }?;
    // numpy steals the guard's reference, on failure too (it drops it).
    // SAFETY: `array` is an ndarray and the guard a live object.
    let status = unsafe {
        PY_ARRAY_API.PyArray_SetBaseObject(
            py,
            array.as_ptr().cast::<npyffi::PyArrayObject>(),
            guard.clone().into_ptr(),
        )
    };
    if status < 0 {
        return Err(PyErr::fetch(py));
    }
    array.setattr("_dh_owner", guard)?;
    Ok(array)
}

/// The itemsize of `dtype`, to check it against the bytes it will view.
pub(crate) fn itemsize(dtype: &Bound<'_, PyArrayDescr>) -> usize {
    dtype.itemsize()
}

/// Copies `src` to `dst`.
///
/// # Safety
///
/// `dst` must be valid for `src.len()` bytes of writes that nobody else
/// reads or writes meanwhile (a claimed slot).
pub(crate) unsafe fn write(dst: *mut u8, src: &[u8]) {
    // SAFETY: the caller's conditions; `src` is a distinct Rust buffer.
    unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
}

/// Zeroes `len` bytes at `dst`.
///
/// # Safety
///
/// As for [`write`], for `len` bytes.
pub(crate) unsafe fn zero(dst: *mut u8, len: usize) {
    // SAFETY: the caller's conditions.
    unsafe { ptr::write_bytes(dst, 0, len) };
}
