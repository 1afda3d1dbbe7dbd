use datahub::DataHubSlot;

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C, packed)]
struct Tight {
    a: u8,
    b: u32,
}

fn main() {}
