//! Generates typed Rust from the workspace's schemas into `OUT_DIR`, as a
//! user's build script would (`src/lib.rs` includes the results).

fn main() {
    let result = datahub_codegen::Builder::new()
        .schema("../schemas/sensor.toml")
        .schema("../schemas/tracker.toml")
        .schema("../schemas/camera.toml")
        .generate();
    if let Err(e) = result {
        // Shown by Cargo as the build script's failure, diagnostics included.
        eprintln!("{e}");
        std::process::exit(1);
    }
}
