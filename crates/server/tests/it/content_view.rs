//! A `provider: content` view served over HTTP: its values come from the content provider's
//! in-memory table (what `tessera serve` loads from the view's source at startup), not from
//! the online store, next to online features in the same request.

use std::sync::Arc;

use tessera_online::{EntityKey, MemoryStore, OnlineStore, Stamp, Value, WriteBatch};

use crate::fixtures::{Options, TestServer, RANKER};

async fn content_table(ts: i64) -> Arc<dyn OnlineStore> {
    let table = Arc::new(MemoryStore::new());
    let mut b = WriteBatch::new("item_meta", vec!["title".into(), "length_s".into()]);
    b.push(
        EntityKey::string("item_id", "a7"),
        Stamp::new(ts, Stamp::NO_CREATED),
        vec![Value::from("Blue in Green"), Value::Int64(337)],
    );
    table.write(b).await.unwrap();
    table
}

/// A server over a seeded embedded store, with the content table; the store and the seed time.
async fn with_content() -> (TestServer, Arc<tessera_online::EmbeddedStore>, i64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(tessera_online::EmbeddedStore::open(&dir.path().join("online")).unwrap());
    let ts = crate::fixtures::seed(store.as_ref()).await;
    let s = TestServer::over(
        store.clone(),
        dir,
        Options {
            content: Some(content_table(ts).await),
            ..Options::default()
        },
    );
    (s, store, ts)
}

#[tokio::test]
async fn content_features_come_from_the_content_table() {
    let (s, store, ts) = with_content().await;
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features": ["item_meta:title", "item_stats:popularity", "item_meta:length_s"],
                "entities": {"item_id": ["a7", "zz"]}}"#,
        )
        .await;
    r.expect(200);
    let f = &r.json["features"];
    assert_eq!(
        f[0]["values"],
        serde_json::json!(["Blue in Green", null]),
        "{}",
        r.text
    );
    assert_eq!(f[0]["statuses"], serde_json::json!(["present", "missing"]));
    assert_eq!(f[1]["values"], serde_json::json!([0.9, null]), "{}", r.text);
    assert_eq!(f[2]["values"], serde_json::json!([337, null]));
    assert_eq!(
        f[2]["event_timestamps"][0],
        crate::fixtures::rfc3339(ts),
        "{}",
        r.text
    );
    // Feast's route reads the same table.
    let r = s
        .post(
            "/get-online-features",
            Some(RANKER),
            r#"{"features": ["item_meta:title"], "entities": {"item_id": ["a7"]}}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json["results"][1]["values"],
        serde_json::json!(["Blue in Green"])
    );
    assert_eq!(
        r.json["results"][1]["statuses"],
        serde_json::json!(["PRESENT"])
    );
    // The plan names the provider of each feature.
    let r = s
        .post(
            "/v1/features?explain=true",
            Some(RANKER),
            r#"{"features": ["item_meta:title", "item_stats:popularity"], "entities": {"item_id": ["a7"]}}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["features"][0]["provider"], "content", "{}", r.text);
    assert_eq!(r.json["features"][1]["provider"], "online", "{}", r.text);
    // The online store holds no row of the content view: the value did not come from it.
    let rows = store
        .read("item_meta", &[EntityKey::string("item_id", "a7")])
        .await
        .unwrap();
    assert!(
        rows.iter().all(Option::is_none),
        "the online store has item_meta rows"
    );
}

#[tokio::test]
async fn without_a_content_provider_content_features_are_not_served() {
    let (s, _) = TestServer::embedded().await;
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features": ["item_meta:title"], "entities": {"item_id": ["a7"]}}"#,
        )
        .await;
    assert_ne!(r.status.as_u16(), 200, "{}", r.text);
    assert!(r.message().contains("content"), "{}", r.text);
}

#[tokio::test]
async fn pushes_to_a_content_view_are_refused() {
    let (s, _store, ts) = with_content().await;
    let push = |target: &str, df: serde_json::Value| {
        let mut df = df;
        df["item_id"] = serde_json::json!(["a7"]);
        df["event_timestamp"] = serde_json::json!([crate::fixtures::rfc3339(ts + 1)]);
        serde_json::json!({ "push_source_name": target, "to": "online", "df": df }).to_string()
    };
    let content_row = serde_json::json!({"title": ["pushed"], "length_s": [1]});
    let online_row = serde_json::json!({"popularity": [0.5], "f0": [1.0]});
    // By the view's name: refused, saying why and what to do.
    let r = s
        .post("/push", Some(RANKER), &push("item_meta", content_row))
        .await;
    r.expect(422);
    assert!(r.message().contains("provider: content"), "{}", r.text);
    assert!(r.message().contains("item_src"), "{}", r.text);
    // By the shared source: only the online view takes the rows.
    let r = s
        .post("/push", Some(RANKER), &push("item_src", online_row))
        .await;
    r.expect(200);
    let r = s
        .post(
            "/v1/features",
            Some(RANKER),
            r#"{"features": ["item_meta:title", "item_stats:popularity"], "entities": {"item_id": ["a7"]}}"#,
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json["features"][0]["values"],
        serde_json::json!(["Blue in Green"]),
        "{}",
        r.text
    );
    assert_eq!(
        r.json["features"][1]["values"],
        serde_json::json!([0.5]),
        "{}",
        r.text
    );
}
