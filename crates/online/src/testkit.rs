//! The conformance suite every [`OnlineStore`] backend must pass, written once.
//!
//! A backend's integration test opens a fresh, empty store and calls [`conformance`]; it
//! panics with a message naming the broken rule. The suite uses views named `conf_*`.
//!
//! ```no_run
//! # async fn t() {
//! let dir = tempfile::tempdir().unwrap();
//! let store = std::sync::Arc::new(tessera_online::EmbeddedStore::open(dir.path()).unwrap());
//! tessera_online::testkit::conformance(store).await;
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::entity_key::EntityKey;
use crate::feature_row::{FeatureRow, SelectedRow, Stamp};
use crate::online_store::{OnlineStore, WriteBatch, WriteSummary};
use tessera_value::KeyValue;
use tessera_value::Value;

/// Runs every check against `store`, which must be empty.
pub async fn conformance(store: Arc<dyn OnlineStore>) {
    newer_wins(store.as_ref()).await;
    newest_in_one_batch_wins(store.as_ref()).await;
    missing_keys_and_request_order(store.as_ref()).await;
    key_kinds_are_distinct(store.as_ref()).await;
    values_round_trip(store.as_ref()).await;
    changed_features(store.as_ref()).await;
    many_keys(store.as_ref()).await;
    delete_entity(store.as_ref()).await;
    future_rows_repair(store.as_ref()).await;
    high_water_marks(store.as_ref()).await;
    concurrent_writers(store).await;
}

fn user(id: i64) -> EntityKey {
    EntityKey::int("user_id", id)
}

fn one(view: &str, key: EntityKey, stamp: Stamp, a: i64) -> WriteBatch {
    let mut b = WriteBatch::new(view, vec!["a".to_string()]);
    b.push(key, stamp, vec![Value::Int64(a)]);
    b
}

async fn write(store: &dyn OnlineStore, batch: WriteBatch) -> WriteSummary {
    let name = store.name();
    store
        .write(batch)
        .await
        .unwrap_or_else(|e| panic!("{name}: write failed: {e:?}"))
}

async fn read(store: &dyn OnlineStore, view: &str, keys: &[EntityKey]) -> Vec<Option<FeatureRow>> {
    let name = store.name();
    let rows = store
        .read(view, keys)
        .await
        .unwrap_or_else(|e| panic!("{name}: read failed: {e:?}"));
    assert_eq!(rows.len(), keys.len(), "{name}: one result per key");
    selected_matches(store, view, keys, &rows).await;
    rows
}

/// `read_selected` of the same keys gives the same rows, restricted to the features asked
/// for (every feature the rows hold, in reverse order, and one no row holds).
async fn selected_matches(
    store: &dyn OnlineStore,
    view: &str,
    keys: &[EntityKey],
    rows: &[Option<FeatureRow>],
) {
    let name = store.name();
    let mut features: Vec<&str> = rows
        .iter()
        .flatten()
        .flat_map(|r| r.values.keys().map(String::as_str))
        .collect();
    features.sort_unstable();
    features.dedup();
    features.reverse();
    features.push("conf_no_such_feature");
    let encoded: Vec<Vec<u8>> = keys.iter().map(EntityKey::encode).collect();
    let selected = store
        .read_selected(view, &encoded, &features)
        .await
        .unwrap_or_else(|e| panic!("{name}: read_selected failed: {e:?}"));
    let expected: Vec<Option<SelectedRow>> = rows
        .iter()
        .map(|r| r.clone().map(|r| SelectedRow::from_row(r, &features)))
        .collect();
    assert_eq!(
        selected, expected,
        "{name}: read_selected differs from read"
    );
}

async fn read_one(store: &dyn OnlineStore, view: &str, key: EntityKey) -> Option<FeatureRow> {
    read(store, view, &[key]).await.pop().flatten()
}

const WROTE: WriteSummary = WriteSummary {
    written: 1,
    skipped: 0,
};
const SKIPPED: WriteSummary = WriteSummary {
    written: 0,
    skipped: 1,
};

