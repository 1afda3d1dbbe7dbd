//! The size of a channel's shared-memory segment, so that the checker can
//! refuse a channel the runtime could never create (`docs/layout.md`).
//!
//! This is the runtime's plan of regions (`runtime/src/segment/validate.rs`,
//! `plan`) reduced to its total; a test of the runtime compares the two.

/// What determines a segment's size.
pub(crate) struct SegmentParams<'a> {
    pub(crate) capacity: u64,
    pub(crate) max_consumers: u64,
    /// The slot type's size (`slot_size` for raw bytes).
    pub(crate) slot_size: u64,
    /// Whether slots have checksums (`checksum` is not `none`).
    pub(crate) checksums: bool,
    /// Bytes of the canonical strings stored after the header: a 4-byte
    /// length and the string, for the slot and each zone.
    pub(crate) strings_len: u64,
    /// Each zone's type size, in zone order.
    pub(crate) zone_sizes: &'a [u64],
}

/// The header, one page.
const HEADER_SIZE: u64 = 4096;
/// Slot states, checksum entries: one cache line each.
const SLOT_STATE_SIZE: u64 = 64;
const CHECKSUM_SIZE: u64 = 64;
/// A consumer's entry: two cache lines.
const CONSUMER_SIZE: u64 = 128;
/// Regions other than the slots start on a cache line, the slots on a page.
const REGION_ALIGN: u64 = 64;
const SLOTS_ALIGN: u64 = 4096;

fn round_up(value: u64, align: u64) -> Option<u64> {
    Some(value.checked_add(align - 1)? / align * align)
}

/// Places `len` bytes at the next multiple of `align` after `at`.
fn place(at: &mut u64, len: u64, align: u64) -> Option<()> {
    *at = round_up(*at, align)?.checked_add(len)?;
    Some(())
}

/// The segment's size in bytes; `None` when it does not fit in a u64.
pub(crate) fn segment_size(p: &SegmentParams<'_>) -> Option<u64> {
    let slot_stride = round_up(p.slot_size, REGION_ALIGN)?;
    let mut at = HEADER_SIZE;
    place(&mut at, p.strings_len, REGION_ALIGN)?;
    place(
        &mut at,
        p.capacity.checked_mul(SLOT_STATE_SIZE)?,
        REGION_ALIGN,
    )?;
    if p.checksums {
        place(
            &mut at,
            p.capacity.checked_mul(CHECKSUM_SIZE)?,
            REGION_ALIGN,
        )?;
    }
    place(
        &mut at,
        p.max_consumers.checked_mul(CONSUMER_SIZE)?,
        REGION_ALIGN,
    )?;
    at = round_up(at, REGION_ALIGN)?;
    for &size in p.zone_sizes {
        place(&mut at, size, REGION_ALIGN)?;
        at = round_up(at, REGION_ALIGN)?;
    }
    place(&mut at, p.capacity.checked_mul(slot_stride)?, SLOTS_ALIGN)?;
    round_up(at, SLOTS_ALIGN)
}
