//! The stream engine's decoder of NATS messages: one JSON object per message, then typed
//! against the stream source's schema.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_stream::{decode_columns, json_object_columns, SourceSchema};

fn schema() -> &'static SourceSchema {
    static SCHEMA: OnceLock<SourceSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let catalog = tessera_fuzz::catalog();
        let source = &catalog.sources()["plays"];
        SourceSchema::new(&catalog, source).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(columns) = json_object_columns(data) else {
        return;
    };
    if let Ok(events) = decode_columns(schema(), columns) {
        assert_eq!(events.len(), 1);
    }
});
