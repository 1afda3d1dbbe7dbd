use datahub::DataHubSlot;

#[derive(Clone, Copy)]
#[repr(C)]
struct Plain {
    x: f32,
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Outer {
    inner: Plain,
    y: f32,
}

fn main() {}
