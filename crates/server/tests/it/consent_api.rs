//! `POST /v1/consent` and the consent gate on every read route: permission first (403,
//! audited), clear 422s with hints, then one history served as `no_consent` (native) and
//! `NOT_FOUND` (Feast), and a change made by another process (as `tessera consent set`
//! does) taking effect without a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_access::AccessLayer;
use tessera_audit::{AuditDecision, AuditLog, AuditSink, SinkConfig};
use tessera_consent::{ConsentState, ConsentStore};
use tessera_core::{Catalog, Definitions, EntityHasher};
use tessera_online::{EmbeddedStore, EntityKey, OnlineStore, Stamp, Value, WriteBatch};
use tessera_server::grpc::proto::{
    key_value, GetFeaturesRequest, KeyColumn, KeyValue, ValueStatus,
};
use tessera_server::{app, AppState, Auth, Limits, Metrics, TokenTable};

use crate::fixtures::{fresh_ts, Options, TestServer};

pub(crate) const RANKER: &str = "ranker-token-0123456789abcdef";
pub(crate) const ADMIN: &str = "admin-token-0123456789abcdef01";

const DEFS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources: [{ name: user_src, type: batch, path: data/users.parquet, timestamp_field: ts }]
feature_views:
  - name: user_stats
    entities: [user]
    source: user_src
    ttl: 7d
    features: [{ name: plays, type: int64, classification: personal }]
purposes:
  - { name: ads, allows: [personal], requires_consent: true }
  - { name: ranking, allows: [personal] }
consumers:
  - { name: ranker, token_env: RANKER_TOKEN, purposes: [ads, ranking] }
  - { name: admin, token_env: ADMIN_TOKEN, purposes: [ranking], consent: true }
"#;

async fn server() -> (TestServer, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("online")).unwrap());
    let ts = fresh_ts();
    let mut b = WriteBatch::new("user_stats", vec!["plays".into()]);
    for u in [1, 2] {
        b.push(
            EntityKey::int("user_id", u),
            Stamp::new(ts, ts),
            vec![Value::Int64(u * 10)],
        );
    }
    store.write(b).await.unwrap();
    server_over(store, dir, DEFS)
}

/// A test server over `store` with the definitions `defs`, consumers `ranker` and `admin`
/// (tokens [`RANKER`], [`ADMIN`]) and a consent log in `dir`.
pub(crate) fn server_over(
    store: Arc<dyn OnlineStore>,
    dir: tempfile::TempDir,
    defs: &str,
) -> (TestServer, std::path::PathBuf) {
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
    let catalog = Arc::new(
        Catalog::build(vec![
            Definitions::from_yaml_str(defs, "f.yaml".as_ref()).unwrap()
        ])
        .unwrap(),
    );
    let log = dir.path().join("consent/consent.jsonl");
    let consent =
        ConsentStore::open_with(log.clone(), EntityHasher::from_key(b"test key")).unwrap();
    let metrics = Arc::new(Metrics::new(store.name()));
    let access = AccessLayer::builder(catalog, audit.clone(), Options::default().access)
        .online_store(store)
        .build()
        .with_consent(Arc::new(consent));
    let auth = Auth::Bearer(Arc::new(
        TokenTable::new(vec![
            (RANKER.into(), "ranker".into()),
            (ADMIN.into(), "admin".into()),
        ])
        .unwrap(),
    ));
    let state = AppState::new(Arc::new(access), auth, Limits::default(), metrics);
    (
        TestServer {
            router: app(state.clone()),
            audit,
            audit_log,
            state,
            _dir: dir,
        },
        log,
    )
}

const READ: &str =
    r#"{"features":["user_stats:plays"],"entities":{"user_id":[1,2]},"purpose":"ads"}"#;

