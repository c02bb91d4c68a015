//! Online/offline parity: the same events replayed through the stream engine (out of order
//! within the allowed lateness, with duplicates and too-late events) and through the batch
//! backfill over the offline log they leave; at many instants T every aggregation served
//! online equals the training-set value as of T — integers exactly, floats within 1e-9
//! relative, sketches identically. On random data and on MovieLens 100K ratings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use tessera_core::{ArrowValues, FeatureRef, FeatureRepo};
use tessera_online::{aggregate_values, EmbeddedStore, EntityKey, OnlineStore, Value};
use tessera_stream::{StreamConfig, StreamEngine};

pub(crate) const CONFIG: &str = "project: test\nregistry: .tessera/registry\noffline_store: { path: data/offline }\nonline_store: { type: embedded, path: .tessera/online }\naudit_log: .tessera/audit\n";

const HOUR: i64 = 3_600_000_000;

pub(crate) fn defs(lateness: &str) -> String {
    format!(
        r#"
entities: [{{ name: user, join_keys: [user_id] }}]
sources:
  - name: plays
    type: stream
    path: data/plays
    timestamp_field: ts
    stream:
      schema: {{ user_id: int64, item_id: int64, action: string, dwell_s: float64, event_id: string }}
      event_id_field: event_id
      allowed_lateness: {lateness}
feature_views:
  - name: user_plays
    entities: [user]
    source: plays
    classification: internal
    aggregations:
      - {{ column: dwell_s, function: sum, windows: [1h, 1d, 7d] }}
      - {{ function: count, windows: [1d, 30d, lifetime], filter: "action = 'play'" }}
      - {{ column: item_id, function: count_distinct, windows: [30d] }}
      - {{ column: item_id, function: approx_count_distinct, windows: [7d] }}
      - {{ column: dwell_s, function: p90, windows: [7d] }}
      - {{ column: dwell_s, function: mean, windows: [1d] }}
      - {{ column: dwell_s, function: min, windows: [12h] }}
      - {{ column: dwell_s, function: max, windows: [2h] }}
      - {{ column: action, function: last, windows: [1d] }}
      - {{ column: item_id, function: last_k, k: 5, windows: [lifetime] }}
purposes: [{{ name: training, allows: [public, internal, personal] }}]
"#
    )
}

pub(crate) fn write_repo(dir: &Path, defs: &str) {
    std::fs::create_dir_all(dir.join("features")).unwrap();
    std::fs::write(dir.join("tessera.yaml"), CONFIG).unwrap();
    std::fs::write(dir.join("features/defs.yaml"), defs).unwrap();
}

/// One event: (user, item, action, dwell, event time, id).
#[derive(Clone, Debug)]
pub(crate) struct Ev {
    pub user: i64,
    pub item: i64,
    pub action: &'static str,
    pub dwell: Option<f64>,
    pub ts: i64,
    pub id: String,
}

pub(crate) fn columns(evs: &[Ev]) -> Vec<(String, Vec<Value>)> {
    vec![
        (
            "user_id".into(),
            evs.iter().map(|e| Value::Int64(e.user)).collect(),
        ),
        (
            "item_id".into(),
            evs.iter().map(|e| Value::Int64(e.item)).collect(),
        ),
        (
            "action".into(),
            evs.iter().map(|e| Value::String(e.action.into())).collect(),
        ),
        (
            "dwell_s".into(),
            evs.iter()
                .map(|e| e.dwell.map_or(Value::Null, Value::Float64))
                .collect(),
        ),
        (
            "ts".into(),
            evs.iter()
                .map(|e| Value::String(tessera_online_ts(e.ts)))
                .collect(),
        ),
        (
            "event_id".into(),
            evs.iter().map(|e| Value::String(e.id.clone())).collect(),
        ),
    ]
}

