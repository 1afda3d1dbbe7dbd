use core::sync::atomic::AtomicU64;
use datahub::{DataHubSlot, DataHubZone};

#[derive(DataHubZone)]
#[repr(C)]
struct Counters {
    frames: AtomicU64,
}

#[derive(DataHubSlot)]
#[repr(C)]
struct Frame {
    seq: u64,
    counters: [Counters; 2],
}

fn main() {}
