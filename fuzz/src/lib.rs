//! Shared set-up of the fuzz targets: the definitions they decode against.

use tessera_core::Catalog;

/// The fuzz definitions (`defs/definitions.yaml`).
pub const DEFINITIONS: &str = include_str!("../defs/definitions.yaml");

/// The fuzz definitions, validated.
pub fn catalog() -> Catalog {
    let defs = tessera_core::Definitions::from_yaml_str(DEFINITIONS, "definitions.yaml".as_ref())
        .expect("the fuzz definitions parse");
    Catalog::build(vec![defs]).expect("the fuzz definitions validate")
}
