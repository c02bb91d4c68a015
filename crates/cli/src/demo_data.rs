//! Seeded synthetic data for a media-personalization domain: users, items with content
//! metadata, play events, and daily user and item statistics derived from the events.
//!
//! Deterministic: the same seed and sizes always give the same files (own PRNG, no
//! dependency whose output could change between versions).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

/// SplitMix64: small, fast, and stable forever.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, n)`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Exponential with the given mean.
    pub(crate) fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
    /// Zipf-like index in `[0, n)`: low indices are popular.
    pub(crate) fn skewed(&mut self, n: u64) -> u64 {
        let u = self.unit();
        ((n as f64).powf(u) - 1.0)
            .floor()
            .clamp(0.0, (n - 1) as f64) as u64
    }
}

/// Sizes of a generated data set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DemoSizes {
    /// Distinct users.
    pub users: u64,
    /// Distinct items.
    pub items: u64,
    /// Play events.
    pub events: u64,
    /// Days of history.
    pub days: i64,
    /// Spine (training) rows.
    pub spine: u64,
}

/// One day in microseconds.
pub(crate) const DAY_US: i64 = 86_400_000_000;

/// The start of a history of `days` days that ends at the most recent UTC midnight, so
/// that the last daily statistics are fresh (within a 7-day TTL) when served now.
pub(crate) fn history_start_now(days: i64) -> i64 {
    let now = chrono::Utc::now().timestamp_micros();
    now.div_euclid(DAY_US) * DAY_US - days * DAY_US
}
const GENRES: [&str; 8] = [
    "pop",
    "rock",
    "jazz",
    "classical",
    "hiphop",
    "electronic",
    "country",
    "podcast",
];
const ACTIONS: [&str; 4] = ["play", "skip", "like", "purchase"];
const COUNTRIES: [&str; 6] = ["US", "GB", "DE", "FR", "JP", "BR"];

/// What was written, for the demo's report.
#[derive(Debug, Default)]
pub(crate) struct DemoFiles {
    /// (file, rows)
    pub written: Vec<(String, usize)>,
}

fn ts_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
        false,
    )
}

fn ts_array(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

fn write(path: &Path, batch: &RecordBatch, files: &mut DemoFiles) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    }
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = ArrowWriter::try_new(f, batch.schema(), None)?;
    w.write(batch)?;
    w.close()?;
    files
        .written
        .push((path.display().to_string(), batch.num_rows()));
    Ok(())
}

/// Writes `items.parquet`, `play_events.parquet`, `user_daily.parquet`,
/// `item_daily.parquet` and `spine.parquet` under `dir`, with `sizes.days` days of history
/// from `t0_us` (µs since the epoch). The same seed and `t0_us` give the same files.
pub(crate) fn generate(dir: &Path, sizes: DemoSizes, seed: u64, t0_us: i64) -> Result<DemoFiles> {
    let mut rng = Rng::new(seed);
    let mut files = DemoFiles::default();
    let items = write_items(dir, &mut rng, sizes.items, t0_us, &mut files)?;
    let ev = write_play_events(dir, &mut rng, sizes, t0_us, &items, &mut files)?;
    write_daily(dir, &mut rng, &ev, &items.genre, t0_us, &mut files)?;
    write_spine(dir, &mut rng, &ev, sizes.spine, &mut files)?;
    Ok(files)
}

/// What the later tables need of the items: each item's genre and duration.
struct ItemFacts {
    genre: Vec<usize>,
    duration: Vec<i64>,
}

/// One play event: (time µs, user, item, action index, dwell seconds).
type PlayEvent = (i64, i64, i64, usize, f64);

