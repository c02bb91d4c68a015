//! The same API over the Redis store. Uses the server at `TESSERA_REDIS_URL` (default
//! `redis://127.0.0.1:6379/0`) under a key prefix unique to the test, removed afterwards.

use std::sync::Arc;

use serde_json::json;

use crate::fixtures::{fresh_ts, rfc3339, seed, Options, TestServer, RANKER};

#[tokio::test]
async fn read_push_and_statuses_over_redis() {
    let store = tessera_online::testkit::fresh_redis_store("server").await;
    let ts = seed(&store).await;
    let s = TestServer::over(
        Arc::new(store.clone()),
        tempfile::tempdir().unwrap(),
        Options::default(),
    );

    let r = s
        .post(
            "/get-online-features",
            Some(RANKER),
            r#"{"features":["user_stats:i0","user_stats:f0"],"entities":{"user_id":[3,2,1,9]}}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json["metadata"]["feature_names"],
        json!(["user_id", "i0", "f0"])
    );
    assert_eq!(r.json["results"][1]["values"], json!([3, null, 1, null]));
    assert_eq!(
        r.json["results"][2]["statuses"],
        json!(["NULL_VALUE", "OUTSIDE_MAX_AGE", "PRESENT", "NOT_FOUND"])
    );

    let t = fresh_ts() + 5_000_000;
    let push = json!({
        "push_source_name": "item_stats",
        "df": {"item_id": ["b1"], "ts": [rfc3339(t)], "popularity": [0.25], "f0": [2]}
    });
    s.post("/push", Some(RANKER), &push.to_string())
        .await
        .expect(200);
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features":["item_stats:f0","item_stats:popularity"],"entities":{"item_id":["b1","a7"]}}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["features"][0]["values"], json!([2.0, 1.5]));
    assert_eq!(
        r.json["features"][1]["event_timestamps"],
        json!([rfc3339(t), rfc3339(ts)])
    );
    s.audit.shutdown().await.unwrap();
    store.delete_all().await.unwrap();
}
