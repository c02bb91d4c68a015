//! The device's decoder of the cloud's answers to `POST /v1/features`: the first two bytes
//! pick the status and the entity count, the rest is the body.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tessera_fuzz::targets::cloud_response(data));
