//! Other data shapes: string and composite keys, several views over different entities in
//! one call, CSV sources, narrow integer types, the exact TTL boundary and ties.

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Int32Array, Int64Array, StringArray, TimestampNanosecondArray,
    TimestampSecondArray,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use tessera_core::FeatureRef;

use crate::fixtures::{run, write_parquet, write_repo, Run};

const DEFS: &str = r#"
entities:
  - { name: user, join_keys: [user] }
  - { name: session, join_keys: [user, device] }
  - { name: item, join_keys: [item_id] }
sources:
  - { name: u, type: batch, path: data/u.parquet, timestamp_field: ts, created_timestamp_field: created }
  - { name: s, type: batch, path: data/s.parquet, timestamp_field: ts }
  - { name: i, type: batch, path: data/items.csv, timestamp_field: ts }
feature_views:
  - name: user_v
    entities: [user]
    source: u
    ttl: 10s
    features: [{ name: n, type: int64, classification: internal }]
  - name: session_v
    entities: [session]
    source: s
    features: [{ name: hits, type: int64, classification: internal, column: hits_raw }]
  - name: item_v
    entities: [item]
    source: i
    features:
      - { name: genre, type: string, classification: public }
      - { name: year, type: int64, classification: public }
purposes: [{ name: training, allows: [public, internal] }]
"#;

#[tokio::test]
async fn string_composite_and_csv_keys_in_one_call() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write_repo(dir, DEFS);
    let sec = |v: Vec<i64>| Arc::new(TimestampSecondArray::from(v)) as Arc<dyn Array>;
    // user "a": rows at 0 (n=1), 10 (n=2, created 5), 10 (n=3, created 7), 20 (n=4)
    write_parquet(
        &dir.join("data/u.parquet"),
        &RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("user", DataType::Utf8, false),
                Field::new("ts", DataType::Timestamp(TimeUnit::Second, None), false),
                Field::new(
                    "created",
                    DataType::Timestamp(TimeUnit::Second, None),
                    false,
                ),
                Field::new("n", DataType::Int32, false),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["a", "a", "a", "a", "b"])),
                sec(vec![0, 10, 10, 20, 5]),
                sec(vec![0, 5, 7, 20, 5]),
                Arc::new(Int32Array::from(vec![1, 3, 2, 4, 9])),
            ],
        )
        .unwrap(),
    );
    write_parquet(
        &dir.join("data/s.parquet"),
        &RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("user", DataType::Utf8, false),
                Field::new("device", DataType::Int64, false),
                Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
                Field::new("hits_raw", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["a", "a", "b"])),
                Arc::new(Int64Array::from(vec![1, 2, 1])),
                Arc::new(TimestampNanosecondArray::from(vec![1, 1, 1])),
                Arc::new(Int64Array::from(vec![100, 200, 300])),
            ],
        )
        .unwrap(),
    );
    std::fs::write(dir.join("data/items.csv"), "item_id,ts,genre,year\n7,1970-01-01T00:00:00Z,jazz,1999\n8,1970-01-01T00:00:30Z,rock,2001\n").unwrap();

    // spine: (user, device, item, t)
    let spine = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user", DataType::Utf8, true),
            Field::new("device", DataType::Int64, true),
            Field::new("item_id", DataType::Int64, true),
            Field::new(
                "event_timestamp",
                DataType::Timestamp(TimeUnit::Second, None),
                false,
            ),
        ])),
        vec![
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("a"),
                Some("a"),
                Some("a"),
                Some("b"),
                None,
                Some("a"),
            ])),
            Arc::new(Int64Array::from(vec![1, 2, 1, 1, 1, 1, 3])),
            Arc::new(Int64Array::from(vec![7, 8, 8, 7, 7, 7, 9])),
            sec(vec![10, 20, 30, 31, 15, 10, 9]),
        ],
    )
    .unwrap();
    write_parquet(&dir.join("spine.parquet"), &spine);
    let set = run(&Run {
        repo: dir.to_path_buf(),
        spine: dir.join("spine.parquet"),
        features: FeatureRef::parse_list("item_v:genre,user_v:n,session_v:hits,item_v:year")
            .unwrap(),
        partitions: 2,
        chunk_rows: 2,
        candidate_filter: true,
    })
    .await
    .unwrap();
    let b = set.batch;
    let schema = b.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "user",
            "device",
            "item_id",
            "event_timestamp",
            "item_v__genre",
            "user_v__n",
            "session_v__hits",
            "item_v__year"
        ]
    );
    let n = b.column_by_name("user_v__n").unwrap();
    assert_eq!(
        n.data_type(),
        &DataType::Int64,
        "int32 source widened to the declared int64"
    );
    let n: Vec<Option<i64>> = n.as_primitive::<Int64Type>().iter().collect();
    // t=10: tie at 10 -> created 7 wins (n=2); t=20 -> n=4; t=30: 20 is exactly 10s old -> inclusive (n=4);
    // t=31: nothing within 10s -> null; user b at 15 -> 9; null user -> null; t=9 -> row at 0 is 9s old -> 1
    assert_eq!(
        n,
        vec![Some(2), Some(4), Some(4), None, Some(9), None, Some(1)]
    );
    let hits: Vec<Option<i64>> = b
        .column_by_name("session_v__hits")
        .unwrap()
        .as_primitive::<Int64Type>()
        .iter()
        .collect();
    assert_eq!(
        hits,
        vec![
            Some(100),
            Some(200),
            Some(100),
            Some(100),
            Some(300),
            None,
            None
        ]
    );
    let genre = b
        .column_by_name("item_v__genre")
        .unwrap()
        .as_string::<i32>();
    let genre: Vec<Option<&str>> = genre.iter().collect();
    // item 8 only exists from t=30 on
    assert_eq!(
        genre,
        vec![
            Some("jazz"),
            None,
            Some("rock"),
            Some("jazz"),
            Some("jazz"),
            Some("jazz"),
            None
        ]
    );
}

