//! numpy dtypes from canonical layouts (`docs/schema.md`, "Canonical form
//! and hashes"): the text `{SIZE/ALIGN:name:TYPE@OFFSET,...}` that a segment
//! stores for its slot type and zones is read with
//! `datahub_schema::canon::Canon::parse` and turned into the dtype whose
//! bytes are that layout, so a numpy view of a slot reads it in place.
//!
//! - a struct is a structured dtype with every field at its explicit
//!   offset and the struct's size as `itemsize` (trailing padding kept),
//!   nested structs as nested structured dtypes;
//! - `[T;N]` is a subarray `(T, (N,))`, nested arrays one subarray with a
//!   multi-dimensional shape (`[[f32;6];6]` is `(f32, (6, 6))`);
//! - primitives are little-endian numpy scalars (`u8` is `uint8`, `f64` is
//!   `<f8`); `atomic_*` are the same-width integers and floats (the zone
//!   objects read those fields with atomic loads and stores, but the dtype
//!   still has to say where they are).
//!
//! The text may come from a segment another process wrote: every problem
//! (malformed text, a field outside its struct, a size numpy cannot hold)
//! is an `InvalidArgument` (DH229), never a panic.

use numpy::PyArrayDescr;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use datahub_schema::Primitive;
use datahub_schema::canon::{Canon, CanonStruct};

use crate::errors::{Exc, code, new_err};

/// The numpy dtype of the type `canonical` describes: a structured dtype
/// for a struct, a subarray dtype for an array (`[f32;4]` is
/// `dtype(('<f4', (4,)))`), a scalar dtype for a primitive.
///
/// For a numpy view of a whole slot, [`view_layout`] says which dtype and
/// shape to give the array (numpy expands a subarray dtype into the
/// array's shape anyway).
pub(crate) fn dtype_of<'py>(
    py: Python<'py>,
    canonical: &str,
) -> PyResult<Bound<'py, PyArrayDescr>> {
    let canon = parse(py, canonical)?;
    descr(py, canonical, &canon)
}

/// What a numpy view of a whole slot of type `canonical` is: its element
/// dtype and its shape. A struct gives its structured dtype and shape `()`
/// (a 0-d array, whose fields index as `a["seq"]`); `[T;N]` gives `T`'s
/// dtype and `(N,)` (nested arrays: every dimension; a raw bytes slot,
/// `[u8;N]`, is a 1-D `uint8` array of `N`); a primitive gives its dtype
/// and `()`.
pub(crate) fn view_layout<'py>(
    py: Python<'py>,
    canonical: &str,
) -> PyResult<(Bound<'py, PyArrayDescr>, Vec<usize>)> {
    let canon = parse(py, canonical)?;
    let mut shape = Vec::new();
    let mut elem = &canon;
    while let Canon::Array { elem: inner, len } = elem {
        shape.push(dimension(py, canonical, *len)?);
        elem = inner;
    }
    Ok((descr(py, canonical, elem)?, shape))
}

fn parse(py: Python<'_>, canonical: &str) -> PyResult<Canon> {
    Canon::parse(canonical).ok_or_else(|| {
        bad_layout(
            py,
            canonical,
            "it is not a canonical form (`{SIZE/ALIGN:NAME:TYPE@OFFSET,...}`, `[TYPE;N]` or a \
             primitive such as `u32`)",
        )
    })
}

fn bad_layout(py: Python<'_>, canonical: &str, problem: &str) -> PyErr {
    // A segment's canonical form is short, but a caller's text may not be.
    const SHOWN: usize = 200;
    let shown = match canonical.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}...", &canonical[..cut]),
        None => canonical.to_owned(),
    };
    new_err(
        py,
        Exc::InvalidArgument,
        code::INVALID_ARGUMENT,
        format!(
            "cannot make a numpy dtype of the layout `{shown}`: {problem} (when the layout was read \
             from a segment, its producer is not DataHub's, or is newer than this binding)"
        ),
    )
}

fn dimension(py: Python<'_>, canonical: &str, len: u64) -> PyResult<usize> {
    usize::try_from(len)
        .ok()
        .filter(|len| isize::try_from(*len).is_ok())
        .ok_or_else(|| {
            bad_layout(
                py,
                canonical,
                &format!("an array of {len} elements is longer than numpy allows"),
            )
        })
}

