//! The shared-memory segment: its byte layout.

pub(crate) mod layout;
