//! Generates code for two schemas naming the runtime `::dh`, as a crate
//! that renamed the dependency would (`src/lib.rs` includes it).

fn main() {
    let result = datahub_codegen::Builder::new()
        .schema("../schemas/sensor.toml")
        .schema("../schemas/camera.toml")
        .crate_path("::dh")
        .generate();
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
