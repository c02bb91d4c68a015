//! Retention on the device's local store: rows of a view with `retention` whose event time
//! is older than it are deleted; newer ones stay.

use std::sync::Arc;

use tessera_edge::{Event, LocalStore};

use super::fixtures::{now_us, CLOUD_DEFINITIONS, DEVICE_DEFINITIONS};

#[tokio::test]
async fn the_local_store_drops_rows_older_than_the_retention() {
    let device = DEVICE_DEFINITIONS.replace("    ttl: 1h\n", "    ttl: 1h\n    retention: 1h\n");
    let parse = |y: &str, f: &str| tessera_core::Definitions::from_yaml_str(y, f.as_ref()).unwrap();
    let catalog = tessera_core::Catalog::build(vec![
        parse(CLOUD_DEFINITIONS, "cloud.yaml"),
        parse(&device, "device.yaml"),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path(), Arc::new(catalog)).unwrap();
    let now = now_us();
    let hour = 3_600_000_000;
    let at = |user: i64, ts: i64| {
        Event::at_micros(ts)
            .with("user_id", user)
            .with("locale", "fr-FR")
            .with("network", "wifi")
    };
    store
        .record(
            "device_context",
            vec![
                at(1, now - hour - 1_000_000),
                at(2, now - hour + 60_000_000),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store.apply_retention(now, false).await.unwrap(),
        [("session_context".to_string(), 1)]
    );
    assert_eq!(
        store.apply_retention(now, true).await.unwrap(),
        [("session_context".to_string(), 1)]
    );
    assert_eq!(
        store.apply_retention(now, true).await.unwrap(),
        [("session_context".to_string(), 0)]
    );
}
