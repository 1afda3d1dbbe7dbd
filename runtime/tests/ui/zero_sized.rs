use datahub::DataHubSlot;

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Nothing {}

const LEN: usize = 0;

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Hidden {
    a: u32,
    empty: [u32; LEN],
    literal: [u32; 0],
}

fn main() {}