async fn newer_wins(store: &dyn OnlineStore) {
    let n = store.name();
    let v = "conf_newer";
    let s = |e, c| Stamp::new(e, c);
    assert_eq!(
        write(store, one(v, user(1), s(10, 5), 1)).await,
        WROTE,
        "{n}: first write"
    );
    assert_eq!(
        write(store, one(v, user(1), s(9, 99), 2)).await,
        SKIPPED,
        "{n}: older event_ts is skipped"
    );
    assert_eq!(
        write(store, one(v, user(1), s(10, 4), 3)).await,
        SKIPPED,
        "{n}: equal event_ts, older created is skipped"
    );
    assert_eq!(
        write(store, one(v, user(1), s(10, 5), 4)).await,
        SKIPPED,
        "{n}: an equal stamp is skipped"
    );
    let row = read_one(store, v, user(1)).await.expect("row 1 exists");
    assert_eq!(
        (row.stamp, row.get("a")),
        (s(10, 5), Some(&Value::Int64(1))),
        "{n}: older writes changed nothing"
    );
    assert_eq!(
        write(store, one(v, user(1), s(10, 6), 5)).await,
        WROTE,
        "{n}: equal event_ts, newer created wins"
    );
    assert_eq!(
        read_one(store, v, user(1)).await.expect("row").get("a"),
        Some(&Value::Int64(5))
    );
    assert_eq!(
        write(store, one(v, user(1), s(11, Stamp::NO_CREATED), 6)).await,
        WROTE,
        "{n}: newer event_ts wins over any created"
    );
    let row = read_one(store, v, user(1)).await.expect("row");
    assert_eq!(
        (row.stamp, row.get("a")),
        (s(11, Stamp::NO_CREATED), Some(&Value::Int64(6)))
    );
    // Negative and extreme stamps order correctly too.
    assert_eq!(write(store, one(v, user(2), s(-5, 0), 1)).await, WROTE);
    assert_eq!(
        write(store, one(v, user(2), s(-6, i64::MAX), 2)).await,
        SKIPPED,
        "{n}: -6 < -5"
    );
    assert_eq!(
        write(store, one(v, user(2), s(i64::MAX, i64::MIN), 3)).await,
        WROTE
    );
    assert_eq!(
        read_one(store, v, user(2)).await.expect("row").get("a"),
        Some(&Value::Int64(3))
    );
}

async fn newest_in_one_batch_wins(store: &dyn OnlineStore) {
    let n = store.name();
    let mut b = WriteBatch::new("conf_batch", vec!["a".into()]);
    for (e, c, a) in [(5, 0, 1), (7, 0, 2), (6, 9, 3), (7, -1, 4), (7, 0, 5)] {
        b.push(user(1), Stamp::new(e, c), vec![Value::Int64(a)]);
    }
    b.push(user(2), Stamp::new(1, 1), vec![Value::Int64(9)]);
    let sum = write(store, b).await;
    assert_eq!(
        sum.written + sum.skipped,
        6,
        "{n}: every row is counted once: {sum:?}"
    );
    let row = read_one(store, "conf_batch", user(1)).await.expect("row");
    assert_eq!(
        (row.stamp, row.get("a")),
        (Stamp::new(7, 0), Some(&Value::Int64(2))),
        "{n}: the newest row of a batch wins; among equal stamps the first"
    );
    let empty = WriteBatch::new("conf_batch", vec!["a".into()]);
    assert_eq!(
        write(store, empty).await,
        WriteSummary::default(),
        "{n}: an empty batch is fine"
    );
}

