//! Zones whose type is known only at run time, from the canonical form the
//! segment records: what the Python and C bindings open by name.
//! [`DescribedZone`] reads and writes a lock-free zone's atomics by field
//! name; [`DescribedLockedZone`] gives a locked zone's bytes under its lock.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64};

use datahub_schema::Primitive;
use datahub_schema::canon::Canon;

use super::handle::{find, lock, unlock};
use crate::backoff::Wait;
use crate::error::{Error, ErrorKind};
use crate::segment::os;
use crate::segment::shm::Segment;
use crate::types::SchemaHash;

/// A zone's bytes and parsed type, checked against the segment.
struct Opened {
    index: usize,
    start: NonNull<u8>,
    len: usize,
    canon: Canon,
}

/// Opens zone `name` of the expected kind: its recorded canonical form
/// must parse, hash to its recorded type hash and have its size, since
/// views are built from it.
fn open(segment: &Segment, name: &str, locked: bool) -> Result<Opened, Error> {
    let index = find(segment, name, locked)?;
    let channel = segment.channel();
    let canonical = segment
        .schema()
        .zones
        .get(index)
        .cloned()
        .unwrap_or_default();
    let recorded = SchemaHash::from_bytes(segment.identity().zones[index].type_hash);
    let (start, len) = segment.zone_bytes(index);
    let canon = Canon::parse(&canonical)
        .filter(|c| c.size() == len && SchemaHash::of_type_canon(&canonical) == recorded);
    let (Some(canon), Ok(len), Some(start)) = (canon, usize::try_from(len), NonNull::new(start))
    else {
        return Err(ErrorKind::CorruptSegment {
            channel: channel.to_owned(),
            field: "schema.zones[]",
            expected: format!(
                "zone `{name}`'s canonical form, hashing to its type hash, of its {len} bytes"
            ),
            found: format!("`{canonical}`"),
        }
        .into());
    };
    Ok(Opened {
        index,
        start,
        len,
        canon,
    })
}

/// A number read from or written to a zone's atomic field.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A signed integer field's value.
    Int(i64),
    /// An unsigned integer field's value.
    UInt(u64),
    /// An `atomic_f32` or `atomic_f64` field's value.
    Float(f64),
}

/// An atomic field of a zone: where it is and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneField {
    offset: usize,
    prim: Primitive,
}

impl ZoneField {
    /// Offset from the zone's first byte.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Its type (an `atomic_*` primitive).
    pub fn primitive(&self) -> Primitive {
        self.prim
    }
}

/// Runs `$body` with `$a` the atomic of `$field` (of `$zone`), of the
/// field's width, and `$int` that width's unsigned integer type.
macro_rules! at_width {
    ($zone:expr, $field:expr, |$a:ident, $int:ident| $body:expr) => {
        match $field.prim.size() {
            1 => at_width!(@arm $zone, $field, AtomicU8, u8, $a, $int, $body),
            2 => at_width!(@arm $zone, $field, AtomicU16, u16, $a, $int, $body),
            4 => at_width!(@arm $zone, $field, AtomicU32, u32, $a, $int, $body),
            _ => at_width!(@arm $zone, $field, AtomicU64, u64, $a, $int, $body),
        }
    };
    (@arm $zone:expr, $field:expr, $atomic:ty, $ty:ty, $a:ident, $int:ident, $body:expr) => {{
        #[allow(dead_code)]
        type $int = $ty;
        let ptr = $zone.start.as_ptr().wrapping_add($field.offset).cast::<$ty>();
        // `field` checked that the field lies inside the zone, aligned to
        // its size; the zone lies in the mapping the handle keeps alive;
        // every process reaches a lock-free zone's fields only atomically.
        // SAFETY: valid, aligned, and only accessed atomically.
        let $a = unsafe { <$atomic>::from_ptr(ptr) };
        // `u64::from` widens every width but the widest.
        #[allow(clippy::useless_conversion)]
        let result = $body;
        result
    }};
}

