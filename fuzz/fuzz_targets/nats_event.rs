//! The stream engine's decoder of NATS messages: one JSON object per message, then typed
//! against the stream source's schema.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tessera_fuzz::targets::nats_event(data));
