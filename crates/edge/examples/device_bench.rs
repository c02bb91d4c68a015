//! Device runtime benchmarks (run in release):
//!
//! ```sh
//! cargo run --release -p tessera-edge --example device_bench
//! ```
//!
//! 1. Cold start: a device directory whose local store holds 10,000 entities (one
//!    aggregation state each, plus one latest row each) is opened and answers its first
//!    read: `Device::open` + the first `get` of 10 local features, 20 times; median and
//!    max. Each run then closes the device (`Device::close`, not timed), which shuts the
//!    store down before returning, so no run waits for the previous one's shutdown.
//! 2. `get` of 20 features for one entity, in process: 10 device features (window
//!    aggregations from the local store) and 10 cloud features (fresh in the cache, so no
//!    network call), 100,000 reads after a warm-up; p50, p99, p99.9 and max.
//!
//! Built with mimalloc as the global allocator (as the `tessera` binary is). The cloud is a
//! stand-in HTTP server on a loopback port that answers the first read; the benchmark
//! checks that the timed reads made no further call. It prints the load average first: the
//! tail (p99 and above) follows the machine's load. For a load-independent figure, run it
//! under `valgrind --tool=callgrind` and divide `Device::get`'s inclusive instruction count
//! by its calls (figures in `docs/BENCHMARKS.md`, "Device runtime").

use std::io::{Read, Write};

/// The allocator the `tessera` binary uses; an app embedding the device picks its own.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use tessera_edge::{catalog_from_yaml, Device, DeviceConfig, Event, Status};
use tessera_online::KeyValue;

const YAML: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - name: plays
    type: device
    timestamp_field: ts
    device: { schema: { user_id: int64, item_id: int64, dwell_s: int64, action: string, genre: string } }
  - name: context
    type: device
    timestamp_field: ts
    device: { schema: { user_id: int64, locale: string } }
  - { name: daily, type: batch, path: daily.csv, timestamp_field: ts }
feature_views:
  - name: recent
    entities: [user]
    source: plays
    classification: personal
    aggregations:
      - { function: count, windows: [1h, 1d], placement: device_only }
      - { column: dwell_s, function: sum, windows: [1h, 1d], placement: device_only }
      - { column: dwell_s, function: mean, windows: [1d], placement: device_only }
      - { column: item_id, function: last_k, k: 5, windows: [1d], placement: device_only }
      - { column: genre, function: count_distinct, windows: [1d], placement: device_only }
      - { function: count, windows: [1h], filter: "action = 'skip'", name: skips, placement: device_only }
      - { column: dwell_s, function: p90, windows: [1d], placement: device_only }
      - { column: dwell_s, function: max, windows: [7d], placement: device_only }
  - name: session
    entities: [user]
    source: context
    features: [{ name: locale, type: string, classification: personal, placement: device_only }]
  - name: history
    entities: [user]
    source: daily
    features:
      - { name: f0, type: int64, classification: personal }
      - { name: f1, type: int64, classification: personal }
      - { name: f2, type: int64, classification: personal }
      - { name: f3, type: int64, classification: personal }
      - { name: f4, type: int64, classification: personal }
      - { name: f5, type: int64, classification: personal }
      - { name: f6, type: int64, classification: personal }
      - { name: f7, type: int64, classification: personal }
      - { name: f8, type: int64, classification: personal }
      - { name: f9, type: int64, classification: personal }
purposes: [{ name: ranking, allows: [public, internal, personal] }]
"#;

/// A stand-in cloud: answers `POST /v1/features` with `key * 10` for every feature.
fn cloud() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
    });
    url
}

