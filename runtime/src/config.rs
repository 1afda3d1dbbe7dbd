//! `ChannelConfig`: what a producer creates — the ring's parameters and the
//! zones beside it. The slot type comes from `Producer::<T>::create`.

use std::path::Path;
use std::time::Duration;

pub use datahub_schema::{ChecksumPolicy, Overflow};

use crate::error::{Error, ErrorKind};
use crate::payload::{Payload, SlotKind, SlotLayout};
use crate::types::{DataHubSlot, DataHubType, DataHubZone, SchemaHash};

/// Most zones in a channel (the header's zone table has this many entries).
pub const MAX_ZONES: usize = crate::segment::header::MAX_ZONES;
/// Longest zone name, in bytes (the zone table stores names NUL-padded in 32).
pub const MAX_ZONE_NAME_LEN: usize = crate::segment::header::MAX_ZONE_NAME_LEN;

/// A zone of the configuration, described by its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoneSpec {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) canonical: String,
    pub(crate) hash: SchemaHash,
    pub(crate) locked: bool,
}

impl ZoneSpec {
    fn of<T: DataHubType>(name: String, locked: bool) -> Self {
        Self {
            name,
            size: size_of::<T>() as u64,
            canonical: T::DESC.canonical(),
            hash: T::SCHEMA_HASH,
            locked,
        }
    }
}

/// The configuration of a channel: its name, ring parameters and zones.
///
/// ```
/// use std::time::Duration;
/// use datahub::{ChannelConfig, ChecksumPolicy, DataHubSlot, DataHubZone, Overflow};
///
/// #[derive(DataHubZone)]
/// #[repr(C)]
/// struct Telemetry { frames: core::sync::atomic::AtomicU64 }
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Calib { gain: [f64; 8] }
///
/// let cfg = ChannelConfig::new("sensor")
///     .capacity(16)
///     .overflow(Overflow::Block)
///     .checksum(ChecksumPolicy::Enforced)
///     .max_consumers(8)
///     .stall_timeout(Duration::from_secs(1))
///     .zone::<Telemetry>("telemetry")
///     .locked_zone::<Calib>("calibration");
/// assert!(cfg.check().is_ok());
/// assert_eq!(cfg.name(), "sensor");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    pub(crate) name: String,
    pub(crate) capacity: u32,
    pub(crate) overflow: Overflow,
    pub(crate) checksum: ChecksumPolicy,
    pub(crate) max_consumers: u32,
    pub(crate) stall_timeout: Duration,
    pub(crate) zones: Vec<ZoneSpec>,
    pub(crate) mode: u32,
    pub(crate) slot_size: Option<u64>,
    /// The slot layout a schema gave (`from_schema`, `slot_layout`).
    pub(crate) slot: Option<SlotLayout>,
    pub(crate) secret: Option<Secret>,
}

/// A channel secret: a 256-bit key (`docs/protocol.md`, "Liveness and recovery"). The segment stores only
/// a keyed BLAKE2b tag of the channel name, never the key; a consumer must
/// present the same key to attach, and with checksums the slot digests are
/// keyed (a MAC). The file mode stays the real access boundary: a process
/// that can open the segment can read its bytes, secret or not.
///
/// ```
/// use datahub::Secret;
///
/// let key = Secret::from_bytes([7; 32]);
/// assert_eq!(format!("{key:?}"), "Secret(..)"); // never printed
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(crate) [u8; 32]);

