//! Derive macros `DataHubSlot` and `DataHubZone` for the `datahub` crate.
//!
//! Use them through `datahub` (feature `derive`, on by default), which
//! re-exports each under the name of its trait:
//!
//! ```text
//! use datahub::{AtomicF64, DataHubSlot, DataHubZone};
//!
//! #[derive(Clone, Copy, DataHubSlot)]
//! #[repr(C)]
//! struct V { u: f32, v: f32 }
//!
//! #[derive(DataHubZone)]
//! #[repr(C)]
//! struct L { e: [AtomicF64; 2] }
//! ```
//!
//! Each derive checks, and reports all at once with spans on the offending
//! tokens: the input is a non-generic struct with named fields and
//! `#[repr(C)]` (no `packed`, no `align`); every field has an allowed type
//! (plain data for a slot, atomics for a zone); and rustc's layout has no
//! implicit padding, between fields or at the end. The checks are free
//! `const` items, so `cargo check` reports them. It then implements
//! `datahub::DataHubType` (a `const` descriptor built with `offset_of!`,
//! from which rustc computes the schema hash) and the marker trait.
//!
//! The expansion names the `datahub` crate as `::datahub`, or as the path
//! given by `#[datahub(crate = "...")]` on the struct (for a renamed
//! dependency or a re-export), and everything else by absolute paths
//! (`::core::...`), so it compiles under `#![no_implicit_prelude]` too.
//!
//! The macros never panic: every problem is a `syn::Error`.

mod attr;
mod check;
mod expand;
mod field_type;

use proc_macro::TokenStream;

/// Which derive is running: the kind of struct it accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Plain data for ring slots and locked zones.
    Slot,
    /// Atomics only, for lock-free zones.
    Zone,
}

impl Kind {
    /// The derive's (and trait's) name.
    fn name(self) -> &'static str {
        match self {
            Kind::Slot => "DataHubSlot",
            Kind::Zone => "DataHubZone",
        }
    }
}

/// Implements `datahub::DataHubType` and `datahub::DataHubSlot` for a
/// `#[repr(C)]` struct of plain data, after checking its layout at compile
/// time. See the `datahub` crate.
///
/// # `#[datahub(crate = "...")]`
///
/// The generated code names the `datahub` crate `::datahub`. A crate that
/// renamed the dependency (`dh = { package = "datahub", .. }`, then
/// `crate = "::dh"`) or reaches it through a re-export gives the path on the
/// struct, as with serde's `#[serde(crate = "...")]`:
///
/// ```
/// // A crate that hands datahub to its users as `sdk::datahub`.
/// mod sdk {
///     pub use datahub;
/// }
///
/// #[derive(Clone, Copy, sdk::datahub::DataHubSlot)]
/// #[datahub(crate = "sdk::datahub")]
/// #[repr(C)]
/// struct V {
///     u: f32,
///     v: f32,
/// }
///
/// assert_eq!(sdk::datahub::canonical_of::<V>(), "{8/4:u:f32@0,v:f32@4}");
/// ```
///
/// The path is written where the struct is, so it may be relative to that
/// module. `DataHubZone` takes the same attribute.
#[proc_macro_derive(DataHubSlot, attributes(datahub))]
pub fn derive_data_hub_slot(input: TokenStream) -> TokenStream {
    derive(input, Kind::Slot)
}

/// Implements `datahub::DataHubType` and `datahub::DataHubZone` for a
/// `#[repr(C)]` struct of atomics, after checking its layout at compile
/// time. See the `datahub` crate.
///
/// `#[datahub(crate = "...")]` names the `datahub` crate as for
/// [`DataHubSlot`](derive@DataHubSlot):
///
/// ```
/// use datahub as dh;
///
/// #[derive(dh::DataHubZone)]
/// #[datahub(crate = "dh")]
/// #[repr(C)]
/// struct Telemetry {
///     frames: core::sync::atomic::AtomicU64,
///     rate: dh::AtomicF64,
/// }
///
/// assert_eq!(dh::canonical_of::<Telemetry>(), "{16/8:frames:atomic_u64@0,rate:atomic_f64@8}");
/// ```
#[proc_macro_derive(DataHubZone, attributes(datahub))]
pub fn derive_data_hub_zone(input: TokenStream) -> TokenStream {
    derive(input, Kind::Zone)
}

fn derive(input: TokenStream, kind: Kind) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(input) {
        Ok(input) => expand::expand(&input, kind).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
