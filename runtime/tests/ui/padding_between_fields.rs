use datahub::DataHubSlot;

// The struct of shared/vectors/padding_error.toml.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Bad {
    a: u8,
    b: u32,
}

fn main() {}
