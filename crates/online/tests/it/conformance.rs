//! The shared conformance suite against each real backend.

use std::sync::Arc;

use tessera_online::{testkit, EmbeddedStore, EntityKey, OnlineStore, Stamp, Value, WriteBatch};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    testkit::conformance(store).await;
}

#[tokio::test(flavor = "current_thread")]
async fn embedded_store_conforms_on_a_single_thread() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    testkit::conformance(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    testkit::conformance(Arc::new(tessera_online::MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_conforms() {
    let store = tessera_online::testkit::fresh_redis_store("conformance").await;
    testkit::conformance(Arc::new(store.clone())).await;
    assert!(store.delete_all().await.unwrap() > 0);
    assert_eq!(store.delete_all().await.unwrap(), 0, "nothing left behind");
}

#[tokio::test]
async fn embedded_rows_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let key = EntityKey::int("user_id", 1);
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let mut b = WriteBatch::new("v", vec!["a".into()]);
        b.push(key.clone(), Stamp::new(1, 0), vec![Value::Int64(7)]);
        store.write(b).await.unwrap();
        store.set_high_water_mark("v", 42).await.unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let row = store
        .read("v", &[key])
        .await
        .unwrap()
        .pop()
        .flatten()
        .unwrap();
    assert_eq!(row.get("a"), Some(&Value::Int64(7)));
    assert_eq!(store.high_water_mark("v").await.unwrap(), Some(42));
}

#[tokio::test]
async fn embedded_store_reports_a_bad_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = EmbeddedStore::open(&file).unwrap_err().to_string();
    assert!(err.contains("not-a-dir"), "{err}");
}

#[tokio::test]
async fn redis_store_reports_an_unreachable_server() {
    let err = tessera_online::RedisStore::connect("redis://127.0.0.1:1/0", "x:")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("127.0.0.1:1"), "{err}");
}
