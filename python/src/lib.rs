//! `datahub._datahub`: the extension module under the Python package
//! `datahub` (`python/python/datahub/__init__.py` re-exports it). It wraps
//! the Rust runtime; it does not re-implement the protocol.
//!
//! - `errors.rs`: the exception hierarchy and the conversions every other
//!   module raises through (`to_pyerr`, `schema_err`, `new_err`).
//! - `dtype.rs`: numpy dtypes from the canonical layouts segments store.
//! - `inspect.rs`: `inspect`, `list_channels`, `cleanup`.
//! - `schema.rs`: loading schema files; `schema_hash`, `describe_schema`.
//! - `producer.rs`: `Producer` and its `WriteSlot`s; `consumer.rs`:
//!   `Consumer` and its `Item`s; `zone.rs`: `Zone` and `LockedZone`.
//! - `view.rs`: numpy views onto shared memory (the one module with
//!   `unsafe`); `wait.rs`: waits with the GIL released and Ctrl-C heard.
//!
//! Built by maturin (`python/pyproject.toml`) as an abi3 wheel for
//! CPython >= 3.9; `scripts/test` builds it into a virtual environment and
//! runs `python/tests`.

use numpy::PyArrayDescr;
use pyo3::prelude::*;

mod dtype;
mod errors;
mod inspect;
mod schema;

mod consumer;
mod producer;
mod view;
mod wait;
mod zone;

/// The numpy dtype of the layout `canonical` (a canonical form, as a
/// segment stores it and `datahub-codegen hash --json` prints it): a
/// structured dtype with explicit offsets and itemsize for a struct
/// (nested structs nested, arrays as subarrays, `atomic_*` fields as the
/// plain number of their width), a subarray dtype for `[T;N]`, a scalar
/// dtype for a primitive. Raises `InvalidArgument` (DH229) for a text that
/// is not a canonical form.
#[pyfunction]
#[pyo3(name = "dtype_of", signature = (canonical))]
fn py_dtype_of<'py>(py: Python<'py>, canonical: &str) -> PyResult<Bound<'py, PyArrayDescr>> {
    dtype::dtype_of(py, canonical)
}

/// `(dtype, shape)` of a numpy view of a whole slot of layout `canonical`:
/// a struct is a 0-d array of its dtype, `[T;N]` an array of `T` of shape
/// `(N,)` (nested arrays: every dimension). For tests and tools.
#[pyfunction]
#[pyo3(name = "_view_layout", signature = (canonical))]
fn py_view_layout<'py>(
    py: Python<'py>,
    canonical: &str,
) -> PyResult<(Bound<'py, PyArrayDescr>, Vec<usize>)> {
    dtype::view_layout(py, canonical)
}

/// DataHub's extension module (Rust): import the package `datahub`, which
/// re-exports it.
#[pymodule]
fn _datahub(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(inspect::inspect, m)?)?;
    m.add_function(wrap_pyfunction!(inspect::list_channels, m)?)?;
    m.add_function(wrap_pyfunction!(inspect::cleanup, m)?)?;
    m.add_function(wrap_pyfunction!(schema::schema_hash, m)?)?;
    m.add_function(wrap_pyfunction!(schema::describe_schema, m)?)?;
    m.add_function(wrap_pyfunction!(py_dtype_of, m)?)?;
    m.add_function(wrap_pyfunction!(py_view_layout, m)?)?;

    m.add_class::<producer::Producer>()?;
    m.add_class::<producer::WriteSlot>()?;
    m.add_class::<consumer::Consumer>()?;
    m.add_class::<consumer::Item>()?;
    m.add_class::<zone::Zone>()?;
    m.add_class::<zone::LockedZone>()?;
    m.add_class::<view::ViewGuard>()?;
    Ok(())
}
