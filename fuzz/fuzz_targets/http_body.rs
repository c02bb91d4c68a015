//! Every HTTP request body the server decodes: the first byte picks the route, the rest is
//! the body (`tessera_server::decode_request_body`, the functions the routes run).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tessera_fuzz::targets::http_body(data));
