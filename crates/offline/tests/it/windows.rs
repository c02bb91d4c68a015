//! Aggregation views in training sets: every value equals a brute-force fold of the
//! events in `[window.start_at(T), T]`, on random data with equal timestamps, nulls,
//! filters, keys without events and spine rows before all history.

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use tessera_core::aggregate::{Row, Value};
use tessera_core::{ArrowValues, FeatureRef};

use super::fixtures::{run, write_parquet, write_repo, Run};

const DEFS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - { name: plays, type: batch, path: data/plays.parquet, timestamp_field: ts }
feature_views:
  - name: user_plays
    entities: [user]
    source: plays
    classification: internal
    aggregations:
      - { column: dwell_s, function: sum, windows: [1h, 1d, 7d] }
      - { function: count, windows: [1d, 30d, lifetime], filter: "action = 'play'" }
      - { column: item_id, function: count_distinct, windows: [30d] }
      - { column: item_id, function: approx_count_distinct, windows: [7d] }
      - { column: dwell_s, function: p90, windows: [7d] }
      - { column: dwell_s, function: mean, windows: [1d] }
      - { column: dwell_s, function: max, windows: [2h] }
      - { column: action, function: last, windows: [1d] }
      - { column: item_id, function: last_k, k: 3, windows: [1d] }
purposes: [{ name: training, allows: [public, internal, personal] }]
"#;

const HOUR: i64 = 3_600_000_000;

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

struct Rows<'a>(&'a [(&'a str, Value)]);
impl Row for Rows<'_> {
    fn get(&self, column: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == column).map(|(_, d)| d)
    }
}

#[tokio::test]
async fn aggregation_features_equal_brute_force() {
    for seed in [1u64, 7, 42] {
        check(seed).await;
    }
}

async fn check(seed: u64) {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), DEFS);
    let mut rng = Lcg(seed);
    let n = 3000;
    let users = 40u64;
    let (mut uid, mut ts, mut action, mut dwell, mut item) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        uid.push(rng.below(users) as i64);
        // Coarse times so that many events share a timestamp; some on tile edges.
        ts.push(1_000 * HOUR + (rng.below(24 * 40) as i64) * HOUR / 4);
        action.push(["play", "skip", "like"][rng.below(3) as usize]);
        dwell.push(if rng.below(10) == 0 {
            None
        } else {
            Some(rng.below(600) as f64 / 3.0)
        });
        item.push(rng.below(50) as i64);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("action", DataType::Utf8, false),
        Field::new("dwell_s", DataType::Float64, true),
        Field::new("item_id", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(uid.clone())),
            Arc::new(TimestampMicrosecondArray::from(ts.clone()).with_timezone("UTC")),
            Arc::new(StringArray::from(action.clone())),
            Arc::new(Float64Array::from(dwell.clone())),
            Arc::new(Int64Array::from(item.clone())),
        ],
    )
    .unwrap();
    write_parquet(&d.path().join("data/plays.parquet"), &batch);

    // Spine: known and unknown users, times before, inside and after the history.
    let m = 400;
    let mut s_uid = vec![];
    let mut s_ts = vec![];
    for _ in 0..m {
        s_uid.push(if rng.below(20) == 0 {
            None
        } else {
            Some(rng.below(users + 5) as i64)
        });
        s_ts.push(990 * HOUR + rng.below(60 * 24 * 4) as i64 * HOUR / 4 + rng.below(3) as i64);
    }
    let spine = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, true),
            Field::new(
                "event_timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
        ])),
        vec![
            Arc::new(Int64Array::from(s_uid.clone())),
            Arc::new(TimestampMicrosecondArray::from(s_ts.clone())),
        ],
    )
    .unwrap();
    let spine_path = d.path().join("spine.parquet");
    write_parquet(&spine_path, &spine);

    let repo = tessera_offline::load_repo(d.path()).await.unwrap();
    let view = repo.catalog.view("user_plays").unwrap().clone();
    let spec = repo.catalog.view_spec(&view).unwrap().unwrap();
    let features: Vec<FeatureRef> = view
        .features
        .iter()
        .map(|f| FeatureRef::parse(&format!("user_plays:{}", f.name)).unwrap())
        .collect();
    assert_eq!(features.len(), 13, "{features:?}");
    assert!(view.feature("dwell_s_sum_7d").is_some() && view.feature("count_lifetime").is_some());

    let set = run(&Run {
        repo: d.path().to_path_buf(),
        spine: spine_path,
        features: features.clone(),
        partitions: 2,
        chunk_rows: 1024,
        candidate_filter: true,
    })
    .await
    .unwrap();
    let out = &set.batch;
    assert_eq!(out.num_rows(), m);

    // The data is not trivial: most spine rows see events, some see none.
    let c30 = out.column_by_name("user_plays__count_30d").unwrap();
    let c30 = c30.as_primitive::<arrow::datatypes::Int64Type>();
    let nonzero = (0..m)
        .filter(|&i| c30.is_valid(i) && c30.value(i) > 0)
        .count();
    assert!(nonzero > m / 3 && nonzero < m, "{nonzero} of {m}");
    for (fi, f) in features.iter().enumerate() {
        let agg = &spec.aggregations()[fi];
        let col = out
            .column_by_name(&format!("user_plays__{}", f.feature))
            .unwrap();
        let got = ArrowValues::new(col).unwrap();
        for row in 0..m {
            let expected = match s_uid[row] {
                None => Value::Null,
                Some(u) => {
                    let mut state = agg.aggregation().new_state();
                    let lo = agg.window().start_at(s_ts[row]).unwrap_or(i64::MIN);
                    for e in 0..n {
                        if uid[e] != u || ts[e] < lo || ts[e] > s_ts[row] {
                            continue;
                        }
                        let cols = [
                            ("action", Value::String(action[e].to_string())),
                            ("dwell_s", dwell[e].map_or(Value::Null, Value::Float64)),
                            ("item_id", Value::Int64(item[e])),
                        ];
                        if agg.filter().is_some_and(|fl| !fl.eval(&Rows(&cols))) {
                            continue;
                        }
                        let v = agg
                            .column()
                            .and_then(|c| cols.iter().find(|(n, _)| *n == c))
                            .map_or(Value::Null, |(_, d)| d.clone());
                        state.update(&v, ts[e]);
                    }
                    state.finish()
                }
            };
            let actual = if let Some(l) = col.as_list_opt::<i32>() {
                if l.is_null(row) {
                    Value::Null
                } else {
                    let inner = ArrowValues::new(&l.value(row)).unwrap();
                    Value::List((0..l.value(row).len()).map(|i| inner.get(i)).collect())
                }
            } else {
                got.get(row)
            };
            let same = match (&expected, &actual) {
                (Value::Float64(a), Value::Float64(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                (a, b) => a == b,
            };
            assert!(
                same,
                "seed {seed} row {row} {f}: expected {expected:?}, got {actual:?} (user {:?}, t {})",
                s_uid[row], s_ts[row]
            );
        }
    }
}