/// Content metadata: one row per item, timestamped at its release (catalog ingestion).
fn write_items(
    dir: &Path,
    rng: &mut Rng,
    items: u64,
    t0_us: i64,
    files: &mut DemoFiles,
) -> Result<ItemFacts> {
    let genre: Vec<usize> = (0..items)
        .map(|_| rng.below(GENRES.len() as u64) as usize)
        .collect();
    let artist: Vec<i64> = (0..items)
        .map(|_| rng.below(items / 8 + 1) as i64)
        .collect();
    let duration: Vec<i64> = (0..items).map(|_| 60 + rng.below(540) as i64).collect();
    let year: Vec<i64> = (0..items).map(|_| 1970 + rng.below(57) as i64).collect();
    let added: Vec<i64> = (0..items)
        .map(|_| t0_us - (30 + rng.below(700) as i64) * DAY_US)
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Int64, false),
        ts_field("added_at"),
        Field::new("genre", DataType::Utf8, false),
        Field::new("artist_id", DataType::Int64, false),
        Field::new("duration_s", DataType::Int64, false),
        Field::new("release_year", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..items as i64)),
            ts_array(added),
            Arc::new(StringArray::from_iter_values(
                genre.iter().map(|&g| GENRES[g]),
            )),
            Arc::new(Int64Array::from(artist)),
            Arc::new(Int64Array::from(duration.clone())),
            Arc::new(Int64Array::from(year)),
        ],
    )?;
    write(&dir.join("items.parquet"), &batch, files)?;

    Ok(ItemFacts { genre, duration })
}

/// Play events, sorted by time. Each user prefers one genre.
fn write_play_events(
    dir: &Path,
    rng: &mut Rng,
    sizes: DemoSizes,
    t0_us: i64,
    items_facts: &ItemFacts,
    files: &mut DemoFiles,
) -> Result<Vec<PlayEvent>> {
    let DemoSizes {
        users,
        items,
        events,
        days,
        ..
    } = sizes;
    let (genre, duration) = (&items_facts.genre, &items_facts.duration);
    let fav: Vec<usize> = (0..users)
        .map(|_| rng.below(GENRES.len() as u64) as usize)
        .collect();
    let mut ev: Vec<PlayEvent> = (0..events)
        .map(|_| {
            let u = rng.skewed(users) as i64;
            let mut it = rng.skewed(items) as i64;
            if rng.unit() < 0.4 {
                // re-pick until the genre matches the user's favourite (bounded tries)
                for _ in 0..8 {
                    if genre[it as usize] == fav[u as usize] {
                        break;
                    }
                    it = rng.below(items) as i64;
                }
            }
            let t = t0_us + rng.below((days * DAY_US) as u64) as i64;
            let liked_genre = genre[it as usize] == fav[u as usize];
            let r = rng.unit();
            let action = if r < if liked_genre { 0.15 } else { 0.35 } {
                1 // skip
            } else if r < if liked_genre { 0.35 } else { 0.40 } {
                2 // like
            } else if r < 0.42 {
                3 // purchase
            } else {
                0 // play
            };
            let dwell = if action == 1 {
                rng.exp(8.0)
            } else {
                rng.exp(duration[it as usize] as f64 * 0.6)
            };
            (t, u, it, action, (dwell * 10.0).round() / 10.0)
        })
        .collect();
    ev.sort_by_key(|e| (e.0, e.1));
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("item_id", DataType::Int64, false),
        ts_field("event_timestamp"),
        Field::new("action", DataType::Utf8, false),
        Field::new("dwell_s", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ev.iter().map(|e| e.1))),
            Arc::new(Int64Array::from_iter_values(ev.iter().map(|e| e.2))),
            ts_array(ev.iter().map(|e| e.0).collect()),
            Arc::new(StringArray::from_iter_values(
                ev.iter().map(|e| ACTIONS[e.3]),
            )),
            Arc::new(Float64Array::from_iter_values(ev.iter().map(|e| e.4))),
        ],
    )?;
    write(&dir.join("play_events.parquet"), &batch, files)?;

    Ok(ev)
}

