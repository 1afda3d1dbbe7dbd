use datahub::DataHubSlot;

// Same layout as `Vec3` of shared/vectors/nested.toml, but the field `z` is
// called `w`: field names are part of the hash.
#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Vec3 {
    x: f64,
    y: f64,
    w: f64,
}

datahub::assert_schema_hash!(
    Vec3,
    "dh1:de975efa8947920d8dc252ab57488404cf236209fdff618cd0a0e076e62ff34c"
);

fn main() {}