/// A lock-free zone opened by name, its type taken from the segment: its
/// atomic fields are read and written by name (`"frame_count"`,
/// `"motor.speed"`, `"counts[3]"`).
///
/// ```
/// use datahub::{ChannelConfig, Described, Producer, Value};
///
/// # let name = format!("doc-described-zone-{}", std::process::id());
/// let cfg = ChannelConfig::from_schema_file("../schemas/sensor.toml", "sensor")?.with_name(&name);
/// let p = Producer::<Described>::create(&cfg)?;
/// let tel = p.described_zone("telemetry")?;
/// tel.store("state", Value::UInt(3))?;
/// assert_eq!(tel.fetch_add("frame_count", Value::UInt(2))?, Value::UInt(0));
/// tel.store("fps", Value::Float(29.5))?;
/// assert_eq!(tel.load("fps")?, Value::Float(29.5));
/// assert!(tel.load("nope").is_err());
/// # Ok::<(), datahub::Error>(())
/// ```
pub struct DescribedZone {
    segment: Arc<Segment>,
    index: usize,
    start: NonNull<u8>,
    len: usize,
    canon: Canon,
}

impl DescribedZone {
    pub(crate) fn open(segment: &Arc<Segment>, name: &str) -> Result<Self, Error> {
        let opened = open(segment, name, false)?;
        Ok(Self {
            segment: Arc::clone(segment),
            index: opened.index,
            start: opened.start,
            len: opened.len,
            canon: opened.canon,
        })
    }

    /// The zone's name.
    pub fn name(&self) -> &str {
        self.segment.zone_names().nth(self.index).unwrap_or("")
    }

    /// The zone type's canonical form, as the segment records it.
    pub fn canonical(&self) -> String {
        self.canon.to_string()
    }

    /// Bytes of the zone.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the zone has no bytes (never: a zone type has a field).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The zone's first byte, for a binding that hands the zone to code of
    /// its own (C): `len()` bytes of atomics, mapped while this handle (or
    /// a [`Mapping`](crate::Mapping)) lives, to be accessed atomically only.
    pub fn as_ptr(&self) -> *const u8 {
        self.start.as_ptr()
    }

