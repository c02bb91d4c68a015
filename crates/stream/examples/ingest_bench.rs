//! Streaming ingest benchmark: events straight into `StreamEngine::ingest_events` over the
//! embedded online store, 5 aggregations × 3 windows (15 features), one fresh repository
//! per batch size.
//!
//! ```sh
//! cargo run --release -p tessera-stream --example ingest_bench -- \
//!     [--events 2000000] [--users 100000] [--items 10000] [--batches 1000,10000,50000] \
//!     [--span-hours 6] [--jitter-s 120] [--seed 42] [--dir /tmp/ingest-bench] [--keep] \
//!     [--write-repo DIR]
//! ```
//!
//! Events are generated up front (not timed), in time order over `--span-hours` with each
//! event time moved by up to ±`--jitter-s` seconds (slight disorder, inside the source's
//! `allowed_lateness: 5m`); users uniform over `--users`, items over `--items`, actions
//! play/skip/like at 70/20/10 %, a dwell on 7 of 8 events. The engine's clock is pinned one
//! minute after the last event. Each batch is one timed `ingest_events` call (decode is
//! not part of it: each batch is built as `Events`, aligned with the source's schema,
//! right before its call).
//! `--modes durable,servable`: `durable` calls return once the batch is durable (as the
//! NATS consumer acks) and the states reach the store in the background; `servable` calls
//! wait for the store too (as an HTTP push answers). Either way the final flush (until
//! every state is in the store) is part of the total.
//! Prints one JSON line per batch size and mode: events/s (events over the summed time of
//! the calls and the final flush; building a batch's `Events` is not timed), per-batch
//! latency p50/p90/p99/
//! max, applied/late/duplicate counts, the 1-minute load before and after, and the result
//! of a check of 200 users' counts and sums against brute force, through the engine and
//! through the online store.
//!
//! `--write-repo DIR` only writes the benchmark's `tessera.yaml` and `features/defs.yaml`
//! into DIR (used by `bench/stream_http_bench.sh` and `bench/nats_latency.sh`), then exits;
//! `--nats SUBJECT` adds `stream.nats` settings for that subject to the written source and
//! `--consumer` a consumer `pusher` (token from `TESSERA_TOKEN_PUSHER`, `writes: [plays]`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tessera_core::aggregate::Value;
use tessera_core::FeatureRepo;
use tessera_online::{aggregate_values, EmbeddedStore, EntityKey, OnlineStore};
use tessera_stream::{Events, StreamConfig, StreamEngine, Visibility};

/// The allocator the `tessera` binary uses (`tessera serve` / `tessera ingest` run the engine).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONFIG: &str = "project: ingestbench\nregistry: .tessera/registry\noffline_store: { path: data/offline }\nonline_store: { type: embedded, path: .tessera/online }\naudit_log: .tessera/audit\n";

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The definitions: a stream source `plays` and the view `user_windows`.
pub fn defs(nats: Option<&str>, consumer: bool) -> String {
    let nats = nats.map_or(String::new(), |subject| {
        let stream = subject
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect::<String>();
        format!("      nats: {{ subject: {subject}, stream: {stream}, durable: bench-{stream} }}\n")
    });
    let consumer = if consumer {
        "consumers:\n  - { name: pusher, token_env: TESSERA_TOKEN_PUSHER, purposes: [ranking], default_purpose: ranking, writes: [plays] }\n"
    } else {
        ""
    };
    format!(
        r#"entities: [{{ name: user, join_keys: [user_id] }}]
sources:
  - name: plays
    type: stream
    path: data/plays
    timestamp_field: ts
    stream:
      schema: {{ user_id: int64, item_id: int64, action: string, dwell_s: float64, event_id: string }}
      event_id_field: event_id
      allowed_lateness: 5m
{nats}feature_views:
  - name: user_windows
    entities: [user]
    source: plays
    classification: internal
    aggregations:
      - {{ column: dwell_s, function: sum, windows: [1h, 1d, 7d] }}
      - {{ function: count, windows: [1h, 1d, 7d] }}
      - {{ column: item_id, function: count_distinct, windows: [1h, 1d, 7d] }}
      - {{ column: dwell_s, function: p90, windows: [1h, 1d, 7d] }}
      - {{ column: item_id, function: last_k, k: 5, windows: [1h, 1d, 7d] }}
purposes: [{{ name: ranking, allows: [public, internal, personal] }}]
{consumer}"#
    )
}

