//! Rough figures for the consent log: one synced append of N changes, single-change appends
//! (each synced), a cold load of the log, and gate lookups (keyed hash + index) per second.
//!
//! Run with `cargo run -p tessera-consent --example consent_bench [N]` (N default 100000).

use std::time::Instant;

use tessera_consent::{ConsentState, ConsentStore};
use tessera_core::EntityHasher;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("consent.jsonl");
    let hasher = EntityHasher::from_key(b"bench key");
    let store = ConsentStore::open_with(path.clone(), hasher.clone())?;

    let t = Instant::now();
    let digests: Vec<String> = (0..n)
        .map(|i| store.digest("user_id", &i.to_string()))
        .collect();
    let hashing = t.elapsed();
    let t = Instant::now();
    store.record("ads", ConsentState::Granted, 1_000, &digests)?;
    let bulk = t.elapsed();

    let singles = 200;
    let t = Instant::now();
    for d in digests.iter().take(singles) {
        store.record(
            "ads",
            ConsentState::Withdrawn,
            2_000,
            std::slice::from_ref(d),
        )?;
    }
    let single = t.elapsed() / singles as u32;

    let t = Instant::now();
    let cold = ConsentStore::open_with(path.clone(), hasher)?;
    let load = t.elapsed();

    let t = Instant::now();
    let mut granted = 0usize;
    for i in 0..n {
        let d = cold.digest("user_id", &i.to_string());
        granted += usize::from(cold.in_force(&d, "ads", 3_000));
    }
    let lookups = t.elapsed();
    assert_eq!(granted, n - singles);

    let bytes = std::fs::metadata(&path)?.len();
    println!(
        "entities: {n}; log: {} lines, {:.1} MiB",
        n + singles,
        bytes as f64 / 1_048_576.0
    );
    println!(
        "keyed hashes: {:.2} µs each",
        hashing.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "one synced append of {n} changes: {:.1} ms",
        bulk.as_secs_f64() * 1e3
    );
    println!(
        "single-change append (synced): {:.2} ms",
        single.as_secs_f64() * 1e3
    );
    println!("cold load of the log: {:.1} ms", load.as_secs_f64() * 1e3);
    println!(
        "gate check (hash + lookup): {:.2} µs per entity",
        lookups.as_secs_f64() * 1e6 / n as f64
    );
    Ok(())
}
