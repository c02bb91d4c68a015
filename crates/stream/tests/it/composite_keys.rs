//! A view keyed by two join keys (declared out of name order), with the entities of each
//! batch interleaved and out of time order: the engine groups a batch's rows by entity before
//! applying them, and each (user, item) pair must end with exactly its own events, through
//! the engine and through the online store.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use tessera_core::aggregate::Value;
use tessera_core::FeatureRepo;
use tessera_online::{aggregate_values, EmbeddedStore, EntityKey, KeyValue, OnlineStore};
use tessera_stream::{StreamConfig, StreamEngine};

use super::parity::{columns, write_repo, Ev};

const HOUR: i64 = 3_600_000_000;
const T0: i64 = 1_780_000_000_000_000;

const DEFS: &str = r#"
entities:
  - { name: user, join_keys: [user_id] }
  - { name: item, join_keys: [item_id] }
sources:
  - name: plays
    type: stream
    path: data/plays
    timestamp_field: ts
    stream:
      schema: { user_id: int64, item_id: int64, action: string, dwell_s: float64, event_id: string }
      event_id_field: event_id
      allowed_lateness: 1h
feature_views:
  - name: pair_plays
    entities: [user, item]
    source: plays
    classification: internal
    aggregations:
      - { function: count, windows: [1d] }
      - { column: dwell_s, function: sum, windows: [lifetime] }
purposes: [{ name: training, allows: [public, internal, personal] }]
"#;

fn key(user: i64, item: i64) -> EntityKey {
    EntityKey::new([
        ("user_id", KeyValue::Int64(user)),
        ("item_id", KeyValue::Int64(item)),
    ])
    .unwrap()
}

#[tokio::test]
async fn two_key_entities_interleaved_in_batches() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), DEFS);
    let now = T0 + 10 * HOUR;
    let clock = Arc::new(AtomicI64::new(now));
    let repo = FeatureRepo::load(d.path()).unwrap();
    let catalog = Arc::new(repo.catalog);
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&d.path().join(".tessera/online")).unwrap());
    let c = clock.clone();
    let config = StreamConfig {
        clock: Arc::new(move || c.load(std::sync::atomic::Ordering::SeqCst)),
        ..StreamConfig::default()
    };
    let engine = StreamEngine::open(d.path(), catalog.clone(), store.clone(), config)
        .await
        .unwrap();

    // 3 users × 3 items; in each batch the pairs alternate and times run backwards.
    let mut evs = Vec::new();
    let mut x = 11u64;
    for i in 0..600i64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (user, item) = (((x >> 33) % 3) as i64, ((x >> 40) % 3) as i64 + 100);
        evs.push(Ev {
            user,
            item,
            action: "play",
            dwell: Some((i % 7) as f64),
            ts: now - HOUR / 2 - (i % 50) * 1_000_000,
            id: format!("e{i}"),
        });
    }
    for batch in evs.chunks(97) {
        engine.ingest("plays", columns(batch)).await.unwrap();
    }
    engine.flush().await.unwrap();

    let mut want: BTreeMap<(i64, i64), (i64, f64)> = BTreeMap::new();
    for e in &evs {
        let w = want.entry((e.user, e.item)).or_default();
        w.0 += 1;
        w.1 += e.dwell.unwrap_or(0.0);
    }
    assert_eq!(want.len(), 9);
    let spec = catalog
        .view_spec(catalog.view("pair_plays").unwrap())
        .unwrap()
        .unwrap();
    let keys: Vec<EntityKey> = want.keys().map(|(u, i)| key(*u, *i)).collect();
    let rows = store.read("pair_plays", &keys).await.unwrap();
    for (((u, i), (n, sum)), row) in want.iter().zip(&rows) {
        let got = engine
            .values_at("pair_plays", &key(*u, *i), now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got[0], Value::Int64(*n), "engine count of ({u}, {i})");
        assert_eq!(got[1], Value::Float64(*sum), "engine sum of ({u}, {i})");
        let served = aggregate_values(row.as_ref(), &spec, now).unwrap();
        assert_eq!(served, got, "online store of ({u}, {i})");
    }
}
