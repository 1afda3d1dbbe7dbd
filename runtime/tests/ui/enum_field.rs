use datahub::DataHubSlot;

#[derive(Clone, Copy)]
#[repr(u8)]
enum Mode {
    Idle,
    Run,
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct State {
    mode: Mode,
    level: u8,
}

fn main() {}