    /// The paths of every atomic field, in offset order (array elements
    /// as `name[i]`, nested fields as `outer.inner`).
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        leaves(&self.canon, String::new(), &mut out);
        out
    }

    /// Finds the atomic field at `path`.
    pub fn field(&self, path: &str) -> Result<ZoneField, Error> {
        let wrong = |problem: String| -> Error {
            ErrorKind::WrongZone {
                channel: self.segment.channel().to_owned(),
                zone: self.name().to_owned(),
                problem,
            }
            .into()
        };
        let (offset, prim) = resolve(&self.canon, path).map_err(|why| {
            wrong(format!(
                "no atomic field `{path}` ({why}); its fields are {}",
                self.fields().join(", ")
            ))
        })?;
        let size = prim.size() as usize;
        // The offsets come from the segment: a field must be aligned and
        // inside the zone before an atomic is made of it.
        let fits = usize::try_from(offset)
            .ok()
            .filter(|&o| o % size == 0 && o.checked_add(size).is_some_and(|end| end <= self.len));
        let Some(offset) = fits else {
            return Err(ErrorKind::CorruptSegment {
                channel: self.segment.channel().to_owned(),
                field: "schema.zones[]",
                expected: format!(
                    "field `{path}` aligned to {size} inside the zone's {} bytes",
                    self.len
                ),
                found: format!("offset {offset}"),
            }
            .into());
        };
        if !prim.is_atomic() {
            return Err(wrong(format!(
                "field `{path}` is `{}`, not an atomic: a lock-free zone is read through atomics",
                prim.name()
            )));
        }
        Ok(ZoneField { offset, prim })
    }

    /// The value of the atomic field at `path`.
    pub fn load(&self, path: &str) -> Result<Value, Error> {
        let field = self.field(path)?;
        // Acquire: pairs with the Release (or AcqRel) of the store that
        // wrote it, in any process: what that thread wrote before is seen.
        Ok(decode(
            field.prim,
            at_width!(self, field, |a, Int| u64::from(a.load(Acquire))),
        ))
    }

    /// Stores `value` in the atomic field at `path`. Fails with
    /// [`ErrorKind::InvalidArgument`] when the field's type cannot hold it
    /// (out of range, or a fraction for an integer field).
    pub fn store(&self, path: &str, value: Value) -> Result<(), Error> {
        let field = self.field(path)?;
        let bits = self.encode(path, field.prim, value)?;
        // Release: pairs with the Acquire of `load` (in any process).
        // Truncation: `encode` gave bits of the field's width.
        at_width!(self, field, |a, Int| a.store(bits as Int, Release));
        Ok(())
    }

    /// Adds `delta` to the atomic field at `path` (integers wrap, as
    /// `fetch_add` does; a negative delta subtracts); returns the value
    /// before.
    pub fn fetch_add(&self, path: &str, delta: Value) -> Result<Value, Error> {
        let field = self.field(path)?;
        if matches!(field.prim, Primitive::AtomicF32 | Primitive::AtomicF64) {
            let delta = match delta {
                Value::Int(v) => v as f64,
                Value::UInt(v) => v as f64,
                Value::Float(v) => v,
            };
            // Acquire: as in `load`; the loop's AcqRel CAS pairs with the
            // other writers as `store`'s Release and `load`'s Acquire do.
            let mut current = at_width!(self, field, |a, Int| u64::from(a.load(Acquire)));
            loop {
                let before = match decode(field.prim, current) {
                    Value::Float(v) => v,
                    _ => 0.0,
                };
                let new = self.encode(path, field.prim, Value::Float(before + delta))?;
                let swapped = at_width!(self, field, |a, Int| a
                    .compare_exchange(current as Int, new as Int, AcqRel, Acquire)
                    .map(u64::from)
                    .map_err(u64::from));
                match swapped {
                    Ok(_) => return Ok(Value::Float(before)),
                    Err(now) => current = now,
                }
            }
        }
        // A delta beyond the field's width would be cut to its low bits
        // (256 added to a `u8` adds 0): refused, as `store` refuses it.
        let bits = 8 * field.prim.size() as u32;
        let limit = (1i128 << bits) - 1;
        let wide = match delta {
            Value::Int(v) => Some(i128::from(v)),
            Value::UInt(v) => Some(i128::from(v)),
            Value::Float(_) => None,
        };
        if wide.is_some_and(|v| !(-limit..=limit).contains(&v)) {
            return Err(self.invalid(format!(
                "field `{path}` is `{}`, to which {delta:?} cannot be added",
                field.prim.name()
            )));
        }
        let delta = match delta {
            // Two's complement: adding a negative delta subtracts.
            Value::Int(v) => v as u64,
            Value::UInt(v) => v,
            Value::Float(v) => {
                return Err(self.invalid(format!(
                    "field `{path}` is `{}`: add an integer, not {v}",
                    field.prim.name()
                )));
            }
        };
        // AcqRel: as `load` (Acquire) and `store` (Release) together.
        Ok(decode(
            field.prim,
            at_width!(self, field, |a, Int| u64::from(
                a.fetch_add(delta as Int, AcqRel)
            )),
        ))
    }

    fn invalid(&self, problem: String) -> Error {
        ErrorKind::InvalidArgument {
            channel: self.segment.channel().to_owned(),
            problem: format!("zone `{}`: {problem}", self.name()),
        }
        .into()
    }

    /// `value` as the bits of a field of type `prim`, if it fits.
    fn encode(&self, path: &str, prim: Primitive, value: Value) -> Result<u64, Error> {
        let bits = match prim {
            Primitive::AtomicF32 => match value {
                Value::Float(v) => Some(u64::from((v as f32).to_bits())),
                Value::Int(v) => Some(u64::from((v as f32).to_bits())),
                Value::UInt(v) => Some(u64::from((v as f32).to_bits())),
            },
            Primitive::AtomicF64 => match value {
                Value::Float(v) => Some(v.to_bits()),
                Value::Int(v) => Some((v as f64).to_bits()),
                Value::UInt(v) => Some((v as f64).to_bits()),
            },
            _ => {
                let wide = match value {
                    Value::Int(v) => Some(i128::from(v)),
                    Value::UInt(v) => Some(i128::from(v)),
                    Value::Float(_) => None,
                };
                let bits = 8 * prim.size() as u32;
                let signed = matches!(
                    prim,
                    Primitive::AtomicI8
                        | Primitive::AtomicI16
                        | Primitive::AtomicI32
                        | Primitive::AtomicI64
                );
                let (min, max) = if signed {
                    (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
                } else {
                    (0, (1i128 << bits) - 1)
                };
                // The low bits of the two's complement form.
                wide.filter(|v| (min..=max).contains(v))
                    .map(|v| (v as u64) & (u64::MAX >> (64 - bits)))
            }
        };
        bits.ok_or_else(|| {
            self.invalid(format!(
                "field `{path}` is `{}`, which cannot hold {value:?}",
                prim.name()
            ))
        })
    }
}

