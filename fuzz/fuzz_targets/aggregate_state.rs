//! Stored aggregation states (the bytes in the online stores' state rows and the stream
//! engine's snapshots): one state, one tiled aggregate, a whole view's state; each decoded
//! state is then finished, merged with itself, evicted and re-encoded.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tessera_fuzz::targets::aggregate_state(data));
