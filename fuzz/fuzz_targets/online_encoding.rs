//! The online stores' stored bytes (the embedded store and Redis keep the same encodings):
//! entity keys and feature rows, whole and projected.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tessera_fuzz::targets::online_encoding(data));