/// The value of bits of a field of type `prim`.
fn decode(prim: Primitive, bits: u64) -> Value {
    match prim {
        Primitive::AtomicF32 => Value::Float(f64::from(f32::from_bits(bits as u32))),
        Primitive::AtomicF64 => Value::Float(f64::from_bits(bits)),
        Primitive::AtomicI8 => Value::Int(i64::from(bits as u8 as i8)),
        Primitive::AtomicI16 => Value::Int(i64::from(bits as u16 as i16)),
        Primitive::AtomicI32 => Value::Int(i64::from(bits as u32 as i32)),
        Primitive::AtomicI64 => Value::Int(bits as i64),
        _ => Value::UInt(bits),
    }
}

/// The offset and primitive at `path` (`a`, `a.b`, `a[3]`, `a[3].b`).
fn resolve(canon: &Canon, path: &str) -> Result<(u64, Primitive), String> {
    let mut ty = canon;
    let mut offset = 0u64;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let Canon::Array { elem, len } = ty else {
                return Err(format!("`{path}` indexes a field that is not an array"));
            };
            let (digits, after) = after.split_once(']').ok_or("an unclosed `[`")?;
            let i: u64 = digits
                .parse()
                .map_err(|_| format!("`{digits}` is not an index"))?;
            if i >= *len {
                return Err(format!("index {i} of an array of {len}"));
            }
            offset = offset.saturating_add(i.saturating_mul(elem.size()));
            ty = elem;
            rest = after;
            continue;
        }
        let Canon::Struct(s) = ty else {
            return Err(format!("`{path}` goes inside a field that is not a struct"));
        };
        let rest_now = rest.strip_prefix('.').unwrap_or(rest);
        let end = rest_now.find(['.', '[']).unwrap_or(rest_now.len());
        let (name, after) = rest_now.split_at(end);
        let field = s
            .fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| format!("no field `{name}`"))?;
        offset = offset.saturating_add(field.offset);
        ty = &field.ty;
        rest = after;
    }
    match ty {
        Canon::Primitive(p) => Ok((offset, *p)),
        _ => Err(format!("`{path}` is not a single number")),
    }
}

/// Appends the paths of the primitive leaves under `ty` to `out`.
fn leaves(ty: &Canon, path: String, out: &mut Vec<String>) {
    match ty {
        Canon::Struct(s) => {
            for f in &s.fields {
                let sub = if path.is_empty() {
                    f.name.clone()
                } else {
                    format!("{path}.{}", f.name)
                };
                leaves(&f.ty, sub, out);
            }
        }
        Canon::Array { elem, len } => {
            for i in 0..*len {
                leaves(elem, format!("{path}[{i}]"), out);
            }
        }
        _ => out.push(path),
    }
}

impl fmt::Debug for DescribedZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DescribedZone")
            .field("channel", &self.segment.channel())
            .field("zone", &self.name())
            .finish_non_exhaustive()
    }
}

// SAFETY: the handle reaches the zone's bytes only atomically; the mapping
// it keeps alive may be used from any thread.
unsafe impl Send for DescribedZone {}
// SAFETY: as above.
unsafe impl Sync for DescribedZone {}

/// A locked zone opened by name, its type taken from the segment: its
/// bytes are reached under its lock ([`lock`](Self::lock)), as a locked
/// zone's are ([`LockedZone`](crate::LockedZone)).
///
/// ```
/// use std::time::Duration;
/// use datahub::{ChannelConfig, Described, Producer};
///
/// # let name = format!("doc-described-locked-{}", std::process::id());
/// let cfg = ChannelConfig::from_schema_file("../schemas/sensor.toml", "sensor")?.with_name(&name);
/// let p = Producer::<Described>::create(&cfg)?;
/// let calib = p.described_locked_zone("calibration")?;
/// let mut guard = calib.lock(Duration::from_millis(100))?;
/// guard[..8].copy_from_slice(&2.5f64.to_ne_bytes());   // gain[0]
/// let held = guard.detach();                           // still locked
/// let guard = calib.reattach(held)?;
/// assert_eq!(guard[..8], 2.5f64.to_ne_bytes());
/// drop(guard);                                         // unlocked
/// # Ok::<(), datahub::Error>(())
/// ```
pub struct DescribedLockedZone {
    segment: Arc<Segment>,
    index: usize,
    start: NonNull<u8>,
    len: usize,
    canon: Canon,
    me: os::ProcessId,
    /// Whether a guard of this handle is detached (`HeldLock`).
    detached: AtomicBool,
    /// This handle's number, which its detached locks carry.
    id: u64,
}

