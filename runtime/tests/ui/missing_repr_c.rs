use datahub::DataHubSlot;

#[derive(Clone, Copy, DataHubSlot)]
struct Sample {
    t: u64,
    v: f64,
}

fn main() {}