async fn missing_keys_and_request_order(store: &dyn OnlineStore) {
    let n = store.name();
    let v = "conf_order";
    let mut b = WriteBatch::new(v, vec!["a".into()]);
    for id in 1..=3 {
        b.push(user(id), Stamp::new(id, 0), vec![Value::Int64(id * 10)]);
    }
    assert_eq!(write(store, b).await.written, 3);
    let keys = [user(3), user(99), user(1), user(3), user(2)];
    let got: Vec<Option<i64>> = read(store, v, &keys)
        .await
        .into_iter()
        .map(|r| {
            r.map(|r| match r.get("a") {
                Some(Value::Int64(a)) => *a,
                other => panic!("{n}: {other:?}"),
            })
        })
        .collect();
    assert_eq!(
        got,
        vec![Some(30), None, Some(10), Some(30), Some(20)],
        "{n}: request order, None for missing"
    );
    assert!(
        read(store, "conf_no_such_view", &keys)
            .await
            .iter()
            .all(Option::is_none),
        "{n}: unknown view reads as missing"
    );
    assert!(read(store, v, &[]).await.is_empty(), "{n}: empty request");
    let many: Vec<EntityKey> = (0..500).map(user).collect();
    let rows = read(store, v, &many).await;
    assert_eq!(
        rows.iter().filter(|r| r.is_some()).count(),
        3,
        "{n}: a large read"
    );
}

async fn key_kinds_are_distinct(store: &dyn OnlineStore) {
    let n = store.name();
    let v = "conf_keys";
    let composite = |u: i64, i: &str| {
        EntityKey::new([
            ("user_id", KeyValue::from(u)),
            ("item_id", KeyValue::from(i)),
        ])
        .expect("key")
    };
    write(store, one(v, user(1), Stamp::new(1, 0), 1)).await;
    write(
        store,
        one(v, EntityKey::string("user_id", "1"), Stamp::new(1, 0), 2),
    )
    .await;
    write(
        store,
        one(v, EntityKey::int("item_id", 1), Stamp::new(1, 0), 3),
    )
    .await;
    write(store, one(v, composite(1, "x"), Stamp::new(1, 0), 4)).await;
    let keys = [
        user(1),
        EntityKey::string("user_id", "1"),
        EntityKey::int("item_id", 1),
        composite(1, "x"),
        composite(1, "y"),
        EntityKey::string("user_id", "x\u{0}y:*"),
    ];
    let got: Vec<Option<Value>> = read(store, v, &keys)
        .await
        .into_iter()
        .map(|r| r.and_then(|r| r.get("a").cloned()))
        .collect();
    let i = |a| Some(Value::Int64(a));
    assert_eq!(
        got,
        vec![i(1), i(2), i(3), i(4), None, None],
        "{n}: int/string/name/composite keys never collide"
    );
}

fn every_kind_of_value() -> (Vec<String>, Vec<Value>) {
    let values = vec![
        Value::Null,
        Value::Bool(true),
        Value::Int64(i64::MIN),
        Value::Float64(-0.25),
        Value::String("naïve \u{0} text".into()),
        Value::Bytes(vec![0, 1, 255]),
        Value::Timestamp(1_767_225_600_000_000),
        Value::List(vec![Value::Float64(1.0), Value::Null, Value::List(vec![])]),
        Value::String(String::new()),
        Value::String("x".repeat(100_000)),
    ];
    let names = (0..values.len()).map(|i| format!("f{i}")).collect();
    (names, values)
}

async fn values_round_trip(store: &dyn OnlineStore) {
    let n = store.name();
    let (names, values) = every_kind_of_value();
    let mut b = WriteBatch::new("conf_values", names.clone());
    b.push(user(1), Stamp::new(1, 1), values.clone());
    write(store, b).await;
    let row = read_one(store, "conf_values", user(1)).await.expect("row");
    let expected: BTreeMap<String, Value> = names.into_iter().zip(values).collect();
    assert_eq!(
        row.values, expected,
        "{n}: every kind of value survives the store"
    );

    let mut bad = WriteBatch::new("conf_values", vec!["a".into(), "b".into()]);
    bad.push(user(2), Stamp::new(1, 1), vec![Value::Null]);
    assert!(
        store.write(bad).await.is_err(),
        "{n}: a row with too few values is refused"
    );
}

