use core::sync::atomic::AtomicU64;
use datahub::DataHubZone;

#[derive(DataHubZone)]
#[repr(C)]
struct Telemetry {
    frame_count: AtomicU64,
    fps: f32,
    state: u32,
}

fn main() {}
