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
//! The macros never panic: every problem is a `syn::Error`.

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
#[proc_macro_derive(DataHubSlot)]
pub fn derive_data_hub_slot(input: TokenStream) -> TokenStream {
    derive(input, Kind::Slot)
}

/// Implements `datahub::DataHubType` and `datahub::DataHubZone` for a
/// `#[repr(C)]` struct of atomics, after checking its layout at compile
/// time. See the `datahub` crate.
#[proc_macro_derive(DataHubZone)]
pub fn derive_data_hub_zone(input: TokenStream) -> TokenStream {
    derive(input, Kind::Zone)
}

fn derive(input: TokenStream, kind: Kind) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(input) {
        Ok(input) => expand::expand(&input, kind).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