async fn changed_features(store: &dyn OnlineStore) {
    let n = store.name();
    let v = "conf_changed";
    let mut b = WriteBatch::new(v, vec!["f1".into(), "f2".into()]);
    b.push(
        user(1),
        Stamp::new(1, 0),
        vec![Value::Int64(1), Value::Int64(2)],
    );
    write(store, b).await;
    // The view gains f3 (and the reader asks for it before anything wrote it).
    let row = read_one(store, v, user(1)).await.expect("row");
    assert_eq!(
        (row.get("f1"), row.get("f2"), row.get("f3")),
        (Some(&Value::Int64(1)), Some(&Value::Int64(2)), None),
        "{n}: a new feature reads as missing, not misaligned"
    );
    // The view drops f2 and reorders: the newer row replaces the whole row.
    let mut b = WriteBatch::new(v, vec!["f3".into(), "f1".into()]);
    b.push(
        user(1),
        Stamp::new(2, 0),
        vec![Value::Int64(30), Value::Int64(10)],
    );
    write(store, b).await;
    let row = read_one(store, v, user(1)).await.expect("row");
    assert_eq!(
        (row.get("f1"), row.get("f2"), row.get("f3")),
        (Some(&Value::Int64(10)), None, Some(&Value::Int64(30))),
        "{n}: values follow names after a schema change"
    );
}

/// A row stamped far in the future pins its entity ("newer wins" skips every real write);
/// [`OnlineStore::future_rows`] finds such rows, and drops them so real writes land again.
async fn future_rows_repair(store: &dyn OnlineStore) {
    let n = store.name();
    let v = "conf_future";
    let (now, far) = (1_000_000, 253_402_300_799_000_000);
    let s = |t| Stamp::new(t, Stamp::NO_CREATED);
    for u in 1..=4 {
        write(store, one(v, user(u), s(now - 10), 1)).await;
    }
    write(store, one(v, user(2), s(far), 2)).await;
    write(store, one(v, user(4), s(far + 1), 2)).await;
    write(store, one("conf_future_other", user(2), s(far), 2)).await;
    assert_eq!(
        write(store, one(v, user(2), s(now), 3)).await,
        SKIPPED,
        "{n}: a real write behind the pinned row is skipped"
    );
    let pinned = vec![(user(2), s(far)), (user(4), s(far + 1))];
    let found = store.future_rows(v, &[], now, false).await;
    assert_eq!(
        found.expect("list"),
        pinned,
        "{n}: the whole view is scanned"
    );
    let found = store
        .future_rows(v, &[user(4), user(1), user(9)], now, false)
        .await;
    assert_eq!(
        found.expect("list"),
        vec![(user(4), s(far + 1))],
        "{n}: only the keys asked"
    );
    assert!(
        read_one(store, v, user(2)).await.is_some(),
        "{n}: listing drops nothing"
    );
    let dropped = store.future_rows(v, &[user(2)], now, true).await;
    assert_eq!(
        dropped.expect("drop"),
        vec![(user(2), s(far))],
        "{n}: drop one key"
    );
    assert!(
        read_one(store, v, user(2)).await.is_none(),
        "{n}: the pinned row is gone"
    );
    assert!(
        read_one(store, v, user(4)).await.is_some(),
        "{n}: other keys stay"
    );
    assert!(
        read_one(store, "conf_future_other", user(2))
            .await
            .is_some(),
        "{n}: other views stay"
    );
    assert_eq!(
        write(store, one(v, user(2), s(now), 3)).await,
        WROTE,
        "{n}: a real write lands after the repair"
    );
    let dropped = store.future_rows(v, &[], now, true).await;
    assert_eq!(dropped.expect("drop"), vec![(user(4), s(far + 1))]);
    let left = store.future_rows(v, &[], now, false).await;
    assert_eq!(
        left.expect("list"),
        vec![],
        "{n}: nothing beyond the bound is left"
    );
    let rows = read(store, v, &[user(1), user(3)]).await;
    assert!(
        rows.iter().all(Option::is_some),
        "{n}: rows within the bound stay"
    );
    let none = store
        .future_rows("conf_future_missing", &[], now, true)
        .await;
    assert_eq!(
        none.expect("missing view"),
        vec![],
        "{n}: an unknown view has none"
    );
}

