//! Retention on the real stores: `rows_before` lists and drops the rows whose event time is
//! before a cutoff — one second outside goes, one second inside, exactly at the cutoff and
//! far in the future stay, before 1970 goes — on the embedded store and Redis alike.

use std::sync::Arc;

use tessera_online::{testkit, EmbeddedStore, EntityKey, OnlineStore, Stamp, Value, WriteBatch};

const CUTOFF: i64 = 1_780_000_000_000_000;
const SEC: i64 = 1_000_000;

async fn check(store: Arc<dyn OnlineStore>) {
    let rows = [
        ("outside", CUTOFF - SEC),
        ("before-1970", -SEC),
        ("at-cutoff", CUTOFF),
        ("inside", CUTOFF + SEC),
        ("far-future", i64::MAX - 1),
    ];
    let mut batch = WriteBatch::new("v", vec!["x".into()]);
    for (k, ts) in rows {
        batch.push(
            EntityKey::string("user_id", k),
            Stamp::new(ts, 0),
            vec![Value::Int64(1)],
        );
    }
    store.write(batch).await.unwrap();
    // Another view is left alone.
    let mut other = WriteBatch::new("w", vec!["x".into()]);
    other.push(
        EntityKey::string("user_id", "outside"),
        Stamp::new(CUTOFF - SEC, 0),
        vec![Value::Int64(2)],
    );
    store.write(other).await.unwrap();

    let mut listed: Vec<String> = store
        .rows_before("v", CUTOFF, false)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k.to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, ["user_id=\"before-1970\"", "user_id=\"outside\""]);
    let dropped = store.rows_before("v", CUTOFF, true).await.unwrap();
    assert_eq!(dropped.len(), 2);
    let keys: Vec<EntityKey> = rows
        .iter()
        .map(|(k, _)| EntityKey::string("user_id", k))
        .collect();
    let left: Vec<bool> = store
        .read("v", &keys)
        .await
        .unwrap()
        .iter()
        .map(Option::is_some)
        .collect();
    assert_eq!(left, [false, false, true, true, true]);
    assert!(store
        .rows_before("v", CUTOFF, true)
        .await
        .unwrap()
        .is_empty());
    let w = store
        .read("w", &[EntityKey::string("user_id", "outside")])
        .await
        .unwrap();
    assert!(w[0].is_some(), "only the named view is touched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_drops_rows_older_than_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    check(Arc::new(EmbeddedStore::open(dir.path()).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_drops_rows_older_than_the_cutoff() {
    let store = testkit::fresh_redis_store("retention").await;
    check(Arc::new(store.clone())).await;
    store.delete_all().await.unwrap();
}
