//! Every HTTP request body the server decodes: the first byte picks the route, the rest is
//! the body (`tessera_server::decode_request_body`, the functions the routes run).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_server::{decode_request_body, Limits, RequestBody};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kind = RequestBody::ALL[usize::from(selector) % RequestBody::ALL.len()];
    let limits = Limits::default();
    if let Ok(decoded) = decode_request_body(kind, body, &limits, 10_000) {
        assert!(decoded.rows <= 10_000 || matches!(kind, RequestBody::FeastRead | RequestBody::NativeRead));
        assert!(decoded.columns <= limits.max_keys_per_request || matches!(kind, RequestBody::Erase));
    }
});
