//! What minimisation adds to an online read: the same `AccessLayer::read` of the same keys
//! and features, once for a purpose that reads them raw (`ranking`) and once for a purpose
//! that minimises seven of the eight (`analytics`: bucketize, coarsen, truncate, round, clip,
//! keep/other, pseudonymise), interleaved round by round (the order alternates), after a
//! warm-up. Both reads are audited; the minimised one's record also names each transform.
//!
//! Run with `cargo run --release -p tessera-access --no-default-features --example minimise_bench [-- ITERATIONS [PURPOSE [ENTITIES]]]`.
//!
//! With a PURPOSE (`ranking` or `analytics`) only that purpose's reads run: for counting
//! instructions under `valgrind --tool=callgrind`, one run per purpose, which a loaded
//! machine cannot disturb (`bench/minimise_callgrind.sh`).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_access::{
    AccessConfig, AccessLayer, Caller, EntityRows, FeatureSelection, ReadRequest,
};
use tessera_audit::{AuditLog, AuditSink, SinkConfig};
use tessera_core::{Catalog, Definitions};
use tessera_online::{EmbeddedStore, EntityKey, KeyValue, OnlineStore, Stamp, Value, WriteBatch};

const USERS: i64 = 10_000;

const DEFINITIONS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources: [{ name: s, type: batch, path: s.parquet, timestamp_field: ts }]
feature_views:
  - name: user_profile
    entities: [user]
    source: s
    features:
      - { name: age, type: int64, classification: personal }
      - { name: last_seen, type: timestamp, classification: personal }
      - { name: postcode, type: string, classification: personal }
      - { name: lat, type: float64, classification: personal }
      - { name: plays_30d, type: int64, classification: internal }
      - { name: country, type: string, classification: personal }
      - { name: user_ref, type: string, classification: sensitive }
      - { name: score, type: float64, classification: internal }
purposes:
  - { name: ranking, allows: [public, internal, personal, sensitive] }
  - name: analytics
    allows: [public, internal]
    minimise:
      user_profile:age:        { bucketize: [18, 25, 35, 50, 65] }
      user_profile:last_seen:  { coarsen: 1d }
      user_profile:postcode:   { truncate: 3 }
      user_profile:lat:        { round: 0.1 }
      user_profile:plays_30d:  { clip: [0, 500] }
      user_profile:country:    { keep: [US, GB, DE, FR, JP], other: other }
      user_profile:user_ref:   { pseudonymise: { key_env: TESSERA_BENCH_PSEUDONYM_KEY } }
consumers: [{ name: app, token_env: T, purposes: [ranking, analytics] }]
"#;

const FEATURES: [&str; 8] = [
    "age",
    "last_seen",
    "postcode",
    "lat",
    "plays_30d",
    "country",
    "user_ref",
    "score",
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!(
        "{name:<40} p50 {:>7.1} µs   p99 {:>7.1} µs",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
    );
    (p50, p99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let only: Option<String> = std::env::args().nth(2);
    let sizes: Vec<usize> = match std::env::args().nth(3).and_then(|a| a.parse().ok()) {
        Some(n) => vec![n],
        None => vec![1, 100],
    };
    std::env::set_var(
        "TESSERA_BENCH_PSEUDONYM_KEY",
        "bench-key-0123456789abcdef0123456789",
    );
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(
        Catalog::build(vec![Definitions::from_yaml_str(
            DEFINITIONS,
            "bench.yaml".as_ref(),
        )
        .unwrap()])
        .unwrap(),
    );
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("online")).unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let countries = ["US", "GB", "NZ", "BR", "JP", "DE"];
    let mut batch = WriteBatch::new(
        "user_profile",
        FEATURES.iter().map(|s| s.to_string()).collect(),
    );
    for u in 0..USERS {
        batch.push(
            EntityKey::int("user_id", u),
            Stamp::new(now - 1_000_000, Stamp::NO_CREATED),
            vec![
                Value::Int64(u % 90),
                Value::Timestamp(now - u * 3_600_000_000),
                Value::String(format!("SW{} {}AA", u % 20, u % 9)),
                Value::Float64(51.0 + (u % 1000) as f64 / 997.0),
                Value::Int64(u % 1200),
                Value::String(countries[(u % 6) as usize].into()),
                Value::String(format!("ref-{u}")),
                Value::Float64(u as f64 / 7.0),
            ],
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
    let access = AccessLayer::new(catalog, store, audit.clone(), AccessConfig::default());
    let refs: Vec<String> = FEATURES
        .iter()
        .map(|n| format!("user_profile:{n}"))
        .collect();
    let request = |ids: &[i64], purpose: &str| ReadRequest {
        features: FeatureSelection::Features(refs.clone()),
        entities: EntityRows::new(vec![(
            "user_id".into(),
            ids.iter().copied().map(KeyValue::Int64).collect(),
        )])
        .unwrap(),
        context: Default::default(),
        purpose: Some(purpose.into()),
        caller: Caller::consumer("app"),
    };

    println!(
        "{iterations} interleaved rounds, 8 features (7 minimised for analytics), embedded store of {USERS} users"
    );
    for entities in sizes {
        let ids = |i: usize| -> Vec<i64> {
            (0..entities)
                .map(|k| ((i * 7919 + k * 104_729) % USERS as usize) as i64)
                .collect()
        };
        let mut raw = Vec::with_capacity(iterations);
        let mut minimised = Vec::with_capacity(iterations);
        for i in 0..iterations + 1000 {
            let keys = ids(i);
            let one = |purpose: &'static str| {
                let req = request(&keys, purpose);
                let access = &access;
                async move {
                    let t = Instant::now();
                    let r = access.read(req).await.unwrap();
                    let e = t.elapsed();
                    assert_eq!(r.columns.len(), FEATURES.len());
                    e
                }
            };
            if let Some(p) = only.as_deref() {
                let p: &'static str = if p == "ranking" {
                    "ranking"
                } else {
                    "analytics"
                };
                let t = one(p).await;
                if i >= 1000 {
                    raw.push(t);
                }
                continue;
            }
            let (r, m) = if i % 2 == 0 {
                let r = one("ranking").await;
                (r, one("analytics").await)
            } else {
                let m = one("analytics").await;
                (one("ranking").await, m)
            };
            if i >= 1000 {
                raw.push(r);
                minimised.push(m);
            }
        }
        if let Some(p) = only.as_deref() {
            report(&format!("{p} only, {entities} entities"), raw);
            continue;
        }
        let (a50, a99) = report(&format!("raw (ranking), {entities} entities"), raw);
        let (b50, b99) = report(
            &format!("minimised (analytics), {entities} entities"),
            minimised,
        );
        println!(
            "  -> minimised / raw: p50 {:.3} ({:+.1} µs), p99 {:.3}",
            b50.as_secs_f64() / a50.as_secs_f64(),
            (b50.as_secs_f64() - a50.as_secs_f64()) * 1e6,
            b99.as_secs_f64() / a99.as_secs_f64(),
        );
    }
    audit.shutdown().await.unwrap();
}
