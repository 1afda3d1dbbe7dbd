use datahub::DataHubSlot;

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Stamp {
    nanos: u64,
    seq: u32,
}

fn main() {}