/// A read of more keys than one inline read takes gives one row per key, in order.
async fn many_keys(store: &dyn OnlineStore) {
    let name = store.name();
    let mut b = WriteBatch::new("conf_many", vec!["a".to_string(), "b".to_string()]);
    for id in (0..100).step_by(2) {
        b.push(
            user(id),
            Stamp::new(id, Stamp::NO_CREATED),
            vec![Value::Int64(id), Value::String(format!("u{id}"))],
        );
    }
    write(store, b).await;
    let keys: Vec<EntityKey> = (0..100).rev().map(user).collect();
    let rows = read(store, "conf_many", &keys).await;
    for (key, row) in keys.iter().zip(&rows) {
        let id = match key.parts()[0].1 {
            KeyValue::Int64(id) => id,
            KeyValue::String(_) => unreachable!("integer keys"),
        };
        let got = row.as_ref().and_then(|r| r.get("a").cloned());
        let want = (id % 2 == 0).then_some(Value::Int64(id));
        assert_eq!(got, want, "{name}: many keys, in request order");
    }
}

async fn delete_entity(store: &dyn OnlineStore) {
    let n = store.name();
    let composite = |u: i64, i: i64| {
        EntityKey::new([
            ("user_id", KeyValue::from(u)),
            ("item_id", KeyValue::from(i)),
        ])
        .expect("key")
    };
    for v in ["conf_del_a", "conf_del_b"] {
        write(store, one(v, user(7), Stamp::new(1, 0), 1)).await;
        write(store, one(v, user(8), Stamp::new(1, 0), 1)).await;
    }
    let mut b = WriteBatch::new("conf_del_pairs", vec!["a".into()]);
    for (u, i) in [(7, 1), (7, 2), (8, 1)] {
        b.push(composite(u, i), Stamp::new(1, 0), vec![Value::Int64(1)]);
    }
    write(store, b).await;
    write(
        store,
        one(
            "conf_del_items",
            EntityKey::int("item_id", 7),
            Stamp::new(1, 0),
            1,
        ),
    )
    .await;

    let removed = store.delete_entity(&user(7)).await.expect("delete");
    assert_eq!(
        removed, 4,
        "{n}: user 7 is erased from both views and both of its pairs"
    );
    for v in ["conf_del_a", "conf_del_b"] {
        let rows = read(store, v, &[user(7), user(8)]).await;
        assert!(
            rows[0].is_none() && rows[1].is_some(),
            "{n}: {v}: only user 7 is gone"
        );
    }
    let pairs = read(
        store,
        "conf_del_pairs",
        &[composite(7, 1), composite(7, 2), composite(8, 1)],
    )
    .await;
    assert_eq!(
        pairs.iter().map(Option::is_some).collect::<Vec<_>>(),
        vec![false, false, true],
        "{n}: composite keys holding user 7 are gone"
    );
    assert!(
        read_one(store, "conf_del_items", EntityKey::int("item_id", 7))
            .await
            .is_some(),
        "{n}: item 7 is another entity"
    );
    assert_eq!(
        store.delete_entity(&user(7)).await.expect("delete"),
        0,
        "{n}: erasing twice is fine"
    );
    // A deleted entity can be written again.
    assert_eq!(
        write(store, one("conf_del_a", user(7), Stamp::new(0, 0), 2)).await,
        WROTE,
        "{n}: rewrite after erase"
    );
}