/// Daily statistics, stamped at the end of each day (knowable from then on); `created`
/// is when the daily job wrote the row. A re-run rewrites a few rows with a later
/// `created`: the tie-break must pick the re-run.
fn write_daily(
    dir: &Path,
    rng: &mut Rng,
    ev: &[PlayEvent],
    genre: &[usize],
    t0_us: i64,
    files: &mut DemoFiles,
) -> Result<()> {
    type Acc = (i64, i64, i64, f64, [i64; 8]);
    let mut user_day: std::collections::BTreeMap<(i64, i64), Acc> = Default::default();
    let mut item_day: std::collections::BTreeMap<(i64, i64), (i64, i64)> = Default::default();
    for &(t, u, it, a, d) in ev {
        let day = (t - t0_us) / DAY_US;
        let e = user_day.entry((u, day)).or_insert((0, 0, 0, 0.0, [0; 8]));
        match a {
            1 => e.1 += 1,
            2 => e.2 += 1,
            _ => {}
        }
        e.0 += 1;
        e.3 += d;
        e.4[genre[it as usize]] += 1;
        let ie = item_day.entry((it, day)).or_insert((0, 0));
        ie.0 += 1;
        if a == 2 {
            ie.1 += 1;
        }
    }
    /// (user, event time, created, plays, skips, mean dwell, top genre, country)
    type UserDayRow = (i64, i64, i64, i64, i64, f64, &'static str, &'static str);
    let mut rows: Vec<UserDayRow> = Vec::new();
    for (&(u, day), &(n, skips, _likes, dwell, g)) in &user_day {
        let ts = t0_us + (day + 1) * DAY_US;
        let top = g
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| **c)
            .map_or(0, |(i, _)| i);
        let country = COUNTRIES[(u as usize * 7919) % COUNTRIES.len()];
        let created = ts + 3_600_000_000 + rng.below(1_800_000_000) as i64;
        rows.push((
            u,
            ts,
            created,
            n,
            skips,
            dwell / n as f64,
            GENRES[top],
            country,
        ));
        if rng.unit() < 0.02 {
            // the re-run: same event time, later created, corrected count
            rows.push((
                u,
                ts,
                created + 7_200_000_000,
                n + 1,
                skips,
                dwell / n as f64,
                GENRES[top],
                country,
            ));
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        ts_field("event_timestamp"),
        ts_field("created"),
        Field::new("plays_1d", DataType::Int64, false),
        Field::new("skips_1d", DataType::Int64, false),
        Field::new("avg_dwell_s_1d", DataType::Float64, false),
        Field::new("top_genre_1d", DataType::Utf8, false),
        Field::new("country", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            ts_array(rows.iter().map(|r| r.1).collect()),
            ts_array(rows.iter().map(|r| r.2).collect()),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.4))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.5))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.6))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.7))),
        ],
    )?;
    write(&dir.join("user_daily.parquet"), &batch, files)?;

    let schema = Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Int64, false),
        ts_field("event_timestamp"),
        Field::new("plays_1d", DataType::Int64, false),
        Field::new("like_rate_1d", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(item_day.keys().map(|k| k.0))),
            ts_array(
                item_day
                    .keys()
                    .map(|k| t0_us + (k.1 + 1) * DAY_US)
                    .collect(),
            ),
            Arc::new(Int64Array::from_iter_values(item_day.values().map(|v| v.0))),
            Arc::new(Float64Array::from_iter_values(
                item_day.values().map(|v| v.1 as f64 / v.0 as f64),
            )),
        ],
    )?;
    write(&dir.join("item_daily.parquet"), &batch, files)?;

    Ok(())
}

/// Spine: sampled play events (the moment a recommendation was shown), label = liked.
fn write_spine(
    dir: &Path,
    rng: &mut Rng,
    ev: &[PlayEvent],
    spine: u64,
    files: &mut DemoFiles,
) -> Result<()> {
    let events = ev.len() as u64;
    let mut sp: Vec<(i64, i64, i64, bool)> = (0..spine.min(events))
        .map(|_| {
            let e = ev[rng.below(ev.len() as u64) as usize];
            (e.1, e.2, e.0, e.3 == 2 || e.3 == 3)
        })
        .collect();
    sp.sort_by_key(|s| s.2);
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("item_id", DataType::Int64, false),
        ts_field("event_timestamp"),
        Field::new("label", DataType::Boolean, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(sp.iter().map(|s| s.0))),
            Arc::new(Int64Array::from_iter_values(sp.iter().map(|s| s.1))),
            ts_array(sp.iter().map(|s| s.2).collect()),
            Arc::new(BooleanArray::from(
                sp.iter().map(|s| s.3).collect::<Vec<_>>(),
            )),
        ],
    )?;
    write(&dir.join("spine.parquet"), &batch, files)?;
    Ok(())
}

/// The demo repository's `tessera.yaml`.
pub(crate) const DEMO_CONFIG: &str = "\
# Tessera feature repository: a media-personalization demo.
project: media
registry: .tessera/registry
offline_store: { path: data/offline }
online_store: { type: embedded, path: .tessera/online }
audit_log: .tessera/audit
";