impl Secret {
    /// A secret from its 32 bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self(key)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl ChannelConfig {
    /// A channel named `name` (`[A-Za-z0-9_-]{1,63}`), with 8 slots,
    /// lossless (`Block`), no checksums, 8 consumers, a 1 s stall timeout,
    /// no zones, and file mode 0600.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            capacity: 8,
            overflow: Overflow::Block,
            checksum: ChecksumPolicy::None,
            max_consumers: 8,
            stall_timeout: Duration::from_secs(1),
            zones: Vec::new(),
            mode: 0o600,
            slot_size: None,
            slot: None,
            secret: None,
        }
    }

    /// The configuration of channel `channel` of a checked schema: its
    /// capacity, overflow, checksums, consumers, zones and slot layout
    /// (other settings as [`new`](Self::new) gives them). Create it with
    /// [`Producer::<Described>`](crate::Described), or with a typed
    /// producer whose slot type has the schema's layout (checked).
    ///
    /// ```
    /// use datahub::{ChannelConfig, SlotKind};
    ///
    /// let cfg = ChannelConfig::from_schema_file("../schemas/camera.toml", "raw-camera")?;
    /// assert_eq!(cfg.name(), "raw-camera");
    /// assert_eq!(cfg.layout().unwrap().kind(), SlotKind::Bytes);
    /// assert!(ChannelConfig::from_schema_file("../schemas/camera.toml", "nope").is_err());
    /// # Ok::<(), datahub::Error>(())
    /// ```
    pub fn from_schema(schema: &datahub_schema::Schema, channel: &str) -> Result<Self, Error> {
        let Some(ch) = schema.channel(channel) else {
            let names: Vec<String> = schema
                .channels()
                .iter()
                .map(|c| format!("`{}`", c.name))
                .collect();
            return Err(ErrorKind::InvalidConfig {
                problem: if names.is_empty() {
                    format!("the schema has no channel `{channel}`: it declares no channels")
                } else {
                    format!(
                        "the schema has no channel `{channel}`: its channels are {}",
                        names.join(", ")
                    )
                },
            }
            .into());
        };
        let mut config = Self::new(&ch.name)
            .capacity(ch.capacity)
            .overflow(ch.overflow)
            .checksum(ch.checksum)
            .max_consumers(ch.max_consumers);
        for (zone, canonical) in ch.zones.iter().zip(ch.zone_canonicals()) {
            // A checked schema names only structs it declares.
            let size = schema.struct_def(&zone.ty).map_or(0, |s| s.layout.size);
            config.zones.push(ZoneSpec {
                name: zone.name.clone(),
                size,
                canonical: canonical.clone(),
                hash: SchemaHash::of_type_canon(canonical),
                locked: zone.locked,
            });
        }
        config.slot = Some(match ch.slot {
            datahub_schema::SlotType::Bytes { size } => SlotLayout::bytes(size),
            _ => SlotLayout::typed(ch.slot_canonical())?,
        });
        Ok(config)
    }

    /// [`from_schema`](Self::from_schema) of the schema file at `path`.
    /// Fails with [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) carrying the schema's
    /// diagnostics (each at its `file:line:col`) when the file is not a
    /// valid schema.
    pub fn from_schema_file(path: impl AsRef<Path>, channel: &str) -> Result<Self, Error> {
        let schema = datahub_schema::Schema::load(path).map_err(|e| ErrorKind::InvalidConfig {
            problem: e.render(false),
        })?;
        Self::from_schema(&schema, channel)
    }

    /// Renames the channel (a schema's channel created under another name,
    /// say one per instrument).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The slot layout for a producer of [`Described`](crate::Described)
    /// slots (a typed producer checks that its type has this layout).
    pub fn slot_layout(mut self, layout: SlotLayout) -> Self {
        self.slot = Some(layout);
        self
    }

    /// The slot layout a schema or [`slot_layout`](Self::slot_layout) gave.
    pub fn layout(&self) -> Option<&SlotLayout> {
        self.slot.as_ref()
    }

    /// Number of ring slots (1: single buffer, 2: double buffer, N: ring;
    /// 0: no ring, a zones-only channel: state shared by many processes
    /// through its zones, where `acquire` and `next` are
    /// [`ErrorKind::NoRing`](crate::ErrorKind::NoRing)).
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.capacity = capacity;
        self
    }

    /// Lossless (`Block`) or latest-wins (`Overwrite`).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Slot checksums: none, manual or enforced.
    pub fn checksum(mut self, checksum: ChecksumPolicy) -> Self {
        self.checksum = checksum;
        self
    }

    /// Most consumers attached at once (1..=64).
    pub fn max_consumers(mut self, max_consumers: u32) -> Self {
        self.max_consumers = max_consumers;
        self
    }

    /// How long a live consumer may go without reading before it stops
    /// holding back a lossless producer.
    pub fn stall_timeout(mut self, stall_timeout: Duration) -> Self {
        self.stall_timeout = stall_timeout;
        self
    }

    /// Adds a lock-free zone of type `Z` (atomics only).
    pub fn zone<Z: DataHubZone>(mut self, name: impl Into<String>) -> Self {
        self.zones.push(ZoneSpec::of::<Z>(name.into(), false));
        self
    }

    /// Adds a locked zone of plain-data type `T`, reached through its spin lock.
    pub fn locked_zone<T: DataHubSlot>(mut self, name: impl Into<String>) -> Self {
        self.zones.push(ZoneSpec::of::<T>(name.into(), true));
        self
    }

    /// File mode of the segment (default 0o600; 0o660 to share with a group).
    /// The file mode is the access boundary of a channel.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Bytes per slot of a raw-bytes channel (`Producer::<Bytes>`): each
    /// item holds up to this many. Typed channels take the size of their
    /// slot type and refuse this setting.
    pub fn slot_size(mut self, bytes: u64) -> Self {
        self.slot_size = Some(bytes);
        self
    }

    /// Protects the channel with `secret`: consumers must present it
    /// ([`AttachOptions::secret`](crate::AttachOptions::secret)), and slot
    /// checksums, if any, are keyed with it.
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks that the configuration can describe a channel; every problem
    /// is an [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) that says what to change.
    pub fn check(&self) -> Result<(), Error> {
        let invalid = |problem: String| Err(ErrorKind::InvalidConfig { problem }.into());
        if !datahub_schema::is_channel_name(&self.name) {
            return invalid(format!(
                "channel name `{}` is not 1 to 63 ASCII letters, digits, `_` or `-`",
                self.name
            ));
        }
        if u64::from(self.capacity) > crate::segment::validate::MAX_CAPACITY {
            return invalid(format!(
                "capacity {} is not 0 (zones only) to {}",
                self.capacity,
                crate::segment::validate::MAX_CAPACITY
            ));
        }
        if !(1..=64).contains(&self.max_consumers) {
            return invalid(format!(
                "max_consumers {} is not 1 to 64",
                self.max_consumers
            ));
        }
        if self.mode & !0o777 != 0 {
            return invalid(format!("mode {:o} has bits beyond 0o777", self.mode));
        }
        if self.slot_size == Some(0) {
            return invalid("slot_size 0: a slot holds at least 1 byte".into());
        }
        if self.zones.len() > MAX_ZONES {
            return invalid(format!("{} zones: at most {MAX_ZONES}", self.zones.len()));
        }
        for (i, z) in self.zones.iter().enumerate() {
            if !datahub_schema::is_ascii_identifier(&z.name)
                || datahub_schema::is_rust_keyword(&z.name)
                || z.name.len() > MAX_ZONE_NAME_LEN
            {
                return invalid(format!(
                    "zone name `{}` is not an ASCII identifier of at most {MAX_ZONE_NAME_LEN} bytes \
                     that is not a Rust keyword",
                    z.name
                ));
            }
            if self.zones[..i].iter().any(|other| other.name == z.name) {
                return invalid(format!("two zones are named `{}`", z.name));
            }
        }
        Ok(())
    }

    /// The channel hash for slots of `P` (a slot type, or raw bytes of this
    /// configuration's `slot_size`) and this configuration's zones
    /// (`docs/schema.md`, "Canonical form and hashes"), as a TOML schema of the same channel would give.
    pub fn channel_hash<P: Payload>(&self) -> SchemaHash {
        let slot = self.slot_for::<P>().map_or_else(
            |_| P::canonical(P::fixed_size().or(self.slot_size).unwrap_or(0)),
            |layout| layout.canonical().to_owned(),
        );
        SchemaHash::of_channel_canon(&self.channel_canonical(&slot))
    }

    /// The layout of the slots a producer of `P` makes with this
    /// configuration: `P`'s own (checked against a configured layout), or,
    /// for [`Described`](crate::Described) and [`Bytes`](crate::Bytes), the configured one.
    pub(crate) fn slot_for<P: Payload>(&self) -> Result<SlotLayout, Error> {
        let invalid = |problem: String| Err(ErrorKind::InvalidConfig { problem }.into());
        let configured = match (&self.slot, self.slot_size) {
            (Some(layout), None) => Some(layout.clone()),
            (None, Some(size)) => Some(SlotLayout::bytes(size)),
            (None, None) => None,
            (Some(layout), Some(size)) => {
                if *layout != SlotLayout::bytes(size) {
                    return invalid(format!(
                        "slot_size {size} and the slot layout `{}` disagree: set one of them",
                        layout.canonical()
                    ));
                }
                Some(layout.clone())
            }
        };
        let layout = if P::DESCRIBED {
            match configured {
                Some(layout) => layout,
                None => {
                    return invalid(
                        "described slots need their layout: `.slot_layout(..)`, \
                         `ChannelConfig::from_schema`, or `.slot_size(BYTES)` for raw bytes"
                            .into(),
                    );
                }
            }
        } else if P::fixed_size().is_some() {
            if let Some(size) = self.slot_size {
                return invalid(format!(
                    "slot_size {size} is for raw-bytes channels (`Producer::<Bytes>`); a typed channel's \
                     slots have the size of their type: remove `.slot_size(..)`"
                ));
            }
            let own = SlotLayout::of_payload::<P>(0);
            if let Some(layout) = configured
                && layout.hash() != own.hash()
            {
                return invalid(format!(
                    "the slot type's layout `{}` is not the configured one, `{}`: create the \
                     channel with a slot type of the configured layout (or `Producer::<Described>`)",
                    own.canonical(),
                    layout.canonical(),
                ));
            }
            own
        } else {
            match configured {
                Some(layout) if layout.kind() == SlotKind::Bytes => layout,
                Some(layout) => {
                    return invalid(format!(
                        "the configured slot layout is typed (`{}`): create it with a slot type of \
                         that layout or `Producer::<Described>`, not `Producer::<Bytes>`",
                        layout.canonical()
                    ));
                }
                None => {
                    return invalid(
                        "a raw-bytes channel needs its slot size: add `.slot_size(BYTES)`".into(),
                    );
                }
            }
        };
        if layout.align() > 64 {
            return invalid(format!(
                "slot types are aligned to at most 64 bytes, this one needs {}",
                layout.align()
            ));
        }
        if usize::try_from(layout.size()).is_err() {
            return invalid(format!(
                "slot_size {} does not fit in memory",
                layout.size()
            ));
        }
        Ok(layout)
    }

    /// The channel's canonical string for a slot with canonical form `slot`.
    pub(crate) fn channel_canonical(&self, slot: &str) -> String {
        let zones: Vec<(&str, &str, bool)> = self
            .zones
            .iter()
            .map(|z| (z.name.as_str(), z.canonical.as_str(), z.locked))
            .collect();
        datahub_schema::channel_canonical(slot, &zones)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::AtomicF32;
    use core::sync::atomic::{AtomicU32, AtomicU64};

    // The sensor vector's Telemetry and Calib, by hand (the derive is
    // tested elsewhere; here only the config's use of their descriptors).
    #[repr(C)]
    struct Telemetry {
        frame_count: AtomicU64,
        fps: AtomicF32,
        state: AtomicU32,
    }
    // SAFETY: repr(C), three atomics without padding, DESC matches.
    unsafe impl DataHubType for Telemetry {
        const DESC: &'static crate::types::TypeDesc = &crate::types::TypeDesc::Struct {
            size: 16,
            align: 8,
            fields: &[
                crate::types::FieldDesc {
                    name: "frame_count",
                    ty: <AtomicU64 as DataHubType>::DESC,
                    offset: 0,
                },
                crate::types::FieldDesc {
                    name: "fps",
                    ty: <AtomicF32 as DataHubType>::DESC,
                    offset: 8,
                },
                crate::types::FieldDesc {
                    name: "state",
                    ty: <AtomicU32 as DataHubType>::DESC,
                    offset: 12,
                },
            ],
        };
    }
    // SAFETY: every byte belongs to an atomic.
    unsafe impl DataHubZone for Telemetry {}

    #[test]
    fn a_config_with_zones_hashes_like_the_schema_of_the_same_channel() {
        let cfg = ChannelConfig::new("c").zone::<Telemetry>("telemetry");
        let schema = datahub_schema::Schema::parse(
            "format = 1\n[structs.T]\nfields = [{ name = \"frame_count\", type = \"atomic_u64\" }, \
             { name = \"fps\", type = \"atomic_f32\" }, { name = \"state\", type = \"atomic_u32\" }]\n\
             [channels.c]\nslot = \"bytes\"\nslot_size = 8\nzones = [{ name = \"telemetry\", type = \"T\" }]\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            cfg.channel_hash::<[u8; 8]>(),
            schema.channel("c").unwrap().hash()
        );
    }

    #[test]
    fn every_invalid_configuration_is_refused_with_what_to_change() {
        let problem = |cfg: ChannelConfig| match cfg.check().map_err(crate::error::Error::into_kind)
        {
            Err(ErrorKind::InvalidConfig { problem }) => problem,
            other => panic!("expected InvalidConfig, got {other:?}"),
        };
        assert!(problem(ChannelConfig::new("a/b")).contains("channel name `a/b`"));
        let too_deep = u32::try_from(crate::segment::validate::MAX_CAPACITY + 1).unwrap();
        assert!(
            problem(ChannelConfig::new("c").capacity(too_deep))
                .contains(&format!("capacity {too_deep} is not 0 (zones only) to"))
        );
        assert!(
            ChannelConfig::new("c").capacity(0).check().is_ok(),
            "zones only"
        );
        assert!(problem(ChannelConfig::new("c").max_consumers(65)).contains("max_consumers 65"));
        assert!(problem(ChannelConfig::new("c").mode(0o4777)).contains("mode"));
        assert!(problem(ChannelConfig::new("c").zone::<Telemetry>("type")).contains("`type`"));
        let twice = ChannelConfig::new("c")
            .zone::<Telemetry>("t")
            .zone::<Telemetry>("t");
        assert!(problem(twice).contains("two zones are named `t`"));
        let many = (0..17).fold(ChannelConfig::new("c"), |c, i| {
            c.zone::<Telemetry>(format!("z{i}"))
        });
        assert!(problem(many).contains("17 zones"));
        assert!(ChannelConfig::new("raw-camera").capacity(2).check().is_ok());
    }
}
