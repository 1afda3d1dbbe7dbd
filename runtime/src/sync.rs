//! The atomics the concurrency core is written against: `std`'s in a
//! build, loom's under `--cfg loom`, so that the very code that ships is the
//! code the model checker explores (tokio's and crossbeam's habit).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
