//! On-demand features (across crates: offline engine, online store, access layer): the same rows computed in a training set (after the point-in-time
//! join, request fields from spine columns) and served through the access layer (inputs
//! materialised into the online store, request fields from the request context) must be
//! identical, bit for bit for floats. Plus the classification and placement rules.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use tessera_access::{
    AccessConfig, AccessLayer, Caller, EntityRows, FeatureSelection, ReadRequest, ValueStatus,
};
use tessera_audit::{AuditLog, AuditSink, SinkConfig};
use tessera_core::{Catalog, Classification, Definitions, FeatureRef, Placement};
use tessera_materialize::{materialize_view, MaterializeRequest, NoMaterializeProgress};
use tessera_offline::{LatestScan, NoProgress, OfflineEngine, TrainingSetRequest};
use tessera_online::{EmbeddedStore, KeyValue, Value};

const YAML: &str = r#"
entities:
  - { name: user, join_keys: [user_id] }
  - { name: item, join_keys: [item_id] }
sources:
  - { name: plays, type: batch, path: plays.parquet, timestamp_field: ts }
  - { name: items, type: batch, path: items.parquet, timestamp_field: ts }
feature_views:
  - name: user_stats
    entities: [user]
    source: plays
    features:
      - { name: dwell, type: float64, classification: personal }
      - { name: plays, type: int64, classification: internal }
  - name: item_meta
    entities: [item]
    source: items
    features:
      - { name: duration, type: float64, classification: public }
      - { name: genre, type: string, classification: public }
on_demand_views:
  - name: affinity
    inputs: [user_stats:dwell, user_stats:plays, item_meta:duration, item_meta:genre]
    request: [{ name: hour, type: int64 }, { name: boost, type: float64 }]
    features:
      - { name: dwell_per_play, type: float64, expression: "if(plays > 0, dwell / plays, null)" }
      - { name: score, type: float64, classification: sensitive, expression: "ln(1 + coalesce(dwell, 0)) * sqrt(duration) / (hour + 1) + boost * 0.1" }
      - { name: evening_rock, type: bool, expression: "hour >= 18 and genre = 'rock'" }
      - { name: plays_mod, type: int64, expression: "plays % 7 - hour" }
      - { name: rounded, type: float64, expression: "round(duration / 3.0, 2) + max(plays, 2)" }
purposes:
  - { name: ranking, allows: [public, internal, personal, sensitive] }
  - { name: analytics, allows: [public, internal] }
consumers: [{ name: ranker, token_env: T, purposes: [ranking, analytics] }]
"#;

/// A deterministic pseudo-random sequence.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn float(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 997.0 + (self.next() % 1000) as f64 * 1e-7
    }
}

