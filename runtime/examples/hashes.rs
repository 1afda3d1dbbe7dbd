//! Derive a slot type and a zone type, and print the slot's schema hash and
//! the zone's canonical form.
//!
//! ```text
//! cargo run -p datahub --example hashes
//! ```

use datahub::{AtomicF64, DataHubSlot, DataHubType, DataHubZone};

/// A 2-D texture coordinate: plain data for a ring slot.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct V {
    u: f32,
    v: f32,
}

/// A lock-free zone of two atomic floats.
#[derive(DataHubZone)]
#[repr(C)]
struct L {
    e: [AtomicF64; 2],
}

/// The line this example prints.
pub(crate) fn line() -> String {
    format!(
        "{} {}",
        <V as DataHubType>::SCHEMA_HASH,
        datahub::canonical_of::<L>()
    )
}

fn main() {
    println!("{}", line());
}
