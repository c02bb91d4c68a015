//! Bad input is refused up front with an error that names the problem and the fix, and
//! nothing is computed.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use tessera_core::FeatureRef;

use crate::fixtures::{run, write_parquet, write_repo, Run};

const DEFS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - { name: src, type: batch, path: data/src.parquet, timestamp_field: ts }
feature_views:
  - name: v
    entities: [user]
    source: src
    ttl: 1d
    features:
      - { name: f, type: float64, classification: internal }
purposes: [{ name: training, allows: [internal] }]
"#;

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

fn setup(dir: &std::path::Path) {
    write_repo(dir, DEFS);
    let b = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, false),
            Field::new("ts", ts_type(), false),
            Field::new("f", DataType::Float64, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(TimestampMicrosecondArray::from(vec![0, 0])),
            Arc::new(Float64Array::from(vec![1.0, 2.0])),
        ],
    )
    .unwrap();
    write_parquet(&dir.join("data/src.parquet"), &b);
}

fn spine(
    dir: &std::path::Path,
    name: &str,
    cols: Vec<(&str, Arc<dyn arrow::array::Array>)>,
) -> std::path::PathBuf {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let b = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        cols.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let p = dir.join(name);
    write_parquet(&p, &b);
    p
}

async fn err_of(dir: &std::path::Path, spine: std::path::PathBuf, features: &str) -> String {
    match run(&Run {
        repo: dir.to_path_buf(),
        spine,
        features: FeatureRef::parse_list(features).unwrap(),
        partitions: 2,
        chunk_rows: 1 << 19,
        candidate_filter: true,
    })
    .await
    {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn each_bad_input_gets_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    setup(dir);
    let ts =
        || -> Arc<dyn arrow::array::Array> { Arc::new(TimestampMicrosecondArray::from(vec![10])) };

    let e = err_of(dir, dir.join("missing.parquet"), "v:f").await;
    assert!(
        e.contains("missing.parquet") && e.contains("does not exist") && e.contains("hint"),
        "{e}"
    );

    std::fs::write(dir.join("garbage.parquet"), b"not parquet").unwrap();
    let e = err_of(dir, dir.join("garbage.parquet"), "v:f").await;
    assert!(
        e.contains("garbage.parquet") && e.contains("cannot be read"),
        "{e}"
    );

    let p = spine(
        dir,
        "no_ts.parquet",
        vec![("user_id", Arc::new(Int64Array::from(vec![1])))],
    );
    let e = err_of(dir, p, "v:f").await;
    assert!(
        e.contains("no timestamp column `event_timestamp`") && e.contains("--timestamp-column"),
        "{e}"
    );

    let p = spine(dir, "no_key.parquet", vec![("event_timestamp", ts())]);
    let e = err_of(dir, p, "v:f").await;
    assert!(
        e.contains("no column `user_id`") && e.contains("feature view `v`"),
        "{e}"
    );

    let p = spine(
        dir,
        "str_key.parquet",
        vec![
            ("user_id", Arc::new(StringArray::from(vec!["1"]))),
            ("event_timestamp", ts()),
        ],
    );
    let e = err_of(dir, p, "v:f").await;
    assert!(
        e.contains("join key `user_id` is Utf8 in the spine but Int64"),
        "{e}"
    );

    let p = spine(
        dir,
        "ok.parquet",
        vec![
            ("user_id", Arc::new(Int64Array::from(vec![1]))),
            ("event_timestamp", ts()),
        ],
    );
    let e = err_of(dir, p.clone(), "v:nope").await;
    assert!(
        e.contains("unknown feature `v:nope`") && e.contains("known: f"),
        "{e}"
    );
    let e = err_of(dir, p.clone(), "w:f").await;
    assert!(e.contains("unknown feature view `w`"), "{e}");

    let p = spine(
        dir,
        "null_ts.parquet",
        vec![
            ("user_id", Arc::new(Int64Array::from(vec![1, 2]))),
            (
                "event_timestamp",
                Arc::new(TimestampMicrosecondArray::from(vec![Some(1), None])),
            ),
        ],
    );
    let e = err_of(dir, p, "v:f").await;
    assert!(e.contains("1 rows have no timestamp"), "{e}");

    let p = spine(
        dir,
        "clash.parquet",
        vec![
            ("user_id", Arc::new(Int64Array::from(vec![1]))),
            ("event_timestamp", ts()),
            ("v__f", Arc::new(Int64Array::from(vec![1]))),
        ],
    );
    let e = err_of(dir, p, "v:f").await;
    assert!(e.contains("clashes with a spine column"), "{e}");
}

#[tokio::test]
async fn source_schema_mismatches_name_the_view_and_column() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    setup(dir);
    let defs = DEFS
        .replace("type: float64", "type: string")
        .replace("timestamp_field: ts", "timestamp_field: when");
    std::fs::write(dir.join("features/defs.yaml"), defs).unwrap();
    let p = spine(
        dir,
        "ok.parquet",
        vec![
            ("user_id", Arc::new(Int64Array::from(vec![1]))),
            (
                "event_timestamp",
                Arc::new(TimestampMicrosecondArray::from(vec![10])),
            ),
        ],
    );
    let e = err_of(dir, p, "v:f").await;
    assert!(e.contains("features/defs.yaml: feature_view `v`"), "{e}");
    assert!(e.contains("no timestamp column `when`"), "{e}");
    assert!(
        e.contains("feature `f` is declared string but column `f` holds Float64"),
        "{e}"
    );
}