/// The demo repository's definitions.
pub(crate) const DEMO_DEFINITIONS: &str = r#"# Entities, sources, feature views, purposes, consumers and services of the demo.
entities:
  - { name: user, join_keys: [user_id], description: A listener's account }
  - { name: item, join_keys: [item_id], description: "A song, episode or album" }

sources:
  - name: user_daily
    type: batch
    path: data/user_daily.parquet
    timestamp_field: event_timestamp
    created_timestamp_field: created
    description: Daily per-user listening statistics (written by the nightly job)
  - name: item_daily
    type: batch
    path: data/item_daily.parquet
    timestamp_field: event_timestamp
    description: Daily per-item popularity
  - name: play_log
    type: batch
    path: data/play_events.parquet
    timestamp_field: event_timestamp
    description: Every play, skip, like and purchase (the apps' event log)
  - name: live_plays
    type: stream
    path: data/live_plays
    timestamp_field: ts
    description: Play events pushed by the apps as they happen (HTTP push or NATS); appended to this log
    stream:
      schema: { user_id: int64, item_id: int64, action: string, dwell_s: float64, event_id: string }
      event_id_field: event_id
      allowed_lateness: 5m
  - name: item_catalog
    type: batch
    path: data/items.parquet
    timestamp_field: added_at
    description: Content metadata, timestamped when the item entered the catalog

feature_views:
  - name: user_activity
    entities: [user]
    source: user_daily
    ttl: 7d
    owner: ranking-team@example.com
    tags: { domain: music, tier: gold }
    features:
      - { name: plays_1d, type: int64, classification: personal, description: Plays on the user's last active day }
      - { name: skips_1d, type: int64, classification: personal }
      - { name: avg_dwell_s_1d, type: float64, classification: personal }
      - { name: top_genre_1d, type: string, classification: personal }
      - { name: country, type: string, classification: sensitive, placement: device }
  - name: user_history
    entities: [user]
    source: play_log
    owner: ranking-team@example.com
    classification: personal
    description: Windowed listening history, from the event log
    aggregations:
      - { function: count, windows: [7d, 30d], filter: "action = 'play'", name: plays }
      - { column: dwell_s, function: sum, windows: [7d] }
      - { column: item_id, function: count_distinct, windows: [30d] }
  - name: user_live
    entities: [user]
    source: live_plays
    owner: ranking-team@example.com
    classification: personal
    description: Real-time session features, updated by every pushed event
    aggregations:
      - { function: count, windows: [1h, 1d], filter: "action = 'play'", name: plays }
      - { column: dwell_s, function: sum, windows: [1h] }
      - { column: dwell_s, function: p90, windows: [1d] }
      - { column: item_id, function: last_k, k: 3, windows: [1d], name: recent_items }
  - name: item_popularity
    entities: [item]
    source: item_daily
    ttl: 3d
    owner: content-team@example.com
    features:
      - { name: plays_1d, type: int64, classification: internal }
      - { name: like_rate_1d, type: float64, classification: internal }
  - name: item_content
    entities: [item]
    source: item_catalog
    provider: content                  # served from memory (latest row per item), not materialised
    owner: content-team@example.com
    features:
      - { name: genre, type: string, classification: public }
      - { name: artist_id, type: int64, classification: public }
      - { name: duration_s, type: int64, classification: public }
      - { name: release_year, type: int64, classification: public }

purposes:
  - { name: ranking, allows: [public, internal, personal], description: Ranking recommendations for the user }
  - { name: training, allows: [public, internal, personal], description: Training ranking models }
  - name: analytics
    allows: [public, internal]
    description: "Aggregate reporting: no personal data, except in the reduced forms below"
    minimise:                                         # docs/MINIMISATION.md
      user_activity:top_genre_1d:   { keep: [pop, rock, jazz], other: other }
      user_activity:avg_dwell_s_1d: { round: 60 }
      user_activity:skips_1d:       { bucketize: [1, 5, 20] }
    dp: { budget: { rho: 0.5, per: 30d } }            # noisy aggregate releases (docs/DIFFERENTIAL_PRIVACY.md)
  - { name: personalised_ads, allows: [public, internal, personal], requires_consent: true,
      description: "Ads chosen from listening history, only for users who agreed (docs/CONSENT.md)" }

consumers:
  - { name: ranker, token_env: TESSERA_TOKEN_RANKER, purposes: [ranking], default_purpose: ranking }
  - { name: player_app, token_env: TESSERA_TOKEN_PLAYER_APP, purposes: [ranking], writes: [live_plays] }
  - { name: trainer, token_env: TESSERA_TOKEN_TRAINER, purposes: [training] }
  - { name: dashboard, token_env: TESSERA_TOKEN_DASHBOARD, purposes: [analytics] }
  - { name: ads, token_env: TESSERA_TOKEN_ADS, purposes: [personalised_ads] }
  - { name: privacy_desk, token_env: TESSERA_TOKEN_PRIVACY_DESK, purposes: [analytics],
      consent: true, erase: true }                    # records consent; erases (docs/ERASURE.md)
  - { name: mobile_app, token_env: TESSERA_TOKEN_MOBILE_APP, purposes: [],
      ldp_reports: [genre_plays] }                    # devices' local-DP reports (docs/LOCAL_DP.md)

releases:                                             # differentially private aggregates (tessera release)
  - name: plays_per_genre
    description: How often each genre is played, with no listener singled out
    source: play_log
    entity: user                                      # whose contributions are bounded
    filter: "action = 'play'"
    lookup: { source: item_catalog, on: item_id, columns: [genre] }   # public item metadata
    query: histogram
    group_by: { column: genre, domain: [pop, rock, jazz, classical, hiphop, electronic, country, podcast] }
    max_rows: 50                                      # at most 50 plays per listener count
    cost: { rho: 0.1 }                                # discrete Gaussian noise

feature_services:
  - name: ranker_v1
    purpose: training
    features:
      - user_activity:plays_1d
      - user_activity:skips_1d
      - user_activity:avg_dwell_s_1d
      - user_activity:top_genre_1d
      - item_popularity:*
      - item_content:genre
      - item_content:duration_s
"#;

/// The demo repository's device definitions (`features/device.yaml`): device sources and the
/// views over them, which a device computes locally (the edge crate's example file).
pub(crate) const DEMO_DEVICE_DEFINITIONS: &str = include_str!("../../edge/examples/device.yaml");

/// The demo repository's local-DP report (`features/ldp.yaml`): the genre each device last
/// played, counted across devices under local differential privacy (`docs/LOCAL_DP.md`).
pub(crate) const DEMO_LDP_DEFINITIONS: &str = r#"# Local differential privacy: each device randomises its own report before it leaves.
sources:
  - name: device_listening
    type: device
    timestamp_field: ts
    description: The genre of each item as it is played on this device
    device: { schema: { user_id: int64, genre: string } }
feature_views:
  - name: device_taste
    entities: [user]
    source: device_listening
    ttl: 30d
    description: What this device last played; never sent anywhere as it is
    features:
      - { name: genre, type: string, classification: personal, placement: device_only }
ldp_reports:
  - name: genre_plays
    feature: device_taste:genre            # read on the device, from its local store
    description: How many devices last played each genre; no device's genre is learnt
    domain: { values: [pop, rock, jazz, classical, hiphop, electronic, country, podcast] }
    mechanism: cms                         # Count-Mean-Sketch: m randomised bits per report
    epsilon: 4                             # ε of one report
    k: 16                                  # hash functions (sketch rows)
    m: 1024                                # sketch columns
    cap: { epsilon: 8, per: 1d }           # a device refuses a third report within any day
"#;

/// The demo repository's on-demand views (`features/on_demand.yaml`).
pub(crate) const DEMO_ON_DEMAND: &str = r#"# Features computed at request time from other features and request-context fields.
on_demand_views:
  - name: user_item_affinity
    inputs: [user_history:dwell_s_sum_7d, user_history:plays_7d, item_content:duration_s,
             item_content:genre, user_activity:top_genre_1d]        # features of feature views
    request: [{ name: hour_of_day, type: int64 }]                  # request-context fields
    description: How well an item fits a listener right now
    features:
      - { name: dwell_per_play_7d, type: float64, expression: "if(plays_7d > 0, dwell_s_sum_7d / plays_7d, null)" }
      - { name: plays_per_minute, type: float64, expression: "plays_7d / (duration_s / 60.0)" }
      - { name: genre_match, type: bool, expression: "genre = top_genre_1d" }
      - { name: evening_plays_7d, type: float64, description: "plays_7d, weighted 1.5 from 18:00 on",
          expression: "coalesce(plays_7d, 0) * if(hour_of_day >= 18, 1.5, 1.0)" }
      - { name: evening_score, type: float64, classification: sensitive,
          expression: "round(ln(1 + coalesce(dwell_s_sum_7d, 0)) * if(hour_of_day >= 18, 1.5, 1.0), 3)" }
"#;
