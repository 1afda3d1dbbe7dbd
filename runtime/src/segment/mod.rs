//! The shared-memory segment: its byte layout, and the OS calls that
//! create, map and watch it.

pub(crate) mod header;
pub(crate) mod layout;
#[cfg(all(test, not(datahub_loom)))]
mod layout_doc;
pub(crate) mod os;
pub(crate) mod owner;
pub(crate) mod seal;
// Real mappings hold std atomics; under loom the atomics are loom's.
#[cfg(not(datahub_loom))]
pub(crate) mod shm;
pub(crate) mod validate;
