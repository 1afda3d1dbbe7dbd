//! Everything an attacher checks before it trusts a byte of a segment, and
//! the plan of regions the creator follows (one function, so the two cannot
//! disagree).
//!
//! A segment's regions are fully determined by its parameters (capacity,
//! consumers, slot size, checksum policy, zone sizes, schema length).
//! Validation recomputes that plan with checked arithmetic and requires
//! every offset recorded in the header to equal it: a corrupted or hostile
//! header gets a [`Corrupt`] error naming the field, never an out-of-bounds
//! access.

use std::fmt;
use std::ops::Range;

use crate::segment::header::{
    HEADER_SIZE, IDENTITY_SIZE, Identity, LAYOUT_VERSION, MAGIC, MAX_CHANNEL_NAME_LEN,
    MAX_ZONE_NAME_LEN, MAX_ZONES, SLOTS_ALIGN, ZoneEntry,
};

/// Size of one slot state, checksum entry and consumer entry.
const SLOT_STATE_SIZE: u64 = 64;
const CHECKSUM_SIZE: u64 = 64;
const CONSUMER_SIZE: u64 = 128;
/// Regions other than the slots start on a cache line.
const REGION_ALIGN: u64 = 64;

/// Most slots in a ring (as in the schema crate).
pub(crate) const MAX_CAPACITY: u64 = datahub_schema::MAX_CAPACITY;
/// Most consumers of a channel.
pub(crate) const MAX_CONSUMERS: u64 = datahub_schema::MAX_CONSUMERS;
/// Largest segment DataHub creates or attaches (1 TiB): beyond, a header is
/// taken to be corrupt.
pub(crate) const MAX_SEGMENT_SIZE: u64 = datahub_schema::MAX_SEGMENT_SIZE;
/// Most bytes of canonical strings a segment stores: the slot type's and
/// each zone's, each at most 1 MiB (far above the schema crate's 32 KiB
/// limit: a derived type is bounded only by what rustc hashes in const),
/// with its 4-byte length. Every reader copies this region, so a header
/// claiming more is corrupt, however large its file (issue 14, defect 4).
pub(crate) const MAX_SCHEMA_LEN: u64 = (1 + MAX_ZONES as u64) * (4 + (1 << 20));

/// What a header says that cannot be true: the field, what validation
/// expected, and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corrupt {
    pub(crate) field: &'static str,
    pub(crate) expected: String,
    pub(crate) found: String,
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "header field `{}`: expected {}, found {}",
            self.field, self.expected, self.found
        )
    }
}

fn corrupt(field: &'static str, expected: impl fmt::Display, found: impl fmt::Display) -> Corrupt {
    Corrupt {
        field,
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

/// The parameters that determine a segment's regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Params {
    pub(crate) capacity: u64,
    pub(crate) max_consumers: u64,
    pub(crate) slot_size: u64,
    pub(crate) checksums: bool,
    pub(crate) schema_len: u64,
    /// Each zone's type size, in zone order.
    pub(crate) zone_sizes: Vec<u64>,
}

/// Where everything is, in bytes from the start of the segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Regions {
    pub(crate) total_size: u64,
    pub(crate) slot_stride: u64,
    pub(crate) schema: Range<u64>,
    pub(crate) slot_states: Range<u64>,
    pub(crate) checksums: Option<Range<u64>>,
    pub(crate) consumers: Range<u64>,
    /// Each zone's bytes (its type's size), in zone order.
    pub(crate) zones: Vec<Range<u64>>,
    /// The whole zones region (each zone rounded up to 64).
    pub(crate) zones_region: Range<u64>,
    pub(crate) slots: Range<u64>,
}

fn round_up(value: u64, align: u64) -> Option<u64> {
    Some(value.checked_add(align - 1)? / align * align)
}

/// A region of `len` bytes at the next multiple of `align` after `at`.
fn place(at: &mut u64, len: u64, align: u64) -> Option<Range<u64>> {
    let start = round_up(*at, align)?;
    let end = start.checked_add(len)?;
    *at = end;
    Some(start..end)
}

