//! The online stores' stored bytes (the embedded store and Redis keep the same encodings):
//! entity keys and feature rows, whole and projected.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_online::{EntityKey, FeatureRow, SelectedRow};

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = EntityKey::decode(data) {
        // A decoded key encodes to bytes that decode to the same key.
        let again = EntityKey::decode(&key.encode()).expect("an encoded key decodes");
        assert_eq!(again, key);
    }
    let whole = FeatureRow::decode(data);
    let names = ["plays_1d", "genre", "", "missing"];
    let selected = SelectedRow::decode(data, &names);
    // Both readers accept and refuse the same rows, and agree on what they read.
    assert_eq!(whole.is_ok(), selected.is_ok(), "{whole:?} / {selected:?}");
    if let (Ok(row), Ok(sel)) = (whole, selected) {
        for (name, value) in names.iter().zip(&sel.values) {
            assert_eq!(row.get(name), value.as_ref());
        }
    }
});