#[tokio::test]
async fn integer_version_breaks_ties() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write_repo(
        dir,
        r#"
entities: [{ name: user, join_keys: [user] }]
sources: [{ name: u, type: batch, path: data/u.parquet, timestamp_field: ts, created_timestamp_field: version }]
feature_views:
  - { name: v, entities: [user], source: u, features: [{ name: n, type: int64, classification: internal }] }
purposes: [{ name: training, allows: [internal] }]
"#,
    );
    let sec = |v: Vec<i64>| Arc::new(TimestampSecondArray::from(v)) as Arc<dyn Array>;
    write_parquet(
        &dir.join("data/u.parquet"),
        &RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("user", DataType::Int64, false),
                Field::new("ts", DataType::Timestamp(TimeUnit::Second, None), false),
                Field::new("version", DataType::Int32, true),
                Field::new("n", DataType::Int64, false),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![1, 1, 1])),
                sec(vec![5, 5, 5]),
                Arc::new(Int32Array::from(vec![Some(2), None, Some(7)])),
                Arc::new(Int64Array::from(vec![20, 0, 70])),
            ],
        )
        .unwrap(),
    );
    write_parquet(
        &dir.join("spine.parquet"),
        &RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("user", DataType::Int64, false),
                Field::new(
                    "event_timestamp",
                    DataType::Timestamp(TimeUnit::Second, None),
                    false,
                ),
            ])),
            vec![Arc::new(Int64Array::from(vec![1, 1])), sec(vec![5, 4])],
        )
        .unwrap(),
    );
    let set = run(&Run {
        repo: dir.to_path_buf(),
        spine: dir.join("spine.parquet"),
        features: FeatureRef::parse_list("v:n").unwrap(),
        partitions: 1,
        chunk_rows: 1 << 19,
        candidate_filter: true,
    })
    .await
    .unwrap();
    let n: Vec<Option<i64>> = set
        .batch
        .column_by_name("v__n")
        .unwrap()
        .as_primitive::<Int64Type>()
        .iter()
        .collect();
    assert_eq!(n, vec![Some(70), None]);
}
