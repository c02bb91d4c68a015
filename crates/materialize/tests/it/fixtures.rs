//! A small generated feature repository and an independent reference for "latest row".

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

pub(crate) const DAY_US: i64 = 86_400_000_000;
/// 2026-01-01T00:00:00Z.
pub(crate) const T0: i64 = 1_767_225_600_000_000;
pub(crate) const USERS: i64 = 300;

/// One generated source row.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub user: i64,
    pub ts: i64,
    pub created: Option<i64>,
    pub f: Option<f64>,
    pub i: i64,
    pub s: Option<String>,
}

/// Seeded rows over 10 days: repeated (user, ts) pairs with different `created`, null
/// created times, null values, and users that only appear late.
pub(crate) fn rows(n: usize) -> Vec<Row> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out: Vec<Row> = Vec::with_capacity(n);
    for k in 0..n {
        let r = next();
        let user = (r % USERS as u64) as i64;
        // Users 250.. only have rows in the last three days.
        let span = if user >= 250 { 3 * DAY_US } else { 10 * DAY_US };
        let mut ts = T0 + 10 * DAY_US - span + ((r >> 9) % span as u64) as i64;
        let mut created = Some(ts + ((r >> 40) % 1000) as i64);
        if k % 17 == 0 && k > 0 {
            // Same key and time as an earlier row, created later (or null).
            let prev = out[k / 2].clone();
            ts = prev.ts;
            // Each row is repeated at most once directly, so no two rows of a key share
            // (ts, created): a null after a value, a value below the original's otherwise.
            created = match prev.created {
                Some(_) if k % 34 == 0 => None,
                Some(c) => Some(c + 1),
                None => Some(prev.ts - 1),
            };
            out.push(Row {
                user: prev.user,
                ts,
                created,
                f: Some(k as f64),
                i: k as i64,
                s: None,
            });
            continue;
        }
        out.push(Row {
            user,
            ts,
            created,
            f: if r % 11 == 0 {
                None
            } else {
                Some((r % 1000) as f64 / 8.0)
            },
            i: k as i64,
            s: if r % 5 == 0 {
                None
            } else {
                Some(format!("s{}", r % 97))
            },
        });
    }
    out
}

fn batch(rows: &[Row]) -> RecordBatch {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("event_timestamp", ts.clone(), false),
        Field::new("created", ts, true),
        Field::new("f", DataType::Float64, true),
        Field::new("i", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.user))),
        Arc::new(TimestampMicrosecondArray::from_iter_values(
            rows.iter().map(|r| r.ts),
        )),
        Arc::new(TimestampMicrosecondArray::from(
            rows.iter().map(|r| r.created).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.f).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.i))),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.s.clone()).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

pub(crate) fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(path).unwrap();
    // Small row groups, so the time filter's row-group pruning is exercised.
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(500))
        .build();
    let mut w = ArrowWriter::try_new(f, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// Writes a repository whose `user_stats` view (ttl 2d) reads the generated rows.
pub(crate) fn write_repo(dir: &Path, rows: &[Row]) {
    write_parquet(&dir.join("data/user_stats.parquet"), &batch(rows));
    std::fs::create_dir_all(dir.join("features")).unwrap();
    std::fs::write(
        dir.join("tessera.yaml"),
        "project: mtest\nonline_store: { type: embedded, path: .tessera/online }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("features/defs.yaml"),
        r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - { name: stats, type: batch, path: data/user_stats.parquet, timestamp_field: event_timestamp, created_timestamp_field: created }
feature_views:
  - name: user_stats
    entities: [user]
    source: stats
    ttl: 2d
    features:
      - { name: f, type: float64, classification: internal }
      - { name: i, type: int64, classification: internal }
      - { name: s, type: string, classification: internal }
      - { name: i_again, type: int64, classification: internal, column: i }
purposes: [{ name: training, allows: [public, internal, personal] }]
"#,
    )
    .unwrap();
}

/// Brute force: the latest row per user with `start <= ts <= end`, by (ts, created) with a
/// null created lowest. Equal (ts, created) pairs never occur in the generated data.
pub(crate) fn latest(rows: &[Row], start: Option<i64>, end: i64) -> BTreeMap<i64, Row> {
    let mut best: BTreeMap<i64, Row> = BTreeMap::new();
    let key = |r: &Row| (r.ts, r.created.unwrap_or(i64::MIN));
    for r in rows
        .iter()
        .filter(|r| start.is_none_or(|s| r.ts >= s) && r.ts <= end)
    {
        match best.get(&r.user) {
            Some(b) if key(b) >= key(r) => {}
            _ => {
                best.insert(r.user, r.clone());
            }
        }
    }
    best
}
