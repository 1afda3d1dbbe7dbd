use datahub::DataHubSlot;

#[derive(DataHubSlot)]
#[repr(C)]
struct Frame {
    seq: u64,
}

fn main() {}
