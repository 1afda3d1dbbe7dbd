//! Table 1: the flexible zones. A lock-free zone holds only atomics and its
//! users coordinate themselves; a locked zone holds plain data guarded by
//! one of the header's shared spin locks (`lock.rs`, the seeds'
//! `SharedSpinLock`), whose owner is a process identity so that a lock left
//! behind by a dead process is taken over, and the taker told that the data
//! may be half-written. `handle.rs` holds the handles users get.

#[cfg(not(datahub_loom))]
pub(crate) mod described;
#[cfg(not(datahub_loom))]
pub(crate) mod handle;
pub(crate) mod lock;
