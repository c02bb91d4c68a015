//! Definition files and `tessera.yaml` from text: parse, then validate into a catalog.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tessera_fuzz::targets::yaml_definitions(data));