/// The regions of a segment with these parameters; `None` when they do not
/// fit in [`MAX_SEGMENT_SIZE`] (or in u64 at all).
pub(crate) fn plan(p: &Params) -> Option<Regions> {
    if p.schema_len > MAX_SCHEMA_LEN {
        return None;
    }
    let slot_stride = round_up(p.slot_size, REGION_ALIGN)?;
    let mut at = HEADER_SIZE;
    let schema = place(&mut at, p.schema_len, REGION_ALIGN)?;
    let slot_states = place(
        &mut at,
        p.capacity.checked_mul(SLOT_STATE_SIZE)?,
        REGION_ALIGN,
    )?;
    let checksums = match p.checksums {
        true => Some(place(
            &mut at,
            p.capacity.checked_mul(CHECKSUM_SIZE)?,
            REGION_ALIGN,
        )?),
        false => None,
    };
    let consumers = place(
        &mut at,
        p.max_consumers.checked_mul(CONSUMER_SIZE)?,
        REGION_ALIGN,
    )?;
    let zones_start = round_up(at, REGION_ALIGN)?;
    at = zones_start;
    let mut zones = Vec::with_capacity(p.zone_sizes.len());
    for &size in &p.zone_sizes {
        let zone = place(&mut at, size, REGION_ALIGN)?;
        at = round_up(zone.end, REGION_ALIGN)?;
        zones.push(zone);
    }
    let zones_region = zones_start..at;
    let slots = place(&mut at, p.capacity.checked_mul(slot_stride)?, SLOTS_ALIGN)?;
    let total_size = round_up(at, SLOTS_ALIGN)?;
    (total_size <= MAX_SEGMENT_SIZE).then_some(Regions {
        total_size,
        slot_stride,
        schema,
        slot_states,
        checksums,
        consumers,
        zones,
        zones_region,
        slots,
    })
}

/// Everything a creator writes into a new segment's identity.
#[derive(Debug, Clone)]
pub(crate) struct Blueprint<'a> {
    pub(crate) channel: &'a str,
    pub(crate) params: Params,
    /// 0 single, 1 double, 2 ring.
    pub(crate) policy: u8,
    /// 0 block, 1 overwrite.
    pub(crate) overflow: u8,
    /// 0 none, 1 manual, 2 enforced (non-zero iff `params.checksums`).
    pub(crate) checksum: u8,
    /// 0 typed, 1 bytes.
    pub(crate) slot_kind: u8,
    /// Each zone's name, whether it is locked, and its type hash (sizes are
    /// in `params.zone_sizes`).
    pub(crate) zones: Vec<(&'a str, bool, [u8; 32])>,
    pub(crate) channel_hash: [u8; 32],
    pub(crate) slot_hash: [u8; 32],
    /// The channel's secret; the header stores only its tag.
    pub(crate) secret: Option<crate::segment::seal::Key>,
    /// This incarnation's random nonce.
    pub(crate) nonce: [u8; 32],
    pub(crate) mode: u32,
    pub(crate) created_ns: u64,
    pub(crate) stall_timeout_ns: u64,
}

