//! `tail -n N` of a large audit log: backwards from the end (what `AuditLog::read_tail`
//! does) against reading every record and keeping the last N (what it did before).
//!
//! ```text
//! cargo run --release -p tessera-audit --example tail_bench -- gen  DIR 220   # a 220 MB log
//! cargo run --release -p tessera-audit --example tail_bench -- tail DIR 2     # backwards
//! cargo run --release -p tessera-audit --example tail_bench -- full DIR 2     # whole log
//! ```
//! Each run prints its time and the process's peak resident memory (run them as separate
//! processes, so that each peak is its own).

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::time::Instant;

use tessera_audit::{AuditDecision, AuditLog, AuditQuery, AuditRecord};

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, dir) = (args[1].as_str(), Path::new(&args[2]));
    let n: u64 = args[3].parse().unwrap();
    let log = AuditLog::new(dir);
    let started = Instant::now();
    match mode {
        "gen" => {
            let mut written = 0u64;
            let mut i = 0u64;
            while written < n << 20 {
                let batch: Vec<AuditRecord> = (0..10_000)
                    .map(|k| {
                        let mut r = AuditRecord::now("online_read", "ranker", "ranking");
                        r.features = (0..15).map(|f| format!("user_stats:f{f}")).collect();
                        r.rows = i + k;
                        r.latency_us = 180;
                        if k % 100 == 0 {
                            r.decision = AuditDecision::Deny;
                            r.reasons = vec!["purpose `analytics` does not allow personal".into()];
                        }
                        r
                    })
                    .collect();
                i += 10_000;
                log.append_all(&batch, false).unwrap();
                written = std::fs::metadata(log.path()).unwrap().len();
            }
            println!("wrote {i} records, {} MB", written >> 20);
        }
        "tail" => {
            let got = log.tail(n as usize).unwrap();
            println!(
                "tail -n {n} backwards: {} records, {:.2} ms, peak RSS {:.1} MB",
                got.len(),
                started.elapsed().as_secs_f64() * 1e3,
                peak_rss_mb()
            );
        }
        "full" => {
            let mut all = log.read(&AuditQuery::default()).unwrap().records;
            let got = all.split_off(all.len().saturating_sub(n as usize));
            println!(
                "tail -n {n} reading the whole log: {} records, {:.2} ms, peak RSS {:.1} MB",
                got.len(),
                started.elapsed().as_secs_f64() * 1e3,
                peak_rss_mb()
            );
        }
        other => panic!("unknown mode {other}: gen | tail | full"),
    }
}