fn write_parquet(path: &std::path::Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

fn batch(fields: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let schema = Schema::new(
        fields
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(
        Arc::new(schema),
        fields.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

fn ts_array(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

#[tokio::test]
async fn training_set_and_serving_give_identical_values() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let day = 86_400_000_000i64;
    let mut rng = Lcg(42);
    let users = 40i64;
    let items = 12i64;
    // Several rows per user at different times; some nulls; user 0 never plays.
    let (mut uid, mut uts, mut dwell, mut plays) = (vec![], vec![], vec![], vec![]);
    for u in 1..=users {
        for k in 0..(1 + rng.next() % 4) {
            uid.push(u);
            uts.push(now - day * 10 + (k as i64) * day + (rng.next() % 1000) as i64);
            dwell.push((!rng.next().is_multiple_of(9)).then(|| rng.float()));
            plays.push((!rng.next().is_multiple_of(11)).then(|| (rng.next() % 50) as i64));
        }
    }
    write_parquet(
        &root.join("plays.parquet"),
        &batch(vec![
            ("user_id", Arc::new(Int64Array::from(uid))),
            ("ts", ts_array(uts)),
            ("dwell", Arc::new(Float64Array::from(dwell))),
            ("plays", Arc::new(Int64Array::from(plays))),
        ]),
    );
    let genres = ["rock", "jazz", "pop"];
    let (mut iid, mut its, mut dur, mut genre) = (vec![], vec![], vec![], vec![]);
    for i in 1..=items {
        iid.push(i);
        its.push(now - day * 20);
        dur.push(Some(60.0 + rng.float()));
        genre.push(Some(genres[(rng.next() % 3) as usize]));
    }
    write_parquet(
        &root.join("items.parquet"),
        &batch(vec![
            ("item_id", Arc::new(Int64Array::from(iid))),
            ("ts", ts_array(its)),
            ("duration", Arc::new(Float64Array::from(dur))),
            ("genre", Arc::new(StringArray::from(genre))),
        ]),
    );
    let catalog = Arc::new(
        Catalog::build(vec![
            Definitions::from_yaml_str(YAML, "f.yaml".as_ref()).unwrap()
        ])
        .unwrap(),
    );

    // The spine: one row per (user, item) request at one instant, after every event.
    let at = now - 1_000_000;
    let (mut su, mut si, mut sh, mut sb) = (vec![], vec![], vec![], vec![]);
    for n in 0..60 {
        su.push((rng.next() % (users as u64 + 1)) as i64); // includes user 0 (no rows)
        si.push(1 + (rng.next() % items as u64) as i64);
        sh.push((n % 24) as i64);
        sb.push(rng.float());
    }
    write_parquet(
        &root.join("spine.parquet"),
        &batch(vec![
            ("user_id", Arc::new(Int64Array::from(su.clone()))),
            ("item_id", Arc::new(Int64Array::from(si.clone()))),
            ("ts", ts_array(vec![at; su.len()])),
            ("hour", Arc::new(Int64Array::from(sh.clone()))),
            ("boost", Arc::new(Float64Array::from(sb.clone()))),
        ]),
    );
    let features: Vec<String> = [
        "affinity:dwell_per_play",
        "affinity:score",
        "affinity:evening_rock",
        "affinity:plays_mod",
        "affinity:rounded",
        "user_stats:plays",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let engine = OfflineEngine::new(root, catalog.clone());
    let prepared = engine
        .prepare(&TrainingSetRequest {
            spine: root.join("spine.parquet"),
            features: features
                .iter()
                .map(|f| FeatureRef::parse(f).unwrap())
                .collect(),
            timestamp_column: "ts".into(),
            short_names: false,
        })
        .await
        .unwrap();
    let training = engine
        .run(prepared, Arc::new(NoProgress))
        .await
        .unwrap()
        .batch;

    // Serving: materialise the inputs, then read each spine row with its context.
    let store = Arc::new(EmbeddedStore::open(&root.join("online")).unwrap());
    let scan = LatestScan::new(root, catalog.clone());
    for view in ["user_stats", "item_meta"] {
        materialize_view(
            store.clone(),
            &scan,
            &MaterializeRequest {
                view: view.into(),
                start_us: None,
                end_us: now,
                batch_rows: 1000,
                future: tessera_online::FutureBound::default(),
            },
            Arc::new(NoMaterializeProgress),
        )
        .await
        .unwrap();
    }
    let audit = Arc::new(
        AuditSink::spawn(AuditLog::new(&root.join("audit")), SinkConfig::default()).unwrap(),
    );
    let access = AccessLayer::new(
        catalog.clone(),
        store,
        audit.clone(),
        AccessConfig::default(),
    );
    let mut compared = 0;
    for row in 0..su.len() {
        let mut req = ReadRequest {
            features: FeatureSelection::Features(features.clone()),
            entities: EntityRows::new(vec![
                ("user_id".into(), vec![KeyValue::Int64(su[row])]),
                ("item_id".into(), vec![KeyValue::Int64(si[row])]),
            ])
            .unwrap(),
            context: Default::default(),
            purpose: Some("ranking".into()),
            caller: Caller::consumer("ranker"),
        };
        req.context.insert("hour".into(), Value::Int64(sh[row]));
        req.context.insert("boost".into(), Value::Float64(sb[row]));
        let served = access.read(req).await.unwrap();
        for (k, f) in features.iter().enumerate() {
            let col = training
                .column_by_name(&FeatureRef::parse(f).unwrap().column_name())
                .unwrap();
            let offline = cell(col, row);
            let online = &served.columns[k].values[0];
            assert_eq!(
                bits(&offline),
                bits(online),
                "{f}, spine row {row}: training {offline:?} vs served {online:?}"
            );
            if !matches!(online, Value::Null) {
                assert_eq!(served.columns[k].statuses[0], ValueStatus::Present);
                compared += 1;
            }
        }
    }
    assert!(
        compared > 200,
        "too few non-null values compared: {compared}"
    );
    audit.shutdown().await.unwrap();
}

fn cell(col: &ArrayRef, row: usize) -> Value {
    if col.is_null(row) {
        return Value::Null;
    }
    match col.data_type() {
        DataType::Float64 => Value::Float64(
            col.as_primitive::<arrow::datatypes::Float64Type>()
                .value(row),
        ),
        DataType::Int64 => {
            Value::Int64(col.as_primitive::<arrow::datatypes::Int64Type>().value(row))
        }
        DataType::Boolean => Value::Bool(col.as_boolean().value(row)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Value::Timestamp(
            col.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(row),
        ),
        other => panic!("unexpected column type {other}"),
    }
}

/// Floats compared by their bits.
fn bits(v: &Value) -> String {
    match v {
        Value::Float64(f) => format!("f64:{:016x}", f.to_bits()),
        other => format!("{other:?}"),
    }
}

#[test]
fn classification_and_placement_follow_the_inputs() {
    let c = Catalog::build(vec![
        Definitions::from_yaml_str(YAML, "f.yaml".as_ref()).unwrap()
    ])
    .unwrap();
    let f = |name: &str| {
        c.feature(&FeatureRef::new("affinity", name))
            .unwrap()
            .feature
            .clone()
    };
    assert_eq!(f("dwell_per_play").classification, Classification::Personal);
    assert_eq!(f("score").classification, Classification::Sensitive);
    assert_eq!(f("score").placement, Placement::Cloud);

    let bad = |replace: (&str, &str)| {
        let yaml = YAML.replace(replace.0, replace.1);
        let e = Catalog::build_from_files(vec![(
            "features/affinity.yaml".into(),
            Definitions::from_yaml_str(&yaml, "f.yaml".as_ref()).unwrap(),
        )])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("features/affinity.yaml") && e.contains("on_demand_view `affinity`"),
            "{e}"
        );
        e
    };
    let e = bad((
        "classification: sensitive, expression",
        "classification: internal, expression",
    ));
    assert!(e.contains("weaker than its inputs' `personal`"), "{e}");
    let e = bad(("dwell / plays, null", "dwell / plays, 'x'"));
    assert!(e.contains("one type"), "{e}");
    let e = bad(("sqrt(duration)", "sqrtt(duration)"));
    assert!(e.contains("unknown function `sqrtt`"), "{e}");
    let e = bad(("coalesce(dwell, 0)", "coalesce(dwel, 0)"));
    assert!(e.contains("unknown name `dwel`"), "{e}");
    let e = bad(("\"hour >= 18 and", "\"hour >= 18 and (")); // unbalanced
    assert!(e.contains("expected"), "{e}");
    let e = bad((
        "type: int64, expression: \"plays % 7",
        "type: string, expression: \"plays % 7",
    ));
    assert!(
        e.contains("declared string but its expression gives int64"),
        "{e}"
    );

    // A device-only input makes every feature that could read it device-only.
    let yaml = YAML.replace(
        "{ name: plays, type: int64, classification: internal }",
        "{ name: plays, type: int64, classification: internal, placement: device_only }",
    );
    let c = Catalog::build(vec![
        Definitions::from_yaml_str(&yaml, "f.yaml".as_ref()).unwrap()
    ])
    .unwrap();
    let p = c
        .feature(&FeatureRef::new("affinity", "rounded"))
        .unwrap()
        .feature
        .placement;
    assert_eq!(p, Placement::DeviceOnly);
}

#[tokio::test]
async fn servers_refuse_on_demand_features_over_device_only_inputs_and_missing_context() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(
        Catalog::build(vec![
            Definitions::from_yaml_str(YAML, "f.yaml".as_ref()).unwrap()
        ])
        .unwrap(),
    );
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("online")).unwrap());
    let audit = Arc::new(
        AuditSink::spawn(
            AuditLog::new(&dir.path().join("audit")),
            SinkConfig::default(),
        )
        .unwrap(),
    );
    let access = AccessLayer::new(catalog, store, audit.clone(), AccessConfig::default());
    let req = |features: &[&str], purpose: &str| ReadRequest {
        features: FeatureSelection::Features(features.iter().map(|s| s.to_string()).collect()),
        entities: EntityRows::new(vec![
            ("user_id".into(), vec![KeyValue::Int64(1)]),
            ("item_id".into(), vec![KeyValue::Int64(1)]),
        ])
        .unwrap(),
        context: Default::default(),
        purpose: Some(purpose.into()),
        caller: Caller::consumer("ranker"),
    };
    // Inherited classification is gated: `personal` is not allowed for analytics.
    let e = access
        .read(req(&["affinity:dwell_per_play"], "analytics"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "denied", "{e}");
    let e = access
        .read(req(&["affinity:score"], "ranking"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "missing_context", "{e}");
    assert!(e.to_string().contains("`hour`"), "{e}");
    // Missing inputs are nulls: the expression decides (here: null).
    let r = access
        .read(req(&["affinity:dwell_per_play"], "ranking"))
        .await
        .unwrap();
    assert_eq!(r.columns[0].statuses, vec![ValueStatus::Null]);
    let explained = access
        .explain(&req(&["affinity:score"], "ranking"))
        .unwrap();
    assert_eq!(explained.features[0].inputs.len(), 4);
    assert_eq!(explained.features[0].request_fields, vec!["hour", "boost"]);
    audit.shutdown().await.unwrap();
}
