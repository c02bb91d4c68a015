//! The device's decoder of the cloud's answers to `POST /v1/features`: the first two bytes
//! pick the status and the entity count, the rest is the body.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_core::{Catalog, FeatureRef};
use tessera_edge::{decode_cloud_answer, RemoteFeature};

struct Setup {
    catalog: Catalog,
    features: Vec<RemoteFeature>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let catalog = tessera_fuzz::catalog();
        let features = [
            "user_activity:plays_1d",
            "user_activity:small",
            "user_activity:ratio",
            "user_activity:score",
            "user_activity:active",
            "user_activity:genre",
            "user_activity:blob",
            "user_activity:seen_at",
            "user_activity:recent",
        ]
        .iter()
        .map(|f| RemoteFeature::new(&catalog, &FeatureRef::parse(f).unwrap()).unwrap())
        .collect();
        Setup { catalog, features }
    })
}

fuzz_target!(|data: &[u8]| {
    let [status, n, body @ ..] = data else {
        return;
    };
    let status = match status % 4 {
        0 | 1 => 200,
        2 => 403,
        _ => 500,
    };
    let s = setup();
    // The answer to a read of all features, and of the first one alone.
    for features in [&s.features[..], &s.features[..1]] {
        if let Ok(cols) = decode_cloud_answer(&s.catalog, status, body, features, usize::from(*n)) {
            assert_eq!(cols.len(), features.len());
        }
    }
});
