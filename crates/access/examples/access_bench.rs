//! What the access layer adds to a read: `AccessLayer::read` (resolve, gate, plan by
//! provider, fetch, merge, audit) against `OnlineStore::read` on the same embedded store,
//! same keys, same features. Sequential reads on one task, after a warm-up.
//!
//! A third layer names the entities of each read in its audit record as keyed hashes
//! (`AccessLayerBuilder::entity_hasher`), to show what that costs.
//!
//! Run with `cargo run --release -p tessera-access --example access_bench [-- ITERATIONS]`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_access::{
    AccessConfig, AccessLayer, Caller, EntityRows, FeatureSelection, ReadRequest,
};
use tessera_audit::{AuditLog, AuditSink, SinkConfig};
use tessera_core::{Catalog, Definitions};
use tessera_online::{EmbeddedStore, EntityKey, KeyValue, OnlineStore, Stamp, Value, WriteBatch};

const FEATURES: usize = 8;
const USERS: i64 = 10_000;

fn definitions() -> String {
    let features: Vec<String> = (0..FEATURES)
        .map(|i| format!("{{ name: f{i}, type: float64, classification: internal }}"))
        .collect();
    format!(
        r#"
entities: [{{ name: user, join_keys: [user_id] }}]
sources: [{{ name: s, type: batch, path: s.parquet, timestamp_field: ts }}]
feature_views:
  - {{ name: user_stats, entities: [user], source: s, features: [{}] }}
purposes: [{{ name: ranking, allows: [internal] }}]
consumers: [{{ name: ranker, token_env: T, purposes: [ranking], default_purpose: ranking }}]
"#,
        features.join(", ")
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let p50 = percentile(&times, 0.5);
    println!(
        "{name:<44} p50 {:>7.1} µs   p99 {:>7.1} µs   max {:>8.1} µs",
        p50.as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
        times[times.len() - 1].as_secs_f64() * 1e6
    );
    p50
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(
        Catalog::build(vec![Definitions::from_yaml_str(
            &definitions(),
            "bench.yaml".as_ref(),
        )
        .unwrap()])
        .unwrap(),
    );
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("online")).unwrap());
    let names: Vec<String> = (0..FEATURES).map(|i| format!("f{i}")).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let mut batch = WriteBatch::new("user_stats", names.clone());
    for u in 0..USERS {
        batch.push(
            EntityKey::int("user_id", u),
            Stamp::new(now - 1_000_000, Stamp::NO_CREATED),
            (0..FEATURES)
                .map(|i| Value::Float64(u as f64 + i as f64))
                .collect(),
        );
    }
    store.write(batch).await.unwrap();
    let audit = Arc::new(
        AuditSink::spawn(
            AuditLog::new(&dir.path().join("audit")),
            SinkConfig::default(),
        )
        .unwrap(),
    );
    let access = AccessLayer::new(
        catalog.clone(),
        store.clone(),
        audit.clone(),
        AccessConfig::default(),
    );
    let hashed = AccessLayer::builder(catalog.clone(), audit.clone(), AccessConfig::default())
        .online_store(store.clone())
        .entity_hasher(Arc::new(tessera_core::EntityHasher::from_key(b"bench-key")))
        .build();
    let refs: Vec<String> = names.iter().map(|n| format!("user_stats:{n}")).collect();

    println!(
        "{iterations} sequential reads each, {FEATURES} features, embedded store of {USERS} users"
    );
    for entities in [1usize, 100] {
        let ids = |i: usize| -> Vec<i64> {
            (0..entities)
                .map(|k| ((i * 7919 + k * 104_729) % USERS as usize) as i64)
                .collect()
        };
        let mut raw = Vec::with_capacity(iterations);
        let mut layered = Vec::with_capacity(iterations);
        let mut with_digests = Vec::with_capacity(iterations);
        for i in 0..iterations + 1000 {
            let keys: Vec<EntityKey> = ids(i)
                .into_iter()
                .map(|u| EntityKey::int("user_id", u))
                .collect();
            let t = Instant::now();
            let rows = store.read("user_stats", &keys).await.unwrap();
            let e = t.elapsed();
            assert_eq!(rows.len(), entities);
            if i >= 1000 {
                raw.push(e);
            }
            let req = ReadRequest {
                features: FeatureSelection::Features(refs.clone()),
                entities: EntityRows::new(vec![(
                    "user_id".into(),
                    ids(i).into_iter().map(KeyValue::Int64).collect(),
                )])
                .unwrap(),
                context: Default::default(),
                purpose: None,
                caller: Caller::consumer("ranker"),
            };
            let req2 = ReadRequest {
                features: req.features.clone(),
                entities: req.entities.clone(),
                context: Default::default(),
                purpose: None,
                caller: Caller::consumer("ranker"),
            };
            let t = Instant::now();
            let r = access.read(req).await.unwrap();
            let e = t.elapsed();
            assert_eq!(r.columns.len(), FEATURES);
            if i >= 1000 {
                layered.push(e);
            }
            let t = Instant::now();
            let r = hashed.read(req2).await.unwrap();
            let e = t.elapsed();
            assert_eq!(r.columns.len(), FEATURES);
            if i >= 1000 {
                with_digests.push(e);
            }
        }
        let a = report(&format!("OnlineStore::read, {entities} entities"), raw);
        let b = report(&format!("AccessLayer::read, {entities} entities"), layered);
        println!(
            "  -> the access layer adds {:.1} µs at p50",
            (b.as_secs_f64() - a.as_secs_f64()) * 1e6
        );
        let c = report(
            &format!("AccessLayer::read + entity digests, {entities} entities"),
            with_digests,
        );
        println!(
            "  -> naming the entities as keyed hashes adds {:.1} µs at p50",
            (c.as_secs_f64() - b.as_secs_f64()) * 1e6
        );
    }
    audit.shutdown().await.unwrap();
}
