//! What waiting for the audit record costs a request: `AuditSink::record` latency at a fixed
//! concurrency, for each `SyncMode`.
//!
//! ```text
//! cargo run --release -p tessera-audit --example sink_bench -- DIR [CONCURRENCY] [SECONDS]
//! ```
//! Each of CONCURRENCY tasks records one read-sized record after another for SECONDS per
//! mode; prints p50, p99, p99.9, records/s, and the mean group (records per write).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_audit::{AuditLog, AuditRecord, AuditSink, SinkConfig, SyncMode};

fn pct(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)] as f64 / 1e3
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = std::path::PathBuf::from(&args[1]);
    let conc: usize = args.get(2).map_or(16, |a| a.parse().unwrap());
    let secs: u64 = args.get(3).map_or(10, |a| a.parse().unwrap());
    for (name, sync) in [
        ("none", SyncMode::None),
        ("batch", SyncMode::Batch),
        ("always", SyncMode::Always),
    ] {
        let dir = root.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let sink = Arc::new(
            AuditSink::spawn(
                AuditLog::new(&dir),
                SinkConfig {
                    sync,
                    ..SinkConfig::default()
                },
            )
            .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..conc)
            .map(|_| {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    while Instant::now() < deadline {
                        let mut r = AuditRecord::now("online_read", "ranker", "ranking");
                        r.features = (0..15).map(|f| format!("user_stats:f{f}")).collect();
                        r.rows = 1;
                        let t = Instant::now();
                        sink.record(r).await.unwrap();
                        lat.push(t.elapsed().as_nanos() as u64);
                    }
                    lat
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort_unstable();
        let s = sink.stats();
        let (written, groups) = (
            s.written.load(Ordering::Relaxed),
            s.groups.load(Ordering::Relaxed).max(1),
        );
        println!(
            "sync={name:<6} concurrency={conc}: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, {:.0} records/s, {:.1} records per write, {} syncs",
            pct(&all, 0.50),
            pct(&all, 0.99),
            pct(&all, 0.999),
            all.len() as f64 / secs as f64,
            written as f64 / groups as f64,
            s.syncs.load(Ordering::Relaxed)
        );
        sink.shutdown().await.unwrap();
    }
}
