// `#[datahub(crate = "...")]` that is not a path, given twice, with an
// unknown key, or on a field; and a path to a crate that does not exist,
// which rustc reports on the string.

use datahub::{DataHubSlot, DataHubZone};

#[derive(Clone, Copy, DataHubSlot)]
#[datahub(crate = "::datahub<T>")]
#[repr(C)]
struct NotAPath {
    a: u32,
}

#[derive(Clone, Copy, DataHubSlot)]
#[datahub(crate = "::datahub")]
#[datahub(crate = "::datahub")]
#[repr(C)]
struct Twice {
    a: u32,
}

#[derive(Clone, Copy, DataHubSlot)]
#[datahub(krate = "::datahub")]
#[repr(C)]
struct UnknownKey {
    a: u32,
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct OnAField {
    #[datahub(crate = "::datahub")]
    a: u32,
}

#[derive(DataHubZone)]
#[datahub(crate = "::no_such_crate")]
#[repr(C)]
struct NoSuchCrate {
    a: core::sync::atomic::AtomicU32,
}

fn main() {}
