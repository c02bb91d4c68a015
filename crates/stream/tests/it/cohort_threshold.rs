//! k-thresholds through the stream engine: an item's cohort count is suppressed until k
//! distinct users contributed (one who plays 100 times counts once), in the engine's
//! states, in what it writes to the online store (read back with the status the access
//! layer gives: `None` = suppressed), and in the batch backfill over its offline log.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use arrow::array::{Int64Array, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use tessera_core::aggregate::Value;
use tessera_core::{ArrowValues, FeatureRef, FeatureRepo};
use tessera_online::{
    selected_aggregate_values, EmbeddedStore, EntityKey, KeyValue, OnlineStore, STATE_FEATURE,
};
use tessera_stream::{StreamConfig, StreamEngine};

use super::parity::{columns, write_repo, Ev};

const HOUR: i64 = 3_600_000_000;
const T0: i64 = 1_780_000_000_000_000;

const DEFS: &str = r#"
entities:
  - { name: item, join_keys: [item_id] }
sources:
  - name: plays
    type: stream
    path: data/plays
    timestamp_field: ts
    stream:
      schema: { user_id: int64, item_id: int64, action: string, dwell_s: float64, event_id: string }
      event_id_field: event_id
      allowed_lateness: 1h
feature_views:
  - name: item_cohort
    entities: [item]
    source: plays
    classification: internal
    aggregations:
      - { function: count, windows: [1d], min_contributors: { k: 3, by: user_id } }
purposes: [{ name: training, allows: [public, internal, personal] }]
"#;

fn item(id: i64) -> EntityKey {
    EntityKey::new([("item_id", KeyValue::Int64(id))]).unwrap()
}

fn ev(user: i64, item: i64, ts: i64, n: usize) -> Ev {
    Ev {
        user,
        item,
        action: "play",
        dwell: Some(1.0),
        ts,
        id: format!("e{n}"),
    }
}

#[tokio::test]
async fn cohorts_below_k_are_suppressed_in_the_stream_engine_and_online() {
    let d = tempfile::tempdir().unwrap();
    write_repo(d.path(), DEFS);
    let now = T0 + 10 * HOUR;
    let clock = Arc::new(AtomicI64::new(now));
    let repo = FeatureRepo::load(d.path()).unwrap();
    let catalog = Arc::new(repo.catalog);
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&d.path().join(".tessera/online")).unwrap());
    let c = clock.clone();
    let config = StreamConfig {
        clock: Arc::new(move || c.load(std::sync::atomic::Ordering::SeqCst)),
        ..StreamConfig::default()
    };
    let engine = StreamEngine::open(d.path(), catalog.clone(), store.clone(), config)
        .await
        .unwrap();
    // Item 100: user 0 plays 100 times, user 1 once (k - 1 contributors).
    // Item 101: users 0, 1, 2 (k contributors).
    let mut evs: Vec<Ev> = (0..100)
        .map(|i| ev(0, 100, now - HOUR + i, i as usize))
        .collect();
    evs.push(ev(1, 100, now - HOUR, 100));
    for u in 0..3 {
        evs.push(ev(u, 101, now - HOUR, 101 + u as usize));
    }
    engine.ingest("plays", columns(&evs)).await.unwrap();
    engine.flush().await.unwrap();

    let engine_value = |id| {
        let engine = &engine;
        async move {
            engine
                .values_at("item_cohort", &item(id), now)
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(engine_value(100).await, [Value::Null]);
    assert_eq!(engine_value(101).await, [Value::Int64(3)]);

    let spec = catalog
        .view_spec(catalog.view("item_cohort").unwrap())
        .unwrap()
        .unwrap();
    let keys = [item(100).encode(), item(101).encode()];
    let rows = store
        .read_selected("item_cohort", &keys, &[STATE_FEATURE])
        .await
        .unwrap();
    let served: Vec<_> = rows
        .iter()
        .map(|r| selected_aggregate_values(r.as_ref(), &spec, now).unwrap())
        .collect();
    assert_eq!(served, [vec![None], vec![Some(Value::Int64(3))]]);

    // A third user reaches k: the value shows from then on.
    engine
        .ingest("plays", columns(&[ev(2, 100, now - HOUR / 2, 200)]))
        .await
        .unwrap();
    assert_eq!(engine_value(100).await, [Value::Int64(102)]);

    // The batch backfill over the offline log the engine left gives the same values: item
    // 100 before its third contributor suppressed, after it shown; item 101 shown.
    let spine = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("item_id", DataType::Int64, false),
            Field::new(
                "event_timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![100, 100, 101])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                now - 2 * HOUR / 3,
                now,
                now,
            ])),
        ],
    )
    .unwrap();
    let spine_path = d.path().join("spine.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&spine_path).unwrap(),
        spine.schema(),
        None,
    )
    .unwrap();
    w.write(&spine).unwrap();
    w.close().unwrap();
    let offline_repo = tessera_offline::load_repo(d.path()).await.unwrap();
    let offline = tessera_offline::OfflineEngine::new(d.path(), Arc::new(offline_repo.catalog));
    let prepared = offline
        .prepare(&tessera_offline::TrainingSetRequest {
            spine: spine_path,
            features: vec![FeatureRef::parse("item_cohort:count_1d").unwrap()],
            timestamp_column: "event_timestamp".into(),
            short_names: false,
        })
        .await
        .unwrap();
    let set = offline
        .run(prepared, Arc::new(tessera_offline::NoProgress))
        .await
        .unwrap();
    let col = set.batch.column_by_name("item_cohort__count_1d").unwrap();
    let values = ArrowValues::new(col).unwrap();
    assert_eq!(
        (0..3).map(|i| values.get(i)).collect::<Vec<_>>(),
        [Value::Null, Value::Int64(102), Value::Int64(3)]
    );
}