fn write_repo(dir: &Path, defs: &str) {
    std::fs::create_dir_all(dir.join("features")).unwrap();
    std::fs::write(dir.join("tessera.yaml"), CONFIG).unwrap();
    std::fs::write(dir.join("features/defs.yaml"), defs).unwrap();
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Clone)]
struct Ev {
    user: i64,
    item: i64,
    action: &'static str,
    dwell: Option<f64>,
    ts: i64,
    id: u64,
}

fn generate(
    n: usize,
    users: u64,
    items: u64,
    t0: i64,
    span: i64,
    jitter: i64,
    seed: u64,
) -> Vec<Ev> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|k| {
            let base = t0 + (span as i128 * k as i128 / n.max(1) as i128) as i64;
            let j = if jitter > 0 {
                rng.below(2 * jitter as u64 + 1) as i64 - jitter
            } else {
                0
            };
            let a = rng.below(10);
            Ev {
                user: rng.below(users) as i64,
                item: rng.below(items) as i64,
                action: if a < 7 {
                    "play"
                } else if a < 9 {
                    "skip"
                } else {
                    "like"
                },
                dwell: if rng.below(8) == 0 {
                    None
                } else {
                    Some(rng.below(600_000) as f64 / 1000.0)
                },
                ts: base + j,
                id: k as u64,
            }
        })
        .collect()
}

fn to_events(schema_cols: &[String], evs: &[Ev]) -> Events {
    let cols = schema_cols
        .iter()
        .map(|c| match c.as_str() {
            "user_id" => evs.iter().map(|e| Value::Int64(e.user)).collect(),
            "item_id" => evs.iter().map(|e| Value::Int64(e.item)).collect(),
            "action" => evs
                .iter()
                .map(|e| Value::String(e.action.to_string()))
                .collect(),
            "dwell_s" => evs
                .iter()
                .map(|e| e.dwell.map_or(Value::Null, Value::Float64))
                .collect(),
            "event_id" => evs
                .iter()
                .map(|e| Value::String(format!("e{}", e.id)))
                .collect(),
            other => panic!("unexpected column {other}"),
        })
        .collect();
    Events {
        ts: evs.iter().map(|e| e.ts).collect(),
        cols,
    }
}

fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

