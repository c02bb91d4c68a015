//! Write and point-read throughput of the online stores, without the offline engine.
//!
//! Run with `cargo run --release -p tessera-online --example store_bench -- [KEYS] [redis://…]`.
//! Writes KEYS (default 1e6) users with 15 features (like bench/gen_data.py's `user_stats`)
//! in batches of 16 384 rows, writes them again (every row skipped), then reads 200 000
//! random single keys on one task and reports throughput and latency percentiles. With a
//! Redis URL it measures the Redis store too (keys under a unique prefix, removed after).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_online::{
    EmbeddedStore, EntityKey, OnlineStore, RedisStore, Stamp, Value, WriteBatch, WriteSummary,
};

/// Rows per write: materialisation's default (`tessera_materialize::DEFAULT_BATCH_ROWS`).
const DEFAULT_BATCH_ROWS: usize = 16_384;

fn batch(from: i64, to: i64, features: &[String]) -> WriteBatch {
    let mut b = WriteBatch::new("user_stats", features.to_vec());
    for u in from..to {
        let mut values: Vec<Value> = (0..10)
            .map(|j| Value::Float64(u as f64 * 0.5 + j as f64))
            .collect();
        values.extend((0..5).map(|j| Value::Int64(u * 7 + j)));
        b.push(
            EntityKey::int("user_id", u),
            Stamp::new(1_767_225_600_000_000 + u, 0),
            values,
        );
    }
    b
}

async fn write_all(
    store: &Arc<dyn OnlineStore>,
    keys: i64,
    features: &[String],
) -> (WriteSummary, Duration) {
    let t = Instant::now();
    let mut sum = WriteSummary::default();
    let step = DEFAULT_BATCH_ROWS as i64;
    for from in (0..keys).step_by(step as usize) {
        sum += store
            .write(batch(from, (from + step).min(keys), features))
            .await
            .unwrap();
    }
    (sum, t.elapsed())
}

async fn bench(name: &str, store: Arc<dyn OnlineStore>, keys: i64) {
    let features: Vec<String> = (0..10)
        .map(|j| format!("f{j}"))
        .chain((0..5).map(|j| format!("i{j}")))
        .collect();
    let (s, d) = write_all(&store, keys, &features).await;
    println!(
        "{name}: write {keys} rows: {:.2}s, {:.0} rows/s ({s:?})",
        d.as_secs_f64(),
        keys as f64 / d.as_secs_f64()
    );
    let (s, d) = write_all(&store, keys, &features).await;
    println!(
        "{name}: rewrite (all skipped): {:.2}s, {:.0} rows/s ({s:?})",
        d.as_secs_f64(),
        keys as f64 / d.as_secs_f64()
    );

    let reads = 200_000usize;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut lat = Vec::with_capacity(reads);
    let t = Instant::now();
    for _ in 0..reads {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = [EntityKey::int("user_id", (x % keys as u64) as i64)];
        let t1 = Instant::now();
        let row = store.read("user_stats", &key).await.unwrap();
        lat.push(t1.elapsed());
        assert!(row[0].is_some());
    }
    let total = t.elapsed();
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1e6;
    println!(
        "{name}: {reads} single-key reads (decoded, 15 features): {:.0} reads/s, p50 {:.1}µs, p99 {:.1}µs, p99.9 {:.1}µs",
        reads as f64 / total.as_secs_f64(),
        p(0.5),
        p(0.99),
        p(0.999)
    );
    let t = Instant::now();
    let n = 2_000;
    for i in 0..n {
        let keys: Vec<EntityKey> = (0..100)
            .map(|j| EntityKey::int("user_id", (i * 100 + j) % keys))
            .collect();
        store.read("user_stats", &keys).await.unwrap();
    }
    let d = t.elapsed();
    println!(
        "{name}: {n} reads of 100 keys: {:.0} keys/s, {:.0}µs per request",
        (n * 100) as f64 / d.as_secs_f64(),
        d.as_secs_f64() * 1e6 / n as f64
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keys: i64 = args.get(1).map_or(1_000_000, |s| s.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    bench(
        "embedded",
        Arc::new(EmbeddedStore::open(dir.path()).unwrap()),
        keys,
    )
    .await;
    if let Some(url) = args.get(2) {
        let prefix = format!("tessera-bench:{}:", std::process::id());
        let store = RedisStore::connect(url, &prefix).await.unwrap();
        bench("redis", Arc::new(store.clone()), keys).await;
        store.delete_all().await.unwrap();
    }
}
