use datahub::DataHubSlot;

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Message {
    r#type: u32,
    len: u32,
}

fn main() {}
