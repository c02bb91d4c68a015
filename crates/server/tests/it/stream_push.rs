//! Pushes to a stream source: Feast's `POST /push` and the native `POST /v1/push` go to the
//! stream engine; window features change in the served response; duplicates, late events
//! and bad rows are reported; a consumer without `writes:` is refused.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tessera_access::{AccessConfig, AccessLayer};
use tessera_audit::{AuditLog, AuditSink, SinkConfig};
use tessera_core::{Catalog, Definitions};
use tessera_online::{EmbeddedStore, OnlineStore};
use tessera_server::{app, AppState, Auth, Limits, Metrics, TokenTable};
use tessera_stream::{StreamConfig, StreamEngine};
use tower::ServiceExt;

use crate::fixtures::{now_us, rfc3339};

const APP: &str = "app-token-0123456789abcdefghij";
const READER: &str = "reader-token-0123456789abcdefgh";

const DEFS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - name: plays
    type: stream
    path: log/plays
    timestamp_field: ts
    stream:
      schema: { user_id: int64, dwell_s: float64, action: string, event_id: string }
      event_id_field: event_id
      allowed_lateness: 10m
feature_views:
  - name: live
    entities: [user]
    source: plays
    classification: internal
    aggregations:
      - { function: count, windows: [1h, 1d], filter: "action = 'play'", name: plays }
      - { column: dwell_s, function: sum, windows: [1h] }
purposes: [{ name: ranking, allows: [internal] }]
consumers:
  - { name: app, token_env: APP_TOKEN, purposes: [ranking], writes: [plays] }
  - { name: reader, token_env: READER_TOKEN, purposes: [ranking], default_purpose: ranking }
"#;

async fn call(
    router: &axum::Router,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value, axum::http::HeaderMap) {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v, headers)
}

#[tokio::test]
async fn pushed_events_change_served_windows() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(
        Catalog::build(vec![
            Definitions::from_yaml_str(DEFS, "f.yaml".as_ref()).unwrap()
        ])
        .unwrap(),
    );
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&dir.path().join("online")).unwrap());
    let engine = Arc::new(
        StreamEngine::open(
            dir.path(),
            catalog.clone(),
            store.clone(),
            StreamConfig::default(),
        )
        .await
        .unwrap(),
    );
    let audit = Arc::new(
        AuditSink::spawn(
            AuditLog::new(&dir.path().join("audit")),
            SinkConfig::default(),
        )
        .unwrap(),
    );
    let metrics = Arc::new(Metrics::new(store.name()));
    let access = AccessLayer::new(catalog, store, audit.clone(), AccessConfig::default())
        .with_observer(metrics.clone())
        .with_ingest(engine);
    let auth = Auth::Bearer(Arc::new(
        TokenTable::new(vec![
            (APP.into(), "app".into()),
            (READER.into(), "reader".into()),
        ])
        .unwrap(),
    ));
    let router = app(AppState::new(
        Arc::new(access),
        auth,
        Limits::default(),
        metrics,
    ));
    let read = json!({"features": ["live:plays_1h", "live:plays_1d", "live:dwell_s_sum_1h"], "entities": {"user_id": [1, 2]}});
    let (s, v, _) = call(&router, "/get-online-features", READER, read.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["results"][1]["values"], json!([0, 0]), "{v}");

    let now = now_us();
    let ts = |ago_s: i64| rfc3339(now - ago_s * 1_000_000);
    // Feast's push shape, to the stream source.
    let (s, v, h) = call(
        &router,
        "/push",
        APP,
        json!({"push_source_name": "plays", "to": "online", "df": {
            "user_id": [1, 1, 2], "dwell_s": [10.0, 5.5, 1.0], "action": ["play", "play", "skip"],
            "ts": [ts(60), ts(30), ts(10)], "event_id": ["a", "b", "c"]}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(h["x-tessera-events-applied"], "3");
    let (_, v, _) = call(&router, "/get-online-features", READER, read.clone()).await;
    assert_eq!(v["results"][1]["values"], json!([2, 0]), "{v}");
    assert_eq!(v["results"][3]["values"], json!([15.5, 1.0]), "{v}");
    assert_eq!(
        v["results"][1]["statuses"],
        json!(["PRESENT", "PRESENT"]),
        "{v}"
    );

    // Native push: rows as objects; a duplicate and a late event are reported, not applied.
    let (s, v, _) = call(
        &router,
        "/v1/push",
        APP,
        json!({"source": "plays", "events": [
            {"user_id": 2, "dwell_s": 2.0, "action": "play", "ts": ts(5), "event_id": "d"},
            {"user_id": 1, "dwell_s": 10.0, "action": "play", "ts": ts(60), "event_id": "a"},
            {"user_id": 1, "dwell_s": 99.0, "action": "play", "ts": ts(3600), "event_id": "old"}]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["applied"].as_u64(),
            v["duplicates"].as_u64(),
            v["late"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{v}"
    );
    let (_, v, _) = call(&router, "/get-online-features", READER, read.clone()).await;
    assert_eq!(v["results"][1]["values"], json!([2, 1]), "{v}");

    // A bad batch is refused whole, naming the rows.
    let (s, v, _) = call(
        &router,
        "/v1/push",
        APP,
        json!({"source": "plays", "events": [
            {"user_id": 3, "dwell_s": 1.0, "action": "play", "ts": ts(5), "event_id": "e"},
            {"user_id": null, "dwell_s": "x", "action": "play", "ts": "yesterday", "event_id": "f"}]}),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("row 1") && msg.contains("user_id"), "{msg}");
    let (_, v, _) = call(
        &router,
        "/get-online-features",
        READER,
        json!({"features": ["live:plays_1h"], "entities": {"user_id": [3]}}),
    )
    .await;
    assert_eq!(
        v["results"][1]["values"],
        json!([0]),
        "nothing of the bad batch was applied: {v}"
    );

    // Without `writes:` the reader may not push; aggregation views take no direct rows.
    let (s, v, _) = call(
        &router,
        "/v1/push",
        READER,
        json!({"source": "plays", "events": []}),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    let (s, v, _) = call(
        &router,
        "/write-to-online-store",
        APP,
        json!({"feature_view_name": "live", "df": {"user_id": [1]}}),
    )
    .await;
    assert!(s == 403 || s == 422, "{s} {v}");
    audit.shutdown().await.unwrap();
}