/// RFC 3339 with µs.
pub(crate) fn tessera_online_ts(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub(crate) struct Lcg(pub u64);
impl Lcg {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Replays `evs` (sorted by event time) in ticks of `tick` µs: within a tick the events
/// arrive shuffled, with some resent (duplicates) and some stale ones (too late); at the
/// end of each tick the online values of `users` are read. Then the training set over the
/// offline log is computed for the same (user, tick) rows and compared.
pub(crate) async fn replay_and_compare(
    dir: &Path,
    evs: &[Ev],
    users: &[i64],
    tick: i64,
    lateness_us: i64,
    seed: u64,
    min_share: usize,
) -> usize {
    let clock = Arc::new(AtomicI64::new(evs.first().map_or(0, |e| e.ts)));
    let c = clock.clone();
    let config = StreamConfig {
        clock: Arc::new(move || c.load(Ordering::SeqCst)),
        ..StreamConfig::default()
    };
    let repo = FeatureRepo::load(dir).unwrap();
    let catalog = Arc::new(repo.catalog.clone());
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&dir.join(".tessera/online")).unwrap());
    let engine = StreamEngine::open(dir, catalog.clone(), store.clone(), config)
        .await
        .unwrap();
    let view = catalog.view("user_plays").unwrap().clone();
    let spec = catalog.view_spec(&view).unwrap().unwrap();

    let mut rng = Lcg(seed);
    let mut online: Vec<(i64, i64, Vec<Value>)> = Vec::new();
    let mut i = 0;
    let first = evs.first().map_or(0, |e| e.ts);
    let last = evs.last().map_or(0, |e| e.ts);
    let mut t = first - first.rem_euclid(tick) + tick;
    let (mut late_sent, mut dups_sent) = (0u64, 0u64);
    let mut delivered_max: Option<i64> = None;
    let (mut late_seen, mut dups_seen) = (0u64, 0u64);
    while t <= last + tick {
        let mut batch: Vec<Ev> = Vec::new();
        while i < evs.len() && evs[i].ts <= t {
            batch.push(evs[i].clone());
            i += 1;
        }
        // Shuffle (out of order within the tick, which is within the lateness).
        for k in (1..batch.len()).rev() {
            let j = rng.below(k as u64 + 1) as usize;
            batch.swap(k, j);
        }
        // Resend a few (duplicates) and add a stale event (too late to apply).
        let resent: Vec<Ev> = batch
            .iter()
            .filter(|_| rng.below(20) == 0)
            .cloned()
            .collect();
        dups_sent += resent.len() as u64;
        batch.extend(resent);
        // A stale event (older than the newest delivered event minus the lateness) must be
        // refused: applied, it would change values of instants already served.
        if let Some(newest) = delivered_max.filter(|_| rng.below(3) == 0) {
            let mut stale = evs[rng.below(i as u64) as usize].clone();
            stale.ts = newest - lateness_us - HOUR;
            stale.id = format!("stale-{t}");
            batch.insert(0, stale);
            late_sent += 1;
        }
        delivered_max = batch.iter().map(|e| e.ts).max().max(delivered_max);
        clock.store(t, Ordering::SeqCst);
        for chunk in batch.chunks(1 + rng.below(200) as usize) {
            let r = engine.ingest("plays", columns(chunk)).await.unwrap();
            late_seen += r.late;
            dups_seen += r.duplicates;
        }
        let keys: Vec<EntityKey> = users
            .iter()
            .map(|u| EntityKey::int("user_id", *u))
            .collect();
        let rows = store.read("user_plays", &keys).await.unwrap();
        for (u, row) in users.iter().zip(&rows) {
            online.push((*u, t, aggregate_values(row.as_ref(), &spec, t).unwrap()));
        }
        t += tick;
    }
    assert_eq!(dups_seen, dups_sent, "every resent event is a duplicate");
    assert_eq!(late_seen, late_sent, "every stale event is refused as late");

    // The batch path over the offline log.
    let spine = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, false),
            Field::new(
                "event_timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
        ])),
        vec![
            Arc::new(Int64Array::from(
                online.iter().map(|o| o.0).collect::<Vec<_>>(),
            )),
            Arc::new(TimestampMicrosecondArray::from(
                online.iter().map(|o| o.1).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    let spine_path = dir.join("spine.parquet");
    let f = std::fs::File::create(&spine_path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, spine.schema(), None).unwrap();
    w.write(&spine).unwrap();
    w.close().unwrap();
    let features: Vec<FeatureRef> = view
        .features
        .iter()
        .map(|f| FeatureRef::parse(&format!("user_plays:{}", f.name)).unwrap())
        .collect();
    let offline_repo = tessera_offline::load_repo(dir).await.unwrap();
    let engine = tessera_offline::OfflineEngine::new(dir, Arc::new(offline_repo.catalog));
    let prepared = engine
        .prepare(&tessera_offline::TrainingSetRequest {
            spine: spine_path,
            features: features.clone(),
            timestamp_column: "event_timestamp".into(),
            short_names: false,
        })
        .await
        .unwrap();
    let set = engine
        .run(prepared, Arc::new(tessera_offline::NoProgress))
        .await
        .unwrap();
    let out = set.batch;
    let mut compared = 0;
    let mut nonempty = 0;
    for (fi, f) in features.iter().enumerate() {
        let col = out.column_by_name(&f.column_name()).unwrap();
        let reader = ArrowValues::new(col).unwrap();
        for (row, (u, t, vals)) in online.iter().enumerate() {
            let offline = match col.as_list_opt::<i32>() {
                Some(l) if l.is_null(row) => Value::Null,
                Some(l) => {
                    let inner = ArrowValues::new(&l.value(row)).unwrap();
                    Value::List((0..l.value(row).len()).map(|i| inner.get(i)).collect())
                }
                None => reader.get(row),
            };
            let on = &vals[fi];
            let same = match (on, &offline) {
                (Value::Float64(a), Value::Float64(b)) => {
                    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
                }
                (a, b) => a == b,
            };
            assert!(
                same,
                "{f} user {u} at {t}: online {on:?} offline {offline:?}"
            );
            compared += 1;
            if !offline.is_null() && offline != Value::Int64(0) {
                nonempty += 1;
            }
        }
    }
    assert!(
        nonempty * min_share > compared,
        "the comparison is not trivial: {nonempty} of {compared}"
    );
    compared
}

fn random_events(seed: u64, n: usize, users: i64) -> Vec<Ev> {
    let mut rng = Lcg(seed);
    let t0 = 1_780_000_000_000_000i64;
    let mut evs: Vec<Ev> = (0..n)
        .map(|k| Ev {
            user: rng.below(users as u64) as i64,
            item: rng.below(60) as i64,
            action: ["play", "skip", "like"][rng.below(3) as usize],
            dwell: if rng.below(8) == 0 {
                None
            } else {
                Some(rng.below(100_000) as f64 / 7.0)
            },
            // Coarse times: many events share a timestamp; some sit on tile edges.
            ts: t0
                + (rng.below(20 * 24 * 12) as i64) * HOUR / 12
                + if rng.below(4) == 0 {
                    0
                } else {
                    rng.below(HOUR as u64 / 12) as i64
                },
            id: format!("e{k}"),
        })
        .collect();
    evs.sort_by_key(|e| e.ts);
    evs
}

#[tokio::test]
async fn parity_on_random_events() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("3h"));
    let evs = random_events(11, 6000, 25);
    let users: Vec<i64> = (0..27).collect();
    let n = replay_and_compare(d.path(), &evs, &users, 3 * HOUR, 3 * HOUR, 5, 4).await;
    assert!(n > 10_000, "{n}");
}