fn statuses(r: &serde_json::Value) -> Vec<String> {
    r["features"][0]["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn consent_route_and_gate() {
    let (s, log) = server().await;
    // Permission first: a consumer without `consent: true` is refused before its body is
    // parsed (even a malformed one), and the refusal is audited.
    let r = s.post("/v1/consent", Some(RANKER), "{not json").await;
    r.expect(403);
    assert_eq!(r.code(), "consent_denied");
    assert!(r.message().contains("consent: true"), "{}", r.message());
    let records = s.audit_records().await;
    let last = records.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.decision),
        ("consent", AuditDecision::Deny)
    );

    // Clear 422s with hints.
    let bad = |body: &'static str| {
        let s = &s;
        async move { s.post("/v1/consent", Some(ADMIN), body).await }
    };
    let r = bad(r#"{"purpose":"adz","entities":{"user_id":["1"]},"state":"granted"}"#).await;
    r.expect(422);
    assert!(
        r.code() == "bad_purpose" && r.message().contains("did you mean `ads`"),
        "{}",
        r.text
    );
    let r = bad(r#"{"purpose":"ranking","entities":{"user_id":["1"]},"state":"granted"}"#).await;
    r.expect(422);
    assert!(r.message().contains("requires_consent: true"), "{}", r.text);
    bad(r#"{"purpose":"ads","entities":{"user_id":["1"]},"state":"maybe"}"#)
        .await
        .expect(422);
    let r = bad(r#"{"purpose":"ads","entities":{"user_id":["1"]},"state":"granted","at":"soon"}"#)
        .await;
    assert_eq!(r.code(), "bad_time");
    let r = bad(r#"{"purpose":"ads","entities":{"usr_id":["1"]},"state":"granted"}"#).await;
    assert!(
        r.code() == "unknown_join_key" && r.message().contains("did you mean `user_id`"),
        "{}",
        r.text
    );
    bad(r#"{"purpose":"ads","entities":{"user_id":[]},"state":"granted"}"#)
        .await
        .expect(422);
    bad(r#"{"purpose":"ads","entities":{"user_id":["1"]},"state":"granted","extra":1}"#)
        .await
        .expect(422);

    // Nobody has consent yet: every value is withheld; `ranking` is not gated.
    let r = s.post("/v1/features", Some(RANKER), READ).await;
    r.expect(200);
    assert_eq!(statuses(&r.json), ["no_consent", "no_consent"]);
    assert_eq!(
        r.json["features"][0]["values"],
        serde_json::json!([null, null])
    );
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            &READ.replace("\"ads\"", "\"ranking\""),
        )
        .await;
    assert_eq!(statuses(&r.json), ["present", "present"]);

    // User 1 grants (an integer key sent as text hashes as the integer).
    let r = s
        .post(
            "/v1/consent",
            Some(ADMIN),
            r#"{"purpose":"ads","entities":{"user_id":["01"]},"state":"granted","at":"2026-01-01T00:00:00Z"}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["recorded"], 1);
    let r = s.post("/v1/features", Some(RANKER), READ).await;
    assert_eq!(statuses(&r.json), ["present", "no_consent"]);
    assert_eq!(
        r.json["features"][0]["values"],
        serde_json::json!([10, null])
    );
    // Feast's shape: a non-PRESENT status.
    let r = s
        .post(
            "/get-online-features",
            Some(RANKER),
            r#"{"features":["user_stats:plays"],"entities":{"user_id":[1,2]},"purpose":"ads"}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json["results"][1]["statuses"],
        serde_json::json!(["PRESENT", "NOT_FOUND"])
    );
    // gRPC: the same gate, status MISSING.
    let mut grpc = s.grpc().await;
    let mut req = tonic::Request::new(GetFeaturesRequest {
        features: vec!["user_stats:plays".into()],
        entities: vec![KeyColumn {
            name: "user_id".into(),
            values: [1, 2]
                .into_iter()
                .map(|i| KeyValue {
                    kind: Some(key_value::Kind::Int64Value(i)),
                })
                .collect(),
        }],
        purpose: "ads".into(),
        ..Default::default()
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {RANKER}").parse().unwrap());
    let r = grpc.client.get_features(req).await.unwrap().into_inner();
    assert_eq!(
        r.features[0].statuses,
        [ValueStatus::Present as i32, ValueStatus::Missing as i32]
    );
    grpc.stop().await;
    // The audit record keeps keyed hashes only.
    let records = s.audit_records().await;
    let rec = records
        .iter()
        .rev()
        .find(|r| r.action == "consent" && r.decision == AuditDecision::Allow)
        .unwrap();
    let detail = rec.detail.clone().unwrap();
    assert!(
        detail.contains("state=granted") && !detail.contains("=1,") && !detail.ends_with("=1"),
        "{detail}"
    );

    // Another process withdraws user 1 through the same log (as `tessera consent set`
    // does): the server sees it at its next refresh, without a restart.
    let other = ConsentStore::open_with(log, EntityHasher::from_key(b"test key")).unwrap();
    let u1 = other.digest("user_id", "1");
    other
        .record(
            "ads",
            ConsentState::Withdrawn,
            tessera_consent::now_us(),
            &[u1],
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = s.post("/v1/features", Some(RANKER), READ).await;
        if statuses(&r.json) == ["no_consent", "no_consent"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the withdrawal was not seen: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
