//! k-thresholds on the read routes, over the embedded store and Redis: a cohort state built
//! from k−1 distinct contributors (one of them playing 100 times) reads as null with status
//! `suppressed` (`NOT_FOUND` in Feast's shape); one built from k contributors is shown.

use std::sync::Arc;

use serde_json::json;
use tessera_core::aggregate::Value;
use tessera_online::{state_batch, EmbeddedStore, EntityKey, OnlineStore, Stamp};

use crate::consent_api::{server_over, RANKER};
use crate::fixtures::now_us;

const DEFS: &str = r#"
entities: [{ name: item, join_keys: [item_id] }]
sources: [{ name: plays, type: batch, path: data/plays.parquet, timestamp_field: ts }]
feature_views:
  - name: item_cohort
    entities: [item]
    source: plays
    classification: internal
    aggregations:
      - { function: count, windows: [1d], min_contributors: { k: 3, by: user_id } }
      - { function: count, windows: [7d] }
purposes: [{ name: ranking, allows: [internal] }]
consumers:
  - { name: ranker, token_env: RANKER_TOKEN, purposes: [ranking], default_purpose: ranking }
"#;

async fn check(store: Arc<dyn OnlineStore>) -> crate::fixtures::TestServer {
    let (s, _) = server_over(store.clone(), tempfile::tempdir().unwrap(), DEFS);
    let catalog = s.state.access.catalog();
    let spec = catalog
        .view_spec(catalog.view("item_cohort").unwrap())
        .unwrap()
        .unwrap();
    let now = now_us();
    let t = now - 3_600_000_000;
    let mut small = spec.new_state();
    for i in 0..100 {
        small
            .update(&spec, t + i, &[("user_id", Value::Int64(1))])
            .unwrap();
    }
    small
        .update(&spec, t, &[("user_id", Value::Int64(2))])
        .unwrap();
    let mut big = spec.new_state();
    for u in 1..=3 {
        big.update(&spec, t, &[("user_id", Value::Int64(u))])
            .unwrap();
    }
    let blob = |st: &tessera_core::aggregate::ViewState| {
        let mut b = Vec::new();
        st.encode(&mut b);
        b
    };
    store
        .write(state_batch(
            "item_cohort",
            [
                (
                    EntityKey::string("item_id", "a"),
                    Stamp::new(now, 0),
                    blob(&small),
                ),
                (
                    EntityKey::string("item_id", "b"),
                    Stamp::new(now, 0),
                    blob(&big),
                ),
            ],
        ))
        .await
        .unwrap();
    let body = r#"{"features":["item_cohort:count_1d","item_cohort:count_7d"],"entities":{"item_id":["a","b"]}}"#;
    let r = s.post("/v1/features", Some(RANKER), body).await;
    r.expect(200);
    assert_eq!(r.json["features"][0]["values"], json!([null, 3]));
    assert_eq!(
        r.json["features"][0]["statuses"],
        json!(["suppressed", "present"])
    );
    // The aggregation without a threshold is not suppressed.
    assert_eq!(r.json["features"][1]["values"], json!([101, 3]));
    let r = s.post("/get-online-features", Some(RANKER), body).await;
    r.expect(200);
    assert_eq!(
        r.json["results"][1]["statuses"],
        json!(["NOT_FOUND", "PRESENT"])
    );
    s
}

#[tokio::test]
async fn cohorts_below_k_are_suppressed_embedded() {
    let dir = tempfile::tempdir().unwrap();
    check(Arc::new(
        EmbeddedStore::open(&dir.path().join("online")).unwrap(),
    ))
    .await;
}

#[tokio::test]
async fn cohorts_below_k_are_suppressed_redis() {
    let store = tessera_online::testkit::fresh_redis_store("cohort").await;
    let s = check(Arc::new(store.clone())).await;
    s.audit.shutdown().await.unwrap();
    store.delete_all().await.unwrap();
}
