use datahub::DataHubSlot;

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C, align(64))]
struct Line {
    a: u64,
}

fn main() {}
