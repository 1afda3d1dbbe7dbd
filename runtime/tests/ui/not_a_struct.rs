use datahub::{DataHubSlot, DataHubZone};

#[derive(Clone, Copy, DataHubSlot)]
#[repr(u8)]
enum Mode {
    Idle,
    Run,
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Pair(u32, u32);

#[derive(DataHubZone)]
#[repr(C)]
struct Empty;

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
union Bits {
    f: f32,
    u: u32,
}

fn main() {}