impl Blueprint<'_> {
    /// The identity to write and the regions it describes; `None` when the
    /// parameters do not fit (see [`plan`]).
    pub(crate) fn identity(&self) -> Option<(Identity, Regions)> {
        let regions = plan(&self.params)?;
        let mut id = Identity::zeroed();
        id.magic = MAGIC;
        id.layout_version = LAYOUT_VERSION;
        id.header_size = HEADER_SIZE as u32;
        id.total_size = regions.total_size;
        id.mode = self.mode;
        id.created_ns = self.created_ns;
        id.live_offset = IDENTITY_SIZE as u64;
        let name = self.channel.as_bytes();
        id.channel_name[..name.len().min(MAX_CHANNEL_NAME_LEN)]
            .copy_from_slice(&name[..name.len().min(MAX_CHANNEL_NAME_LEN)]);
        id.channel_hash = self.channel_hash;
        id.slot_hash = self.slot_hash;
        id.nonce = self.nonce;
        if let Some(key) = self.secret {
            let keying = crate::segment::seal::Keying {
                key,
                nonce: self.nonce,
            };
            id.secret_tag = crate::segment::seal::secret_tag(&keying, self.channel);
            id.has_secret = 1;
        }
        id.capacity = u32::try_from(self.params.capacity).ok()?;
        id.max_consumers = u32::try_from(self.params.max_consumers).ok()?;
        id.slot_size = self.params.slot_size;
        id.slot_stride = regions.slot_stride;
        id.stall_timeout_ns = self.stall_timeout_ns;
        id.policy = self.policy;
        id.overflow = self.overflow;
        id.checksum = self.checksum;
        id.slot_kind = self.slot_kind;
        id.zone_count = u32::try_from(self.zones.len()).ok()?;
        id.schema_offset = regions.schema.start;
        id.schema_len = self.params.schema_len;
        id.slot_states_offset = regions.slot_states.start;
        id.checksums_offset = regions.checksums.as_ref().map_or(0, |c| c.start);
        id.consumers_offset = regions.consumers.start;
        id.zones_offset = regions.zones_region.start;
        id.zones_len = regions.zones_region.end - regions.zones_region.start;
        id.slots_offset = regions.slots.start;
        for (i, ((zname, locked, hash), range)) in self.zones.iter().zip(&regions.zones).enumerate()
        {
            *id.zones.get_mut(i)? =
                ZoneEntry::new(zname, range.start, range.end - range.start, *locked, *hash);
        }
        Some((id, regions))
    }
}

/// The text of a NUL-padded name field, if it is one.
pub(crate) fn padded_name(bytes: &[u8]) -> Option<&str> {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    if bytes[len..].iter().any(|&b| b != 0) {
        return None;
    }
    std::str::from_utf8(&bytes[..len]).ok()
}