fn movielens_dir() -> PathBuf {
    let base = std::env::var_os("TESSERA_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/tessera/data")
        });
    let dir = base.join("ml-100k");
    if !dir.join("ml-100k.inter").exists() {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-data.sh");
        assert!(std::process::Command::new("bash")
            .arg(&script)
            .status()
            .unwrap()
            .success());
    }
    dir
}

#[tokio::test]
async fn parity_on_movielens_ratings() {
    // Ratings as play events: item, rating × 60 as dwell, action by rating.
    let text = std::fs::read_to_string(movielens_dir().join("ml-100k.inter")).unwrap();
    let mut evs: Vec<Ev> = text
        .lines()
        .skip(1)
        .enumerate()
        .filter_map(|(k, l)| {
            let f: Vec<&str> = l.split('\t').collect();
            let user: i64 = f.first()?.parse().ok()?;
            let item: i64 = f.get(1)?.parse().ok()?;
            let rating: f64 = f.get(2)?.parse().ok()?;
            let ts: f64 = f.get(3)?.parse().ok()?;
            Some(Ev {
                user,
                item,
                action: if rating >= 4.0 {
                    "play"
                } else if rating >= 3.0 {
                    "like"
                } else {
                    "skip"
                },
                dwell: Some(rating * 60.0),
                ts: ts as i64 * 1_000_000,
                id: format!("r{k}"),
            })
        })
        .collect();
    evs.sort_by_key(|e| e.ts);
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for e in &evs {
        *counts.entry(e.user).or_default() += 1;
    }
    let mut top: Vec<(i64, usize)> = counts.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let users: Vec<i64> = top.iter().take(15).map(|u| u.0).collect();
    // The ratings of the 60 busiest users (about a fifth of all) keep the test quick.
    let kept: std::collections::HashSet<i64> = top.iter().take(60).map(|u| u.0).collect();
    evs.retain(|e| kept.contains(&e.user));
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), &defs("2d"));
    let n = replay_and_compare(d.path(), &evs, &users, 2 * 24 * HOUR, 2 * 24 * HOUR, 9, 10).await;
    assert!(n > 1000, "{n}");
}
