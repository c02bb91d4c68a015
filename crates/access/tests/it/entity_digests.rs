//! Audit records name the entities of a read as keyed hashes, one per (join key, value)
//! pair, distinct — never the clear key — when the layer has an entity hasher.

use std::sync::Arc;

use tessera_access::{AccessConfig, AccessLayer};
use tessera_audit::{AuditLog, AuditQuery, AuditSink, SinkConfig};
use tessera_core::EntityHasher;
use tessera_online::KeyValue;

use super::fixtures::{catalog, read, seeded_store};

#[tokio::test]
async fn reads_record_entity_digests_not_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded_store(&dir.path().join("online")).await;
    let log = AuditLog::new(&dir.path().join("audit"));
    let audit = Arc::new(AuditSink::spawn(log.clone(), SinkConfig::default()).unwrap());
    let hasher = Arc::new(EntityHasher::from_key(b"test key"));
    let access = AccessLayer::builder(catalog(), audit.clone(), AccessConfig::default())
        .online_store(store.clone())
        .entity_hasher(hasher.clone())
        .build();
    access
        .read(read(
            &["user_stats:clicks", "item_stats:pop"],
            vec![
                (
                    "user_id",
                    vec![KeyValue::Int64(1), KeyValue::Int64(1), KeyValue::Int64(2)],
                ),
                (
                    "item_id",
                    vec!["x-secret".into(), "x-secret".into(), "y-secret".into()],
                ),
            ],
        ))
        .await
        .unwrap();
    // A refused read names its entities too.
    let mut refused = read(
        &["user_stats:clicks"],
        vec![("user_id", vec![KeyValue::Int64(7)])],
    );
    refused.purpose = Some("nope".into());
    assert!(access.read(refused).await.is_err());
    // Without a hasher, nothing is recorded.
    let plain = AccessLayer::new(catalog(), store, audit.clone(), AccessConfig::default());
    plain
        .read(read(
            &["user_stats:clicks"],
            vec![("user_id", vec![KeyValue::Int64(1)])],
        ))
        .await
        .unwrap();
    audit.shutdown().await.unwrap();

    let records = log.query(&AuditQuery::default()).unwrap();
    let d = |k: &str, v: &str| hasher.digest(&[(k, v)]);
    assert_eq!(
        records[0].entities,
        [
            d("user_id", "1"),
            d("user_id", "2"),
            d("item_id", "x-secret"),
            d("item_id", "y-secret")
        ]
    );
    assert_eq!(records[1].entities, [d("user_id", "7")]);
    assert!(records[2].entities.is_empty());
    let mut bytes = Vec::new();
    for f in log.files().unwrap() {
        bytes.extend(std::fs::read(f).unwrap());
    }
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains("secret"), "{text}");
    assert_eq!(
        text.matches("\"entities\"").count(),
        2,
        "left out when empty"
    );
}