/// Checks an identity copied from a segment whose file is `file_len` bytes,
/// and returns where its regions are.
pub(crate) fn validate(id: &Identity, file_len: u64) -> Result<Regions, Corrupt> {
    if file_len < HEADER_SIZE {
        return Err(corrupt(
            "file size",
            format!("at least {HEADER_SIZE} bytes"),
            file_len,
        ));
    }
    if id.magic != MAGIC {
        return Err(corrupt(
            "magic",
            format!("{:?}", MAGIC),
            format!("{:?}", id.magic),
        ));
    }
    if id.layout_version != LAYOUT_VERSION {
        return Err(corrupt(
            "layout_version",
            format!("{LAYOUT_VERSION} (this build's layout)"),
            id.layout_version,
        ));
    }
    if u64::from(id.header_size) != HEADER_SIZE {
        return Err(corrupt("header_size", HEADER_SIZE, id.header_size));
    }
    if id.live_offset != IDENTITY_SIZE as u64 {
        return Err(corrupt("live_offset", IDENTITY_SIZE, id.live_offset));
    }
    if id.total_size != file_len {
        return Err(corrupt(
            "total_size",
            format!("the file's size, {file_len}"),
            id.total_size,
        ));
    }
    let name = padded_name(&id.channel_name).unwrap_or("");
    if name.is_empty()
        || name.len() > MAX_CHANNEL_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(corrupt(
            "channel_name",
            "1 to 63 ASCII letters, digits, `_` or `-`, NUL-padded",
            format!("{:?}", String::from_utf8_lossy(&id.channel_name)),
        ));
    }
    let capacity = u64::from(id.capacity);
    if capacity > MAX_CAPACITY {
        return Err(corrupt(
            "capacity",
            format!("0 (zones only) to {MAX_CAPACITY}"),
            capacity,
        ));
    }
    let max_consumers = u64::from(id.max_consumers);
    if !(1..=MAX_CONSUMERS).contains(&max_consumers) {
        return Err(corrupt(
            "max_consumers",
            format!("1 to {MAX_CONSUMERS}"),
            max_consumers,
        ));
    }
    let fixed = match id.policy {
        0 => Some(1),
        1 => Some(2),
        2 => None,
        other => {
            return Err(corrupt(
                "policy",
                "0 (single), 1 (double) or 2 (ring)",
                other,
            ));
        }
    };
    if let Some(fixed) = fixed
        && capacity != fixed
    {
        return Err(corrupt(
            "capacity",
            format!("{fixed} for this policy"),
            capacity,
        ));
    }
    for (field, value, max) in [
        ("overflow", id.overflow, 1),
        ("checksum", id.checksum, 2),
        ("has_secret", id.has_secret, 1),
        ("slot_kind", id.slot_kind, 1),
    ] {
        if value > max {
            return Err(corrupt(field, format!("0 to {max}"), value));
        }
    }
    if id.has_secret == 0 && id.secret_tag != [0; 32] {
        return Err(corrupt("secret_tag", "zeros when has_secret is 0", "a tag"));
    }
    if id.slot_size == 0 {
        return Err(corrupt("slot_size", "at least 1", 0));
    }
    if id.schema_len > MAX_SCHEMA_LEN {
        return Err(corrupt(
            "schema_len",
            format!("at most {MAX_SCHEMA_LEN} bytes of canonical strings"),
            id.schema_len,
        ));
    }
    let zone_count = id.zone_count as usize;
    if zone_count > MAX_ZONES {
        return Err(corrupt(
            "zone_count",
            format!("at most {MAX_ZONES}"),
            zone_count,
        ));
    }
    let zones = &id.zones[..zone_count];
    let mut names = Vec::with_capacity(zone_count);
    for z in zones {
        let zname = padded_name(&z.name).unwrap_or("");
        let valid = !zname.is_empty()
            && zname.len() <= MAX_ZONE_NAME_LEN
            && zname
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !zname.as_bytes()[0].is_ascii_digit();
        if !valid || names.contains(&zname) {
            return Err(corrupt(
                "zones[].name",
                "distinct identifiers of 1 to 31 bytes, NUL-padded",
                format!("{:?}", String::from_utf8_lossy(&z.name)),
            ));
        }
        names.push(zname);
        if z.locked > 1 {
            return Err(corrupt("zones[].locked", "0 or 1", z.locked));
        }
        if z.size == 0 {
            return Err(corrupt("zones[].size", "at least 1", 0));
        }
    }
    if id.zones[zone_count..]
        .iter()
        .any(|z| z.name != [0; 32] || z.size != 0 || z.offset != 0)
    {
        return Err(corrupt(
            "zones",
            format!("unused entries after the first {zone_count} to be zero"),
            "data",
        ));
    }

    let params = Params {
        capacity,
        max_consumers,
        slot_size: id.slot_size,
        checksums: id.checksum != 0,
        schema_len: id.schema_len,
        zone_sizes: zones.iter().map(|z| z.size).collect(),
    };
    let Some(plan) = plan(&params) else {
        return Err(corrupt(
            "sizes",
            format!("a segment of at most {MAX_SEGMENT_SIZE} bytes"),
            "sizes whose sum overflows or exceeds it",
        ));
    };
    let checks = [
        ("total_size", plan.total_size, id.total_size),
        ("slot_stride", plan.slot_stride, id.slot_stride),
        ("schema_offset", plan.schema.start, id.schema_offset),
        (
            "slot_states_offset",
            plan.slot_states.start,
            id.slot_states_offset,
        ),
        (
            "checksums_offset",
            plan.checksums.as_ref().map_or(0, |c| c.start),
            id.checksums_offset,
        ),
        (
            "consumers_offset",
            plan.consumers.start,
            id.consumers_offset,
        ),
        ("zones_offset", plan.zones_region.start, id.zones_offset),
        (
            "zones_len",
            plan.zones_region.end - plan.zones_region.start,
            id.zones_len,
        ),
        ("slots_offset", plan.slots.start, id.slots_offset),
    ];
    for (field, expected, found) in checks {
        if expected != found {
            return Err(corrupt(field, expected, found));
        }
    }
    for (z, planned) in zones.iter().zip(&plan.zones) {
        if z.offset != planned.start {
            return Err(corrupt("zones[].offset", planned.start, z.offset));
        }
    }
    Ok(plan)
}

#[cfg(all(test, not(datahub_loom)))]
mod tests;
