use datahub::DataHubSlot;

#[derive(Clone, Copy)]
struct Plain {
    x: f32,
}

// One run reports every problem of the struct, not just the first.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(packed)]
struct Messy {
    on: bool,
    n: isize,
    r#type: u8,
    p: *mut f32,
    plain: Plain,
}

fn main() {}