struct Args {
    events: usize,
    users: u64,
    items: u64,
    batches: Vec<usize>,
    modes: Vec<String>,
    span_hours: i64,
    jitter_s: i64,
    seed: u64,
    dir: Option<PathBuf>,
    keep: bool,
    write_repo: Option<PathBuf>,
    nats: Option<String>,
    consumer: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        events: 2_000_000,
        users: 100_000,
        items: 10_000,
        batches: vec![1_000, 10_000, 50_000],
        modes: vec!["durable".into(), "servable".into()],
        span_hours: 6,
        jitter_s: 120,
        seed: 42,
        dir: None,
        keep: false,
        write_repo: None,
        nats: None,
        consumer: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--events" => a.events = val().parse::<f64>().unwrap() as usize,
            "--users" => a.users = val().parse::<f64>().unwrap() as u64,
            "--items" => a.items = val().parse::<f64>().unwrap() as u64,
            "--modes" => {
                a.modes = val().split(',').map(str::to_string).collect();
            }
            "--batches" => {
                a.batches = val()
                    .split(',')
                    .map(|b| b.parse::<f64>().unwrap() as usize)
                    .collect()
            }
            "--span-hours" => a.span_hours = val().parse().unwrap(),
            "--jitter-s" => a.jitter_s = val().parse().unwrap(),
            "--seed" => a.seed = val().parse().unwrap(),
            "--dir" => a.dir = Some(PathBuf::from(val())),
            "--keep" => a.keep = true,
            "--write-repo" => a.write_repo = Some(PathBuf::from(val())),
            "--nats" => a.nats = Some(val()),
            "--consumer" => a.consumer = true,
            "-h" | "--help" => {
                println!("see the header of crates/stream/examples/ingest_bench.rs");
                std::process::exit(0);
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// Brute-force count and dwell sum of one user over a window as of `at`
/// (window start = floor_to_hop(at − w)).
fn brute(evs: &[&Ev], at: i64, w: i64, hop: i64) -> (i64, f64) {
    let start = (at - w).div_euclid(hop) * hop;
    let mut n = 0;
    let mut s = 0.0;
    for e in evs {
        if e.ts >= start && e.ts <= at {
            n += 1;
            s += e.dwell.unwrap_or(0.0);
        }
    }
    (n, s)
}

#[tokio::main]
async fn main() {
    let a = parse_args();
    if let Some(dir) = &a.write_repo {
        write_repo(dir, &defs(a.nats.as_deref(), a.consumer));
        eprintln!(
            "wrote {}/tessera.yaml and features/defs.yaml",
            dir.display()
        );
        return;
    }
    // Event times end a day before "now" so nothing is in the future whatever the clock.
    let t0: i64 = 1_790_000_000 * SECOND; // 2026-09-21T...
    let span = a.span_hours * HOUR;
    let gen_start = Instant::now();
    let evs = generate(
        a.events,
        a.users,
        a.items,
        t0,
        span,
        a.jitter_s * SECOND,
        a.seed,
    );
    let max_ts = evs.iter().map(|e| e.ts).max().unwrap_or(t0);
    let now = max_ts + MINUTE;
    eprintln!(
        "generated {} events for {} users in {:.1}s",
        evs.len(),
        a.users,
        gen_start.elapsed().as_secs_f64()
    );
    let base = a
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("tessera-ingest-bench"));
    std::fs::create_dir_all(&base).unwrap();

    // Brute-force expectations for 200 users, as of `now`.
    let sample: Vec<i64> = (0..200).map(|i| (i * 499) % a.users as i64).collect();
    let mut by_user: HashMap<i64, Vec<&Ev>> = HashMap::new();
    for e in &evs {
        if sample.contains(&e.user) {
            by_user.entry(e.user).or_default().push(e);
        }
    }

    let runs: Vec<(usize, String)> = a
        .batches
        .iter()
        .flat_map(|b| a.modes.iter().map(move |m| (*b, m.clone())))
        .collect();
    for (bsize, mode) in runs {
        let visibility = match mode.as_str() {
            "durable" => Visibility::Durable,
            "servable" => Visibility::Servable,
            other => panic!("--modes takes durable,servable, not {other}"),
        };
        let dir = base.join(format!("b{bsize}-{mode}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_repo(&dir, &defs(None, false));
        let repo = FeatureRepo::load(&dir).unwrap();
        let catalog = Arc::new(repo.catalog.clone());
        let store: Arc<dyn OnlineStore> =
            Arc::new(EmbeddedStore::open(&dir.join(".tessera/online")).unwrap());
        let config = StreamConfig {
            clock: Arc::new(move || now),
            ..StreamConfig::default()
        };
        let engine = StreamEngine::open(&dir, catalog.clone(), store.clone(), config)
            .await
            .unwrap();
        let schema = engine.schema("plays").await.unwrap();
        let names: Vec<String> = schema.columns.iter().map(|(n, _)| n.clone()).collect();
        let load_before = load1();
        let mut lat: Vec<f64> = Vec::with_capacity(a.events / bsize.max(1) + 1);
        let (mut applied, mut late, mut dups, mut future) = (0u64, 0u64, 0u64, 0u64);
        // Each batch is built just before its call (as a server decodes one request at a
        // time) and only the call is timed; the total is the sum of the calls.
        let mut wall = 0.0f64;
        for chunk in evs.chunks(bsize) {
            let b = to_events(&names, chunk);
            let t = Instant::now();
            let r = engine
                .ingest_with_ids("plays", b, None, visibility)
                .await
                .unwrap();
            let dt = t.elapsed().as_secs_f64();
            wall += dt;
            lat.push(dt * 1000.0);
            applied += r.applied;
            late += r.late;
            dups += r.duplicates;
            future += r.future;
        }
        // Everything servable: the background writes of the last batches count too.
        let t = Instant::now();
        engine.flush().await.unwrap();
        let flush_s = t.elapsed().as_secs_f64();
        wall += flush_s;
        let load_after = load1();
        lat.sort_by(f64::total_cmp);

        // Check: count and sum of 200 users over 1h/1d/7d, through the engine and the store.
        let view = catalog.view("user_windows").unwrap().clone();
        let spec = catalog.view_spec(&view).unwrap().unwrap();
        let keys: Vec<EntityKey> = sample
            .iter()
            .map(|u| EntityKey::int("user_id", *u))
            .collect();
        let rows = store.read("user_windows", &keys).await.unwrap();
        let mut checked = 0usize;
        let mut bad: Vec<String> = Vec::new();
        for (u, row) in sample.iter().zip(&rows) {
            let mine = by_user.get(u).cloned().unwrap_or_default();
            let via_engine = engine
                .values_at("user_windows", &EntityKey::int("user_id", *u), now)
                .await
                .unwrap()
                .unwrap();
            let via_store = aggregate_values(row.as_ref(), &spec, now).unwrap();
            for (wi, (w, hop)) in [(HOUR, 5 * MINUTE), (DAY, HOUR), (7 * DAY, HOUR)]
                .into_iter()
                .enumerate()
            {
                let (n, s) = brute(&mine, now, w, hop);
                for (what, vals) in [("engine", &via_engine), ("store", &via_store)] {
                    let got_sum = match &vals[wi] {
                        Value::Float64(x) => *x,
                        Value::Null => 0.0,
                        other => panic!("sum is {other:?}"),
                    };
                    let got_n = vals[3 + wi].clone();
                    if got_n != Value::Int64(n) || (got_sum - s).abs() > 1e-9 * s.abs().max(1.0) {
                        bad.push(format!(
                            "{what} user {u} window {wi}: count {got_n:?} vs {n}, sum {got_sum} vs {s}"
                        ));
                    }
                    checked += 1;
                }
            }
        }
        let log_files = std::fs::read_dir(dir.join("data/plays"))
            .map(|d| d.count())
            .unwrap_or(0);
        let disk_mb = du(&dir) as f64 / 1e6;
        println!(
            "{{\"bench\": \"ingest_events\", \"mode\": \"{mode}\", \"events\": {}, \"users\": {}, \"batch\": {bsize}, \"final_flush_s\": {flush_s:.3}, \"batches\": {}, \"wall_s\": {wall:.3}, \"events_per_s\": {:.0}, \"batch_ms_p50\": {:.2}, \"batch_ms_p90\": {:.2}, \"batch_ms_p99\": {:.2}, \"batch_ms_max\": {:.2}, \"applied\": {applied}, \"late\": {late}, \"duplicates\": {dups}, \"future\": {future}, \"log_files\": {log_files}, \"disk_mb\": {disk_mb:.1}, \"check_values\": {checked}, \"check_mismatches\": {}, \"load1_before\": {load_before:.2}, \"load1_after\": {load_after:.2}}}",
            a.events,
            a.users,
            lat.len(),
            a.events as f64 / wall,
            pct(&lat, 0.5),
            pct(&lat, 0.9),
            pct(&lat, 0.99),
            lat.last().copied().unwrap_or(f64::NAN),
            bad.len()
        );
        for b in bad.iter().take(10) {
            eprintln!("MISMATCH {b}");
        }
        drop(engine);
        drop(store);
        if !a.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

fn du(p: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if md.is_dir() {
        std::fs::read_dir(p)
            .map(|d| d.flatten().map(|e| du(&e.path())).sum())
            .unwrap_or(0)
    } else {
        md.len()
    }
}
