use datahub::DataHubSlot;

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Everything {
    letter: char,
    count: usize,
    next: *const u8,
    name: &'static str,
    pair: (u32, u32),
    big: u128,
}

fn main() {}
