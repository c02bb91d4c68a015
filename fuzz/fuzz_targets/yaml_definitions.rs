//! Definition files and `tessera.yaml` from text: parse, then validate into a catalog.
#![no_main]
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use tessera_core::{Catalog, Definitions, RepoConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = RepoConfig::from_yaml_str(text, Path::new("tessera.yaml"));
    if let Ok(defs) = Definitions::from_yaml_str(text, Path::new("fuzz.yaml")) {
        if let Ok(catalog) = Catalog::build_from_files(vec![(PathBuf::from("fuzz.yaml"), defs)]) {
            // Every view's join keys and features resolve in a valid catalog.
            for view in catalog.feature_views().values() {
                let _ = catalog.join_keys(view);
            }
        }
    }
});