async fn high_water_marks(store: &dyn OnlineStore) {
    let n = store.name();
    let get = |v: &'static str| async move { store.high_water_mark(v).await.expect("hwm") };
    assert_eq!(
        get("conf_hwm_a").await,
        None,
        "{n}: no mark before the first"
    );
    store
        .set_high_water_mark("conf_hwm_a", 1_000)
        .await
        .expect("set");
    store
        .set_high_water_mark("conf_hwm_b", -5)
        .await
        .expect("set");
    assert_eq!(
        (get("conf_hwm_a").await, get("conf_hwm_b").await),
        (Some(1_000), Some(-5)),
        "{n}: marks are per view"
    );
    store
        .set_high_water_mark("conf_hwm_a", 2_000)
        .await
        .expect("set");
    assert_eq!(get("conf_hwm_a").await, Some(2_000), "{n}: a mark moves");
}

/// Several tasks write overlapping keys with scrambled stamps; afterwards every key holds the
/// greatest stamp any task wrote for it, with that row's values.
async fn concurrent_writers(store: Arc<dyn OnlineStore>) {
    const TASKS: u64 = 6;
    const BATCHES: u64 = 20;
    const KEYS: i64 = 25;
    let n = store.name();
    let v = "conf_concurrent";
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut x = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t + 1);
            let mut written: Vec<(i64, Stamp)> = Vec::new();
            let mut sum = WriteSummary::default();
            for _ in 0..BATCHES {
                let mut b = WriteBatch::new(v, vec!["e".into(), "c".into()]);
                for _ in 0..30 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = (x % KEYS as u64) as i64;
                    let stamp = Stamp::new(((x >> 8) % 50) as i64, ((x >> 20) % 4) as i64);
                    b.push(
                        user(key),
                        stamp,
                        vec![Value::Int64(stamp.event_ts), Value::Int64(stamp.created_ts)],
                    );
                    written.push((key, stamp));
                }
                sum += store
                    .write(b)
                    .await
                    .expect("a concurrent write never fails");
                tokio::task::yield_now().await;
            }
            (written, sum)
        }));
    }
    let mut newest: BTreeMap<i64, Stamp> = BTreeMap::new();
    let mut total = WriteSummary::default();
    for h in handles {
        let (written, sum) = h.await.expect("task");
        total += sum;
        for (k, s) in written {
            let e = newest.entry(k).or_insert(s);
            *e = (*e).max(s);
        }
    }
    assert_eq!(
        total.written + total.skipped,
        TASKS * BATCHES * 30,
        "{n}: every row counted"
    );
    let keys: Vec<EntityKey> = newest.keys().map(|&k| user(k)).collect();
    let rows = read(store.as_ref(), v, &keys).await;
    for ((k, s), row) in newest.iter().zip(rows) {
        let row = row.unwrap_or_else(|| panic!("{n}: key {k} lost"));
        assert_eq!(row.stamp, *s, "{n}: key {k} holds the newest stamp");
        assert_eq!(
            (row.get("e"), row.get("c")),
            (
                Some(&Value::Int64(s.event_ts)),
                Some(&Value::Int64(s.created_ts))
            ),
            "{n}: key {k} holds the newest row's values"
        );
    }
}

/// The Redis server tests use: `TESSERA_REDIS_URL`, default `redis://127.0.0.1:6379/0`.
#[cfg(feature = "redis")]
pub fn redis_url() -> String {
    std::env::var("TESSERA_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_string())
}

/// A Redis store on the test server under a key prefix unique to this call (`test` names
/// the caller). Fails saying which service is missing when Redis is not running: start it
/// (`scripts/services.sh`) or point `TESSERA_REDIS_URL` at one.
#[cfg(feature = "redis")]
pub async fn fresh_redis_store(test: &str) -> crate::RedisStore {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let prefix = format!(
        "tessera-test:{test}:{}:{nanos}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let url = redis_url();
    crate::RedisStore::connect(&url, &prefix)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis not reachable at {url}: start it with scripts/services.sh (or point TESSERA_REDIS_URL at one). Cause: {e}"
            )
        })
}
