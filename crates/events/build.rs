//! Generates the event types from proto-schemas/ with the protoc shipped by
//! protoc-bin-vendored, so no system protoc is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let include = protoc_bin_vendored::include_path()?;
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto-schemas");
    let proto = schemas.join("conversations/v1/events.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    config.compile_protos(&[proto], &[schemas, include])?;
    Ok(())
}