impl DescribedLockedZone {
    pub(crate) fn open(segment: &Arc<Segment>, name: &str) -> Result<Self, Error> {
        let opened = open(segment, name, true)?;
        Ok(Self {
            segment: Arc::clone(segment),
            index: opened.index,
            start: opened.start,
            len: opened.len,
            canon: opened.canon,
            me: os::current_process(),
            detached: AtomicBool::new(false),
            id: crate::mapping::handle_id(),
        })
    }

    /// The zone's name.
    pub fn name(&self) -> &str {
        self.segment.zone_names().nth(self.index).unwrap_or("")
    }

    /// The zone type's canonical form, as the segment records it.
    pub fn canonical(&self) -> String {
        self.canon.to_string()
    }

    /// Bytes of the zone.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the zone has no bytes (never: a zone type has a field).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes the zone's lock, as [`LockedZone::lock`](crate::LockedZone::lock) does.
    pub fn lock(&self, wait: impl Into<Wait>) -> Result<DescribedZoneGuard<'_>, Error> {
        let recovered = lock(&self.segment, self.index, self.me, wait.into())?;
        Ok(DescribedZoneGuard {
            zone: self,
            recovered,
        })
    }

    /// Takes back a guard [`detach`](DescribedZoneGuard::detach)ed from
    /// this handle. Fails with [`ErrorKind::Stale`] when it is not this
    /// handle's lock held now (already handed back, or another handle's).
    pub fn reattach(&self, held: HeldLock) -> Result<DescribedZoneGuard<'_>, Error> {
        let ours = held.owner == self.id;
        // Relaxed: the compare-exchange alone decides which of two copies
        // wins; the zone's bytes are ordered by the lock itself.
        if !ours
            || self
                .detached
                .compare_exchange(true, false, Relaxed, Relaxed)
                .is_err()
        {
            return Err(ErrorKind::Stale {
                channel: self.segment.channel().to_owned(),
                what: format!("the lock of zone `{}`", self.name()),
                why: if ours {
                    "it was unlocked".into()
                } else {
                    "it belongs to another handle".into()
                },
            }
            .into());
        }
        Ok(DescribedZoneGuard {
            zone: self,
            recovered: held.recovered,
        })
    }

    /// The pid of the process holding the zone's lock now, if any.
    pub fn holder(&self) -> Option<u32> {
        self.segment.zone_lock(self.index).owner().map(|o| o.pid)
    }
}

impl Drop for DescribedLockedZone {
    /// A lock still detached from this handle is released: dropped, the
    /// handle can no longer take it back, and the lock and this mapping's
    /// flag would stay held.
    fn drop(&mut self) {
        if *self.detached.get_mut() {
            unlock(&self.segment, self.index, self.me);
        }
    }
}

impl fmt::Debug for DescribedLockedZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DescribedLockedZone")
            .field("channel", &self.segment.channel())
            .field("zone", &self.name())
            .field("holder", &self.holder())
            .finish_non_exhaustive()
    }
}

// SAFETY: the zone's bytes are reached only under the lock (the flag
// serialises this process's threads, the shared lock the processes) and
// are plain bytes; the mapping may be used from any thread.
unsafe impl Send for DescribedLockedZone {}
// SAFETY: as above: `&DescribedLockedZone` only lets a thread take the lock.
unsafe impl Sync for DescribedLockedZone {}

/// A described locked zone's lock, held: derefs to the zone's bytes;
/// dropping it unlocks.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct DescribedZoneGuard<'a> {
    zone: &'a DescribedLockedZone,
    recovered: bool,
}

impl DescribedZoneGuard<'_> {
    /// `true` when the lock was taken over from a process that died while
    /// holding it: the zone may be half-written; check or reset it.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// Detaches the guard from the handle's borrow, still locked: the
    /// [`HeldLock`] a binding keeps; [`DescribedLockedZone::reattach`]
    /// takes it back. While detached, the zone's bytes are at
    /// [`HeldLock::as_ptr`].
    pub fn detach(self) -> HeldLock {
        let zone = self.zone;
        let held = HeldLock {
            owner: zone.id,
            start: zone.start.as_ptr() as usize,
            len: zone.len,
            recovered: self.recovered,
        };
        // Relaxed: the handle's own word (see `reattach`).
        zone.detached.store(true, Relaxed);
        std::mem::forget(self);
        held
    }
}

impl fmt::Debug for DescribedZoneGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DescribedZoneGuard")
            .field("zone", &self.zone.name())
            .field("recovered", &self.recovered)
            .finish_non_exhaustive()
    }
}

