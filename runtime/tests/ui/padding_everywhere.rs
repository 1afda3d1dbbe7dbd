use datahub::DataHubSlot;

// Every gap is reported in one run, each with the field to add.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Sparse {
    kind: u8,
    stamp: u64,
    code: u16,
}

fn main() {}
