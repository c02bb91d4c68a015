//! Minimised reads over every route (Feast, native, gRPC) on Redis: the values are the
//! minimised ones, the types are the transforms' result types, and no raw value appears in
//! any response's bytes.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tessera_access::{AccessConfig, AccessLayer};
use tessera_audit::{AuditLog, AuditSink, SinkConfig};
use tessera_core::{Catalog, Definitions};
use tessera_online::{EntityKey, OnlineStore, Stamp, Value, WriteBatch};
use tessera_server::grpc::proto::{key_value, GetFeaturesRequest, KeyColumn, KeyValue};
use tessera_server::{app, AppState, Auth, Limits, Metrics, TokenTable};

use crate::fixtures::{fresh_ts, TestServer};

const ANALYST: &str = "analyst-token-0123456789abcdef";
const RANKER: &str = "ranker-token-0123456789abcdef";

const DEFINITIONS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources: [{ name: profiles, type: batch, path: p.parquet, timestamp_field: ts }]
feature_views:
  - name: user_profile
    entities: [user]
    source: profiles
    features:
      - { name: age, type: int64, classification: personal }
      - { name: postcode, type: string, classification: personal }
      - { name: lat, type: float64, classification: personal }
      - { name: country, type: string, classification: personal }
      - { name: user_ref, type: string, classification: sensitive }
purposes:
  - { name: ranking, allows: [public, internal, personal, sensitive] }
  - name: analytics
    allows: [public, internal]
    minimise:
      user_profile:age:      { bucketize: [18, 25, 35, 50, 65] }
      user_profile:postcode: { truncate: 3 }
      user_profile:lat:      { round: 0.1 }
      user_profile:country:  { keep: [US, GB, DE, FR, JP], other: other }
      user_profile:user_ref: { pseudonymise: { key_env: TESSERA_TEST_PSEUDONYM_KEY_SERVER } }
consumers:
  - { name: ranker, token_env: RANKER_TOKEN, purposes: [ranking], default_purpose: ranking }
  - { name: analyst, token_env: ANALYST_TOKEN, purposes: [analytics], default_purpose: analytics }
"#;

/// Raw values that must never appear in an analytics response.
const RAW: [&str; 5] = ["SW1A", "51.5074", "Zealand", "ref-secret-7", "\"age\":47"];

async fn server() -> TestServer {
    std::env::set_var(
        "TESSERA_TEST_PSEUDONYM_KEY_SERVER",
        "a-server-test-key-000000000000000",
    );
    let store = tessera_online::testkit::fresh_redis_store("minimised").await;
    let ts = fresh_ts();
    let names = ["age", "postcode", "lat", "country", "user_ref"];
    let mut b = WriteBatch::new(
        "user_profile",
        names.iter().map(|s| s.to_string()).collect(),
    );
    b.push(
        EntityKey::int("user_id", 1),
        Stamp::new(ts, Stamp::NO_CREATED),
        vec![
            Value::Int64(47),
            Value::String("SW1A 1AA".into()),
            Value::Float64(51.5074),
            Value::String("New Zealand".into()),
            Value::String("ref-secret-7".into()),
        ],
    );
    store.write(b).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit_log = AuditLog::new(&dir.path().join("audit"));
    let audit = Arc::new(
        AuditSink::spawn(
            audit_log.clone(),
            SinkConfig {
                flush_interval: Duration::from_millis(1),
                ..SinkConfig::default()
            },
        )
        .unwrap(),
    );
    let store: Arc<dyn OnlineStore> = Arc::new(store);
    let metrics = Arc::new(Metrics::new(store.name()));
    let catalog = Catalog::build(vec![Definitions::from_yaml_str(
        DEFINITIONS,
        "f.yaml".as_ref(),
    )
    .unwrap()])
    .unwrap();
    let access = AccessLayer::builder(Arc::new(catalog), audit.clone(), AccessConfig::default())
        .online_store(store)
        .observer(metrics.clone())
        .build();
    let auth = Auth::Bearer(Arc::new(
        TokenTable::new(vec![
            (ANALYST.into(), "analyst".into()),
            (RANKER.into(), "ranker".into()),
        ])
        .unwrap(),
    ));
    let state = AppState::new(Arc::new(access), auth, Limits::default(), metrics);
    TestServer {
        router: app(state.clone()),
        audit,
        audit_log,
        state,
        _dir: dir,
    }
}

