use datahub::DataHubSlot;

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Flags {
    valid: bool,
    _pad0: [u8; 7],
    value: f64,
}

fn main() {}
