use core::sync::atomic::AtomicU32;
use datahub::DataHubSlot;

#[derive(DataHubSlot)]
#[repr(C)]
struct Frame {
    seq: u32,
    readers: AtomicU32,
}

fn main() {}