fn serve(mut s: std::net::TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let req: serde_json::Value =
            serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap_or_default();
        buf.drain(..end + 4 + len);
        let keys: Vec<i64> = req["entities"]["user_id"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_i64()).collect())
            .unwrap_or_default();
        let feats: Vec<serde_json::Value> = req["features"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|f| {
                serde_json::json!({"feature": f, "values": keys.iter().map(|k| k * 10).collect::<Vec<_>>(),
                    "statuses": vec!["present"; keys.len()], "event_timestamps": vec!["2026-01-01T00:00:00Z"; keys.len()]})
            })
            .collect();
        let body = serde_json::json!({ "features": feats }).to_string();
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> Result<(), tessera_edge::Error> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average (1, 5, 15 min): {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let catalog = catalog_from_yaml(YAML)?;
    let dir = tempfile::tempdir().map_err(|source| tessera_edge::Error::Io {
        path: "tmp".into(),
        source,
    })?;
    let url = cloud();
    let config = DeviceConfig {
        server_url: Some(url),
        purpose: "ranking".into(),
        cache_ttl: Duration::from_secs(3600),
        ..DeviceConfig::default()
    };

    // Fill a local store with 10,000 entities.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    {
        let device = Device::open(dir.path(), catalog.clone(), config.clone())?;
        let started = Instant::now();
        for chunk in 0..10 {
            let mut plays = Vec::new();
            let mut ctx = Vec::new();
            for u in chunk * 1000..(chunk + 1) * 1000 {
                for j in 0..3 {
                    plays.push(
                        Event::at_micros(now - (u * 7 + j * 1_000_003) % 80_000_000_000)
                            .with("user_id", u)
                            .with("item_id", u * 3 + j)
                            .with("dwell_s", (u + j) % 300)
                            .with("action", if j == 2 { "skip" } else { "play" })
                            .with("genre", ["pop", "rock", "jazz"][j as usize]),
                    );
                }
                ctx.push(
                    Event::at_micros(now - 1_000_000)
                        .with("user_id", u)
                        .with("locale", "de-DE"),
                );
            }
            device.record("plays", plays)?;
            device.record("context", ctx)?;
        }
        println!(
            "filled 10,000 entities (30,000 play events, 10,000 context events) in {:.2?}",
            started.elapsed()
        );
        device.close()?;
    }
    let local: Vec<String> = catalog
        .view("recent")
        .map_err(tessera_edge::Error::Definitions)?
        .features
        .iter()
        .map(|f| format!("recent:{}", f.name))
        .collect();
    let cloud_features: Vec<String> = (0..10).map(|i| format!("history:f{i}")).collect();
    let features: Vec<&str> = local
        .iter()
        .chain(&cloud_features)
        .map(String::as_str)
        .collect();
    assert_eq!(features.len(), 20);

    // 1. Cold start.
    let mut cold = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        let device = Device::open(dir.path(), catalog.clone(), config.clone())?;
        let got = device.get(
            &features[..10],
            &[("user_id", vec![KeyValue::Int64(i * 499)])],
            &Default::default(),
        )?;
        cold.push(started.elapsed());
        assert_eq!(got.at(0, 0).map(|v| v.status), Some(Status::Present));
        device.close()?;
    }
    cold.sort();
    println!(
        "cold start (open + first get of 10 local features, 10k-entry store, 20 runs): median {:.2?}, max {:.2?}",
        pct(&cold, 0.5),
        cold[cold.len() - 1]
    );

    // 2. Warm reads of 20 features.
    let device = Device::open(dir.path(), catalog.clone(), config)?;
    let entity = [("user_id", vec![KeyValue::Int64(4242)])];
    let first = device.get(&features, &entity, &Default::default())?;
    for (i, f) in features.iter().enumerate() {
        let s = first.at(i, 0).map(|v| v.status);
        assert_eq!(s, Some(Status::Present), "{f}");
    }
    let calls = device.cloud_calls();
    for _ in 0..2_000 {
        device.get(&features, &entity, &Default::default())?;
    }
    let n = 100_000;
    let mut times = Vec::with_capacity(n);
    let all = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let got = device.get(&features, &entity, &Default::default())?;
        times.push(t.elapsed());
        std::hint::black_box(got);
    }
    let total = all.elapsed();
    assert_eq!(
        device.cloud_calls(),
        calls,
        "the timed reads made no cloud call"
    );
    times.sort();
    println!(
        "get of 20 features (10 local, 10 cached cloud), 1 entity, {n} reads: p50 {:.1?}, p99 {:.1?}, p99.9 {:.1?}, max {:.1?}; {:.0} reads/s",
        pct(&times, 0.5),
        pct(&times, 0.99),
        pct(&times, 0.999),
        times[n - 1],
        n as f64 / total.as_secs_f64()
    );
    device.close()?;
    Ok(())
}
