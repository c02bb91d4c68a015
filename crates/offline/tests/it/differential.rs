//! Random data, compared with the brute-force reference, plus the rule's properties checked
//! directly on the output: no value from the future, TTL respected, ties to the latest
//! created time.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Float64Array, Int64Array, TimestampMicrosecondArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use proptest::prelude::*;
use tessera_core::FeatureRef;

use crate::fixtures::{run, write_parquet, write_repo, Run};
use crate::reference::{pit, Row};

#[derive(Debug, Clone)]
struct Case {
    rows: Vec<Row>,
    spine: Vec<(Option<i64>, i64)>,
    ttl: Option<i64>,
    files: usize,
    partitions: usize,
    chunk_rows: usize,
    candidate_filter: bool,
}

fn arb_case() -> impl Strategy<Value = Case> {
    let row = (
        prop::option::weighted(0.95, 0i64..6),
        prop::option::weighted(0.95, 0i64..40),
        prop::option::weighted(0.8, 0i64..4),
        prop::option::weighted(0.85, -100.0f64..100.0),
    );
    (
        prop::collection::vec(row, 0..120),
        // keys 0..8: 6 and 7 never have history; times before, inside and after the data
        prop::collection::vec((prop::option::weighted(0.95, 0i64..8), -5i64..50), 0..60),
        prop::option::of(1i64..15), // `0` means unlimited, as in Feast
        1usize..4,
        1usize..3,
        prop::sample::select(vec![1usize, 3, 16, 1 << 19]),
        any::<bool>(),
    )
        .prop_map(
            |(raw, spine, ttl, files, partitions, chunk_rows, candidate_filter)| {
                // Exact (key, ts, created) duplicates are indistinguishable by the rule: keep one.
                let mut seen = HashSet::new();
                let rows = raw
                    .into_iter()
                    .enumerate()
                    .filter(|(_, (k, t, c, _))| {
                        k.is_none() || t.is_none() || seen.insert((*k, *t, *c))
                    })
                    .map(|(i, (key, ts, created, value))| Row {
                        key,
                        ts,
                        created,
                        value,
                        row_id: i as i64,
                    })
                    .collect();
                Case {
                    rows,
                    spine,
                    ttl,
                    files,
                    partitions,
                    chunk_rows,
                    candidate_filter,
                }
            },
        )
}

const DEFS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - { name: src, type: batch, path: data/src, format: parquet, timestamp_field: ts, created_timestamp_field: created }
feature_views:
  - name: v
    entities: [user]
    source: src
    TTL_LINE
    features:
      - { name: value, type: float64, classification: internal }
      - { name: row_id, type: int64, classification: internal }
purposes: [{ name: training, allows: [internal] }]
"#;

/// Source times in milliseconds, spine times in microseconds: units are mixed on purpose.
fn write_case(dir: &std::path::Path, c: &Case) {
    let ttl_line = match c.ttl {
        Some(t) => format!("ttl: {t}s"),
        None => String::new(),
    };
    write_repo(dir, &DEFS.replace("TTL_LINE", &ttl_line));
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new(
            "created",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new("value", DataType::Float64, true),
        Field::new("row_id", DataType::Int64, false),
    ]));
    let per = c.rows.len().div_ceil(c.files).max(1);
    for (i, chunk) in c
        .rows
        .chunks(per)
        .enumerate()
        .chain(std::iter::once((99, &[][..])))
    {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(
                    chunk.iter().map(|r| r.key).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    chunk
                        .iter()
                        .map(|r| r.ts.map(|t| t * 1000))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    chunk
                        .iter()
                        .map(|r| r.created.map(|t| t * 1000))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    chunk.iter().map(|r| r.value).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    chunk.iter().map(|r| r.row_id).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap();
        write_parquet(&dir.join(format!("data/src/part-{i}.parquet")), &batch);
    }
    let spine = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, true),
            Field::new(
                "event_timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("label", DataType::Int64, false),
        ])),
        vec![
            Arc::new(Int64Array::from(
                c.spine.iter().map(|s| s.0).collect::<Vec<_>>(),
            )),
            Arc::new(
                TimestampMicrosecondArray::from(
                    c.spine.iter().map(|s| s.1 * 1_000_000).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from_iter_values(0..c.spine.len() as i64)),
        ],
    )
    .unwrap();
    write_parquet(&dir.join("spine.parquet"), &spine);
}

fn execute(c: &Case) -> (Vec<Option<i64>>, Vec<Option<f64>>, Vec<i64>) {
    let dir = tempfile::tempdir().unwrap();
    write_case(dir.path(), c);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let set = rt
        .block_on(run(&Run {
            repo: dir.path().to_path_buf(),
            spine: dir.path().join("spine.parquet"),
            features: vec![
                FeatureRef::new("v", "value"),
                FeatureRef::new("v", "row_id"),
            ],
            partitions: c.partitions,
            chunk_rows: c.chunk_rows,
            candidate_filter: c.candidate_filter,
        }))
        .unwrap();
    let b = set.batch;
    let ids = b
        .column_by_name("v__row_id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let vals = b
        .column_by_name("v__value")
        .unwrap()
        .as_primitive::<Float64Type>();
    let labels = b
        .column_by_name("label")
        .unwrap()
        .as_primitive::<Int64Type>();
    (
        (0..ids.len())
            .map(|i| ids.is_valid(i).then(|| ids.value(i)))
            .collect(),
        (0..vals.len())
            .map(|i| vals.is_valid(i).then(|| vals.value(i)))
            .collect(),
        labels.values().to_vec(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The engine agrees with the brute-force reference on every row, in spine order.
    #[test]
    fn matches_brute_force_reference(c in arb_case()) {
        let (ids, vals, labels) = execute(&c);
        prop_assert_eq!(labels, (0..c.spine.len() as i64).collect::<Vec<_>>(), "spine order kept");
        let want = pit(&c.rows, &c.spine, c.ttl);
        prop_assert_eq!(&ids, &want);
        for (id, v) in ids.iter().zip(&vals) {
            let expected = id.and_then(|id| c.rows.iter().find(|r| r.row_id == id).unwrap().value);
            prop_assert_eq!(*v, expected, "value travels with its row (nulls included)");
        }
    }

    /// Properties of the rule, checked on the output alone.
    #[test]
    fn never_future_ttl_respected_latest_created_wins(c in arb_case()) {
        let (ids, _, _) = execute(&c);
        for (&(key, t), id) in c.spine.iter().zip(&ids) {
            let Some(id) = id else { continue };
            let row = c.rows.iter().find(|r| r.row_id == *id).unwrap();
            let ts = row.ts.unwrap();
            prop_assert_eq!(row.key, key, "same entity");
            prop_assert!(ts <= t, "no value from the future: row at {} for spine at {}", ts, t);
            if let Some(ttl) = c.ttl {
                prop_assert!(ts >= t - ttl, "TTL respected: row at {} for spine at {} ttl {}", ts, t, ttl);
            }
            for other in c.rows.iter().filter(|r| r.key == key && r.ts == Some(ts)) {
                prop_assert!(other.created <= row.created, "tie broken by the greatest created");
            }
        }
    }
}
