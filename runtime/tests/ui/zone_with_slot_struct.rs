use core::sync::atomic::AtomicU32;
use datahub::{DataHubSlot, DataHubZone};

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Vec2 {
    x: f32,
    y: f32,
}

#[derive(DataHubZone)]
#[repr(C)]
struct Tracker {
    hits: AtomicU32,
    last: Vec2,
}

fn main() {}