fn assert_no_raw(bytes: &str) {
    for raw in RAW {
        assert!(!bytes.contains(raw), "raw value {raw} leaked: {bytes}");
    }
}

#[tokio::test]
async fn feast_native_and_grpc_return_only_minimised_values() {
    let s = server().await;
    let features = r#"["user_profile:age", "user_profile:postcode", "user_profile:lat", "user_profile:country", "user_profile:user_ref"]"#;

    let feast = format!(r#"{{"features": {features}, "entities": {{"user_id": [1]}}}}"#);
    let r = s.post("/get-online-features", Some(ANALYST), &feast).await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_no_raw(&r.text);
    for minimised in ["\"35-50\"", "\"SW1\"", "51.5", "\"other\""] {
        assert!(r.text.contains(minimised), "{minimised}: {}", r.text);
    }

    let native = format!(r#"{{"features": {features}, "entities": {{"user_id": [1]}}}}"#);
    let r = s.post("/v1/features", Some(ANALYST), &native).await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_no_raw(&r.text);
    let feats = r.json["features"].as_array().unwrap();
    assert_eq!(
        feats[0]["type"], "string",
        "bucketize's result type: {}",
        r.text
    );
    assert_eq!(feats[0]["values"][0], "35-50");
    assert_eq!(feats[1]["values"][0], "SW1");
    assert_eq!(feats[2]["values"][0], 51.5);
    assert_eq!(feats[3]["values"][0], "other");
    let pseudonym = feats[4]["values"][0].as_str().unwrap();
    assert_eq!(pseudonym.len(), 32);

    let explained = s
        .post("/v1/features?explain=true", Some(ANALYST), &native)
        .await;
    assert_eq!(
        explained.json["features"][0]["minimise"]["transform"], "bucketize[18,25,35,50,65]",
        "{}",
        explained.text
    );

    let mut grpc = s.grpc().await;
    let mut req = tonic::Request::new(GetFeaturesRequest {
        features: vec![
            "user_profile:age".into(),
            "user_profile:postcode".into(),
            "user_profile:user_ref".into(),
        ],
        entities: vec![KeyColumn {
            name: "user_id".into(),
            values: vec![KeyValue {
                kind: Some(key_value::Kind::Int64Value(1)),
            }],
        }],
        ..Default::default()
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {ANALYST}").parse().unwrap(),
    );
    let answer = grpc.client.get_features(req).await.unwrap().into_inner();
    let bytes = String::from_utf8_lossy(&answer.encode_to_vec()).to_string();
    assert_no_raw(&bytes);
    assert!(
        bytes.contains("35-50") && bytes.contains(pseudonym),
        "{answer:?}"
    );
    assert_eq!(answer.features[0].r#type, "string");
    grpc.stop().await;

    // The same read for ranking is raw: the test would see a leak if minimisation were off.
    let r = s.post("/v1/features", Some(RANKER), &native).await;
    assert!(
        r.text.contains("SW1A 1AA") && r.text.contains("ref-secret-7"),
        "{}",
        r.text
    );

    let records = s.audit_records().await;
    let analytics: Vec<_> = records
        .iter()
        .filter(|r| r.purpose == "analytics")
        .collect();
    assert!(analytics.len() >= 3, "{records:?}");
    for rec in analytics {
        assert_eq!(
            rec.transforms.get("user_profile:age").map(String::as_str),
            Some("bucketize[18,25,35,50,65]"),
            "{rec:?}"
        );
    }
}