impl Deref for DescribedZoneGuard<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // `open` checked the zone's bytes against the segment; they lie in
        // the mapping the handle keeps alive; we hold the flag and the
        // lock, so no other thread or process touches them.
        // SAFETY: in bounds, exclusive while locked; bytes are any value.
        unsafe { std::slice::from_raw_parts(self.zone.start.as_ptr(), self.zone.len) }
    }
}

impl DerefMut for DescribedZoneGuard<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.zone.start.as_ptr(), self.zone.len) }
    }
}

impl Drop for DescribedZoneGuard<'_> {
    fn drop(&mut self) {
        unlock(&self.zone.segment, self.zone.index, self.zone.me);
    }
}

/// A described locked zone's lock, held apart from its handle's borrow
/// (see [`DescribedZoneGuard::detach`]). Dropping it does not unlock:
/// hand it back with [`DescribedLockedZone::reattach`]. A copy is plain
/// data: the first one handed back unlocks, the others are refused.
#[derive(Debug, Clone)]
#[must_use = "a detached lock stays held until it is reattached and dropped"]
pub struct HeldLock {
    /// The handle's id: which handle it is of.
    owner: u64,
    start: usize,
    len: usize,
    recovered: bool,
}

impl HeldLock {
    /// The zone's first byte: `len()` bytes that only the holder of the
    /// lock touches until it is reattached, mapped while the handle (or a
    /// [`Mapping`](crate::Mapping)) lives. Accessing them is the caller's
    /// `unsafe`.
    pub fn as_ptr(&self) -> *mut u8 {
        self.start as *mut u8
    }

    /// Bytes of the zone.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the zone has no bytes (never: a zone type has a field).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the lock was taken over from a dead holder.
    pub fn recovered(&self) -> bool {
        self.recovered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> Canon {
        Canon::parse(text).unwrap()
    }

    #[test]
    fn a_field_path_names_nested_fields_and_array_elements_by_their_offsets() {
        // The tracker's Counters, nested in a struct at offset 8.
        let zone = canon(
            "{40/8:n:atomic_u64@0,c:{32/8:bodies_seen:atomic_u32@0,last_ts:atomic_i64@8,\
             per_camera:[atomic_u16;4]@16,rate:atomic_f64@24}@8}",
        );
        let at = |path| resolve(&zone, path);
        assert_eq!(at("n"), Ok((0, Primitive::AtomicU64)));
        assert_eq!(at("c.last_ts"), Ok((16, Primitive::AtomicI64)));
        assert_eq!(at("c.per_camera[3]"), Ok((30, Primitive::AtomicU16)));
        assert_eq!(at("c.rate"), Ok((32, Primitive::AtomicF64)));
        assert!(
            at("c.per_camera[4]")
                .unwrap_err()
                .contains("index 4 of an array of 4")
        );
        assert!(
            at("c.per_camera")
                .unwrap_err()
                .contains("not a single number")
        );
        assert!(at("c.nope").unwrap_err().contains("no field `nope`"));
        assert!(at("n[0]").unwrap_err().contains("not an array"));
        assert!(at("n.x").unwrap_err().contains("not a struct"));
        assert!(at("c.per_camera[x]").unwrap_err().contains("not an index"));
        assert!(at("c.per_camera[1").unwrap_err().contains("unclosed"));
        let mut paths = Vec::new();
        leaves(&zone, String::new(), &mut paths);
        assert_eq!(
            paths,
            [
                "n",
                "c.bodies_seen",
                "c.last_ts",
                "c.per_camera[0]",
                "c.per_camera[1]",
                "c.per_camera[2]",
                "c.per_camera[3]",
                "c.rate"
            ]
        );
    }

    #[test]
    fn bits_decode_with_the_sign_and_width_of_their_field() {
        assert_eq!(decode(Primitive::AtomicI8, 0xff), Value::Int(-1));
        assert_eq!(decode(Primitive::AtomicI16, 0x8000), Value::Int(-32768));
        assert_eq!(decode(Primitive::AtomicI32, 0xffff_fffe), Value::Int(-2));
        assert_eq!(decode(Primitive::AtomicU8, 0xff), Value::UInt(255));
        assert_eq!(
            decode(Primitive::AtomicF32, u64::from(1.5f32.to_bits())),
            Value::Float(1.5)
        );
        assert_eq!(
            decode(Primitive::AtomicF64, (-0.25f64).to_bits()),
            Value::Float(-0.25)
        );
    }
}
