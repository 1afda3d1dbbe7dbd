//! The shared-memory segment: its byte layout, and the OS calls that
//! create, map and watch it.

pub(crate) mod header;
pub(crate) mod layout;
pub(crate) mod os;
pub(crate) mod validate;
