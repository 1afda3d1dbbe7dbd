use datahub::DataHubSlot;

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Generic<T> {
    value: T,
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Borrowing<'a> {
    value: &'a u32,
}

fn main() {}