fn descr<'py>(
    py: Python<'py>,
    canonical: &str,
    canon: &Canon,
) -> PyResult<Bound<'py, PyArrayDescr>> {
    let spec = spec(py, canonical, canon)?;
    PyArrayDescr::new(py, spec)
        .map_err(|numpy_said| bad_layout(py, canonical, &format!("numpy refused it: {numpy_said}")))
}

/// The argument of `numpy.dtype(...)` that describes `canon`.
fn spec<'py>(py: Python<'py>, canonical: &str, canon: &Canon) -> PyResult<Bound<'py, PyAny>> {
    match canon {
        Canon::Primitive(p) => match scalar(*p) {
            Some(text) => Ok(text.into_pyobject(py)?.into_any()),
            None => Err(bad_layout(
                py,
                canonical,
                &format!("this binding does not know the primitive `{}`", p.name()),
            )),
        },
        Canon::Array { .. } => {
            let mut shape = Vec::new();
            let mut elem = canon;
            while let Canon::Array { elem: inner, len } = elem {
                shape.push(dimension(py, canonical, *len)?);
                elem = inner;
            }
            let base = spec(py, canonical, elem)?;
            let shape = PyTuple::new(py, shape)?;
            Ok(PyTuple::new(py, [base, shape.into_any()])?.into_any())
        }
        Canon::Struct(s) => structured(py, canonical, s),
        // `Canon` is non-exhaustive: a kind of type this binding predates.
        _ => Err(bad_layout(
            py,
            canonical,
            "it holds a kind of type this binding does not know: update the binding",
        )),
    }
}

/// `{"names", "formats", "offsets", "itemsize"}` for a struct, after
/// checking what numpy would otherwise refuse with a less helpful message
/// (or accept wrongly): every field inside the struct, names distinct.
fn structured<'py>(
    py: Python<'py>,
    canonical: &str,
    s: &CanonStruct,
) -> PyResult<Bound<'py, PyAny>> {
    let itemsize = dimension(py, canonical, s.size)?;
    let mut names = Vec::with_capacity(s.fields.len());
    let formats = PyList::empty(py);
    let mut offsets = Vec::with_capacity(s.fields.len());
    for field in &s.fields {
        if names.contains(&field.name.as_str()) {
            return Err(bad_layout(
                py,
                canonical,
                &format!("field `{}` appears twice", field.name),
            ));
        }
        let end = field.offset.checked_add(field.ty.size());
        if end.is_none_or(|end| end > s.size) {
            return Err(bad_layout(
                py,
                canonical,
                &format!(
                    "field `{}` ({} bytes at offset {}) ends past the struct's {} bytes",
                    field.name,
                    field.ty.size(),
                    field.offset,
                    s.size
                ),
            ));
        }
        names.push(field.name.as_str());
        formats.append(spec(py, canonical, &field.ty)?)?;
        offsets.push(field.offset);
    }
    let dict = PyDict::new(py);
    dict.set_item("names", PyList::new(py, names)?)?;
    dict.set_item("formats", formats)?;
    dict.set_item("offsets", PyList::new(py, offsets)?)?;
    dict.set_item("itemsize", itemsize)?;
    Ok(dict.into_any())
}

/// The numpy spelling of a primitive: little-endian, atomics as the plain
/// number of their width.
fn scalar(p: Primitive) -> Option<&'static str> {
    use Primitive as P;
    Some(match p {
        P::U8 | P::AtomicU8 => "u1",
        P::U16 | P::AtomicU16 => "<u2",
        P::U32 | P::AtomicU32 => "<u4",
        P::U64 | P::AtomicU64 => "<u8",
        P::I8 | P::AtomicI8 => "i1",
        P::I16 | P::AtomicI16 => "<i2",
        P::I32 | P::AtomicI32 => "<i4",
        P::I64 | P::AtomicI64 => "<i8",
        P::F32 | P::AtomicF32 => "<f4",
        P::F64 | P::AtomicF64 => "<f8",
        // Non-exhaustive: a primitive added after this binding.
        _ => return None,
    })
}
