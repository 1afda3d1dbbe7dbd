//! DataHub: zero-copy shared-memory IPC driven by schemas.
//!
//! A channel is one shared-memory segment with a ring of fixed slots and
//! typed zones beside it. One [`Producer`] writes slots in place; many
//! [`Consumer`]s read them in place, after checking at attach that their
//! layout has the segment's schema hash. Around that: checksums, channel
//! secrets, liveness (dead consumers removed, stalled ones passed over, a
//! dead producer's segment taken over by its successor), counters, and
//! snapshots and repairs for tools ([`inspect`], [`ChannelSnapshot::diagnose`],
//! [`recover`], [`cleanup`]; the `datahub` command is a shell over them).
//!
//! The type system says which Rust types may live in shared memory
//! ([`DataHubType`], [`DataHubSlot`], [`DataHubZone`]): their layout
//! descriptors, canonical form and `dh1:` schema hashes (`docs/schema.md`, "Canonical form and hashes"),
//! and the derives give a `#[repr(C)]` struct the same guarantees and the
//! same hash as the equivalent TOML schema.
//!
//! ```
//! use datahub::{AtomicF64, DataHubSlot, DataHubType, DataHubZone};
//!
//! #[derive(Clone, Copy, DataHubSlot)]
//! #[repr(C)]
//! struct V {
//!     u: f32,
//!     v: f32,
//! }
//!
//! #[derive(DataHubZone)]
//! #[repr(C)]
//! struct L {
//!     e: [AtomicF64; 2],
//! }
//!
//! assert_eq!(datahub::canonical_of::<V>(), "{8/4:u:f32@0,v:f32@4}");
//! assert_eq!(datahub::canonical_of::<L>(), "{16/8:e:[atomic_f64;2]@0}");
//! println!("{}", <V as DataHubType>::SCHEMA_HASH); // dh1:...
//! ```
//!
//! With the `derive` feature (on by default) the derive macros are
//! re-exported under the names of their traits, as serde does.

// Under `--cfg datahub_loom` only the protocol and the lock are built to be
// model-checked; the handles and OS code around them are compiled out.
#![cfg_attr(datahub_loom, allow(dead_code, unused_imports))]

mod backoff;
pub(crate) mod checksum;
#[cfg(not(datahub_loom))]
mod diagnose;
#[cfg(not(datahub_loom))]
mod discovery;
#[cfg(not(datahub_loom))]
pub mod host;
#[cfg(not(datahub_loom))]
mod inspect;
#[cfg(not(datahub_loom))]
mod liveness;
#[cfg(not(datahub_loom))]
mod maintenance;
#[cfg(not(datahub_loom))]
mod mapping;
mod metrics;
mod ring;
mod segment;
mod sync;
mod types;
pub(crate) mod zone;

#[cfg(all(test, not(datahub_loom)))]
mod fuzzing;
#[cfg(all(test, datahub_loom))]
mod loom_support;

mod config;
#[cfg(not(datahub_loom))]
mod consumer;
mod error;
mod payload;
#[cfg(not(datahub_loom))]
mod producer;

#[doc(hidden)]
pub mod __private;

pub use backoff::Wait;
pub use config::{ChannelConfig, ChecksumPolicy, MAX_ZONE_NAME_LEN, MAX_ZONES, Overflow, Secret};
pub use error::{Error, ErrorKind};
pub use payload::{Bytes, Described, Payload, SlotKind, SlotLayout};
pub use ring::Start;
#[cfg(not(datahub_loom))]
pub use ring::WaitStrategy;
pub use types::{
    AtomicF32, AtomicF64, DataHubSlot, DataHubType, DataHubZone, FieldDesc, Prim, SchemaHash,
    TypeDesc, canonical_of, schema_hash, type_hash,
};
#[cfg(not(datahub_loom))]
pub use {
    consumer::{AttachOptions, Consumer, ConsumerBuilder, DetachedRead, Iter, ReadSlot},
    diagnose::{Finding, Severity},
    discovery::{ChannelRecord, Discovery, Expected, Registered, Registration, Registry},
    inspect::{
        ChannelSnapshot, ChannelState, ConsumerInfo, ProducerInfo, SlotInfo, SlotTypeInfo,
        ZoneInfo, inspect, list_channels,
    },
    maintenance::{Cleanup, CleanupVerdict, Recovery, RecoveryAction, cleanup, recover},
    mapping::Mapping,
    producer::{DetachedWrite, Loan, Producer, WriteSlot},
    zone::described::{
        DescribedLockedZone, DescribedZone, DescribedZoneGuard, HeldLock, Value, ZoneField,
    },
    zone::handle::{LockedZone, Zone, ZoneGuard},
};

/// `#[derive(DataHubSlot)]` on a `#[repr(C)]` struct of plain data: checks
/// its layout at compile time and implements [`DataHubType`] and
/// [`DataHubSlot`](trait@DataHubSlot). See `docs/derive.md`.
#[cfg(feature = "derive")]
pub use datahub_derive::DataHubSlot;

/// `#[derive(DataHubZone)]` on a `#[repr(C)]` struct of atomics: checks its
/// layout at compile time and implements [`DataHubType`] and
/// [`DataHubZone`](trait@DataHubZone). See `docs/derive.md`.
#[cfg(feature = "derive")]
pub use datahub_derive::DataHubZone;

/// Asserts at compile time (a free `const` item, so `cargo check` reports
/// it) that a type has the given `dh1:` schema hash, e.g. the one a TOML
/// schema promised.
///
/// ```
/// use datahub::DataHubSlot;
///
/// #[derive(Clone, Copy, DataHubSlot)]
/// #[repr(C)]
/// struct Vec3 {
///     x: f64,
///     y: f64,
///     z: f64,
/// }
///
/// datahub::assert_schema_hash!(
///     Vec3,
///     "dh1:de975efa8947920d8dc252ab57488404cf236209fdff618cd0a0e076e62ff34c"
/// );
/// ```
#[macro_export]
macro_rules! assert_schema_hash {
    ($ty:ty, $hash:literal $(,)?) => {
        const _: () = ::core::assert!(
            <$ty as $crate::DataHubType>::SCHEMA_HASH.const_eq(&$crate::schema_hash($hash)),
            ::core::concat!(
                "the layout of `",
                ::core::stringify!($ty),
                "` does not have the schema hash ",
                $hash,
                ": its fields, their order, types or names differ from the schema's"
            )
        );
    };
}
