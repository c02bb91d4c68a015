//! The read path: order, statuses, the gate, concurrency, failures, audit.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tessera_access::{AccessConfig, Caller, Error, ErrorClass, FeatureSelection, ValueStatus};
use tessera_audit::AuditDecision;
use tessera_online::{KeyValue, Value};

use crate::fixtures::{layer, read, seeded_store, SlowStore};

#[tokio::test]
async fn merges_views_in_request_order_with_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let f = layer(seeded_store(dir.path()).await, AccessConfig::default());
    let r = f
        .access
        .read(read(
            &["user_stats:score", "item_stats:pop", "user_stats:clicks"],
            vec![
                (
                    "user_id",
                    vec![KeyValue::Int64(1), KeyValue::Int64(2), KeyValue::Int64(3)],
                ),
                ("item_id", vec!["x".into(), "y".into(), "x".into()]),
            ],
        ))
        .await
        .unwrap();
    let names: Vec<String> = r.plan.features().iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        ["user_stats:score", "item_stats:pop", "user_stats:clicks"]
    );
    use ValueStatus::*;
    assert_eq!(r.columns[0].statuses, [Present, Expired, Missing]);
    assert_eq!(
        r.columns[0].values,
        [Value::Float64(0.5), Value::Null, Value::Null]
    );
    assert_eq!(
        r.columns[1].statuses,
        [Present, Missing, Present],
        "no TTL on items"
    );
    assert_eq!(r.columns[1].event_ts, [Some(1), None, Some(1)]);
    assert_eq!(r.columns[2].values[0], Value::Int64(5));
    assert!(
        r.columns[2].event_ts[1].is_some(),
        "expired rows report their time"
    );
    assert_eq!(r.plan.purpose(), "ranking");
    f.audit.shutdown().await.unwrap();
    let rec = &f.log.tail(1).unwrap()[0];
    assert_eq!(rec.rows, 3);
    assert_eq!(rec.decision, AuditDecision::Allow);
}

#[tokio::test]
async fn views_are_read_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let slow = Arc::new(SlowStore::new(
        seeded_store(dir.path()).await,
        Duration::from_millis(50),
        false,
    ));
    let f = layer(slow.clone(), AccessConfig::default());
    f.access
        .read(read(
            &["user_stats:clicks", "item_stats:pop"],
            vec![
                ("user_id", vec![KeyValue::Int64(1)]),
                ("item_id", vec!["x".into()]),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(slow.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_gate_lists_every_refusal_and_caches_only_allowed_plans() {
    let dir = tempfile::tempdir().unwrap();
    let f = layer(seeded_store(dir.path()).await, AccessConfig::default());
    let mut req = read(
        &["user_stats:score", "user_stats:local", "user_stats:clicks"],
        vec![("user_id", vec![KeyValue::Int64(1)])],
    );
    req.purpose = Some("analytics".into());
    let err = f.access.read(req.clone()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Denied);
    let Error::Denied { refusals, .. } = &err else {
        panic!("{err}")
    };
    let refused: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    assert_eq!(
        refused,
        [
            "user_stats:score: classified `personal`, which purpose `analytics` does not allow",
            "user_stats:local: placed `device_only`: its values never leave the device",
        ]
    );
    // Asking again is refused again (denials are never cached as allowed).
    assert!(f.access.read(req).await.is_err());
    // An allowed plan is reused: same answer twice.
    let ok = read(
        &["user_stats:clicks"],
        vec![("user_id", vec![KeyValue::Int64(1)])],
    );
    let a = f.access.read(ok.clone()).await.unwrap();
    let b = f.access.read(ok).await.unwrap();
    assert!(Arc::ptr_eq(&a.plan, &b.plan));
}

#[tokio::test]
async fn anonymous_reads_need_a_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded_store(dir.path()).await;
    let f = layer(store.clone(), AccessConfig::default());
    let mut req = read(
        &["user_stats:clicks"],
        vec![("user_id", vec![KeyValue::Int64(1)])],
    );
    req.caller = Caller::Anonymous;
    let err = f.access.read(req.clone()).await.unwrap_err();
    assert!(matches!(err, Error::MissingPurpose { .. }), "{err}");
    let f = layer(
        store,
        AccessConfig {
            anonymous_purpose: Some("analytics".into()),
            ..AccessConfig::default()
        },
    );
    f.access.read(req).await.unwrap();
}

#[tokio::test]
async fn feature_services_and_bad_selections() {
    assert!(matches!(
        FeatureSelection::from_parts(Some(vec![]), None),
        Err(Error::NoFeatures)
    ));
    assert!(matches!(
        FeatureSelection::from_parts(Some(vec!["a:b".into()]), Some("s".into())),
        Err(Error::FeaturesAndService)
    ));
    let dir = tempfile::tempdir().unwrap();
    let f = layer(seeded_store(dir.path()).await, AccessConfig::default());
    let mut req = read(
        &["user_stats:clicks"],
        vec![("user_id", vec![KeyValue::Int64(1)])],
    );
    req.features = FeatureSelection::Service("nope".into());
    let err = f.access.read(req).await.unwrap_err();
    assert_eq!(err.code(), "unknown_feature_service");
    assert_eq!(err.class(), ErrorClass::Input);
}

#[tokio::test]
async fn store_failures_and_timeouts_are_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let inner = seeded_store(dir.path()).await;
    let broken = Arc::new(SlowStore::new(inner.clone(), Duration::ZERO, true));
    let f = layer(broken, AccessConfig::default());
    let req = read(
        &["user_stats:clicks"],
        vec![("user_id", vec![KeyValue::Int64(1)])],
    );
    let err = f.access.read(req.clone()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Unavailable, "{err}");
    let slow = Arc::new(SlowStore::new(inner, Duration::from_millis(300), false));
    let f = layer(
        slow,
        AccessConfig {
            store_timeout: Duration::from_millis(20),
            ..AccessConfig::default()
        },
    );
    let err = f.access.read(req).await.unwrap_err();
    assert_eq!(err.code(), "store_timeout");
    f.audit.shutdown().await.unwrap();
    assert_eq!(f.log.tail(1).unwrap()[0].decision, AuditDecision::Error);
}

#[tokio::test]
async fn reads_that_cannot_be_audited_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = layer(seeded_store(dir.path()).await, AccessConfig::default());
    f.audit.shutdown().await.unwrap();
    let err = f
        .access
        .read(read(
            &["user_stats:clicks"],
            vec![("user_id", vec![KeyValue::Int64(1)])],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "audit_unavailable");
    assert_eq!(err.class(), ErrorClass::Unavailable);
}
