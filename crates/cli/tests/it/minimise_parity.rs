//! Minimisation offline and online: the same rows minimised in a training set (Arrow
//! columns) and served through the access layer (values) are identical, bit for bit; and
//! from the CLI: `apply` refuses an unset pseudonymisation key, `training-set` writes the
//! minimised columns with their result types and audits each transform, `catalog` and
//! `explain-request` show each feature's form, and `get` never prints a raw value.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use tessera_access::{
    AccessConfig, AccessLayer, Caller, EntityRows, FeatureSelection, ReadRequest,
};
use tessera_audit::{AuditLog, AuditSink, SinkConfig};
use tessera_core::{ArrowValues, Catalog, Definitions, FeatureRef, FeatureType, Value};
use tessera_materialize::{materialize_view, MaterializeRequest, NoMaterializeProgress};
use tessera_offline::{
    LatestScan, NoProgress, OfflineEngine, TrainingSetMinimisation, TrainingSetRequest,
};
use tessera_online::{EmbeddedStore, KeyValue};

const KEY_ENV: &str = "TESSERA_TEST_PSEUDONYM_KEY_PARITY";

const CONFIG: &str = "project: minimised\nregistry: .tessera/registry\noffline_store: { path: .tessera/offline }\nonline_store: { type: embedded, path: .tessera/online }\naudit_log: .tessera/audit\n";

const YAML: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources: [{ name: profiles, type: batch, path: data/profiles.parquet, timestamp_field: ts }]
feature_views:
  - name: user_profile
    entities: [user]
    source: profiles
    features:
      - { name: age, type: int64, classification: personal }
      - { name: last_seen, type: timestamp, classification: personal }
      - { name: postcode, type: string, classification: personal }
      - { name: lat, type: float64, classification: personal }
      - { name: plays_30d, type: int64, classification: internal }
      - { name: country, type: string, classification: personal }
      - { name: user_ref, type: string, classification: sensitive }
purposes:
  - { name: ranking, allows: [public, internal, personal, sensitive] }
  - name: analytics
    allows: [public, internal]
    minimise:
      user_profile:age:        { bucketize: [18, 25, 35, 50, 65] }
      user_profile:last_seen:  { coarsen: 1d }
      user_profile:postcode:   { truncate: 3 }
      user_profile:lat:        { round: 0.1 }
      user_profile:plays_30d:  { clip: [0, 500] }
      user_profile:country:    { keep: [US, GB, DE, FR, JP], other: other }
      user_profile:user_ref:   { pseudonymise: { key_env: TESSERA_TEST_PSEUDONYM_KEY_PARITY } }
consumers: [{ name: analyst, token_env: T, purposes: [analytics] }]
"#;

const FEATURES: [&str; 7] = [
    "user_profile:age",
    "user_profile:last_seen",
    "user_profile:postcode",
    "user_profile:lat",
    "user_profile:plays_30d",
    "user_profile:country",
    "user_profile:user_ref",
];

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn write_parquet(path: &Path, fields: Vec<(&str, ArrayRef)>) {
    let schema = Schema::new(
        fields
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        fields.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn ts(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(arrow::array::TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

fn bits(v: &Value) -> String {
    match v {
        Value::Float64(x) => format!("f{:x}", x.to_bits()),
        other => format!("{other:?}"),
    }
}

/// Writes the repository: 60 users, random values (nulls, negative coordinates,
/// timestamps before 1970, non-ASCII postcodes), and a spine after every row.
fn write_repo(root: &Path, now: i64) -> (Vec<i64>, Vec<String>) {
    std::fs::write(root.join("tessera.yaml"), CONFIG).unwrap();
    std::fs::create_dir_all(root.join("features")).unwrap();
    std::fs::write(root.join("features/profile.yaml"), YAML).unwrap();
    let mut rng = Lcg(7);
    let users: Vec<i64> = (1..=60).collect();
    let maybe = |rng: &mut Lcg| !rng.next().is_multiple_of(7);
    let postcodes = ["SW1A 1AA", "Zürich 8001", "東京都港区", "75001", "x"];
    let countries = ["US", "GB", "NZ", "BR", "JP", "DE"];
    let (mut age, mut seen, mut pc, mut lat, mut plays, mut country, mut r) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut raw_strings = Vec::new();
    for u in &users {
        age.push(maybe(&mut rng).then(|| (rng.next() % 90) as i64));
        let day = 86_400_000_000i64;
        seen.push(maybe(&mut rng).then(|| {
            (rng.next() % 40_000) as i64 * day / 2 - 5_000 * day + (rng.next() % 1000) as i64
        }));
        pc.push(maybe(&mut rng).then(|| postcodes[(rng.next() % 5) as usize].to_string()));
        lat.push(maybe(&mut rng).then(|| (rng.next() % 180_000) as f64 / 1000.0 - 90.0));
        plays.push(maybe(&mut rng).then(|| (rng.next() % 1200) as i64 - 100));
        country.push(maybe(&mut rng).then(|| countries[(rng.next() % 6) as usize].to_string()));
        let reference = format!("ref-{u}-secret");
        raw_strings.push(reference.clone());
        r.push(Some(reference));
    }
    write_parquet(
        &root.join("data/profiles.parquet"),
        vec![
            ("user_id", Arc::new(Int64Array::from(users.clone()))),
            ("ts", ts(vec![Some(now - 3_600_000_000); users.len()])),
            ("age", Arc::new(Int64Array::from(age))),
            ("last_seen", ts(seen)),
            ("postcode", Arc::new(StringArray::from(pc))),
            ("lat", Arc::new(Float64Array::from(lat))),
            ("plays_30d", Arc::new(Int64Array::from(plays))),
            ("country", Arc::new(StringArray::from(country))),
            ("user_ref", Arc::new(StringArray::from(r))),
        ],
    );
    write_parquet(
        &root.join("data/spine.parquet"),
        vec![
            ("user_id", Arc::new(Int64Array::from(users.clone()))),
            ("ts", ts(vec![Some(now - 1_000_000); users.len()])),
        ],
    );
    (users, raw_strings)
}

fn tessera(root: &Path, args: &[&str], key: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args).arg("--repo").arg(root);
    match key {
        Some(k) => cmd.env(KEY_ENV, k),
        None => cmd.env_remove(KEY_ENV),
    };
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn training_sets_and_online_reads_give_the_same_minimised_values() {
    let key = "parity-test-key-0123456789abcdef0123";
    std::env::set_var(KEY_ENV, key);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let (users, raw_refs) = write_repo(root, now);
    let catalog = Arc::new(
        Catalog::build(vec![
            Definitions::from_yaml_str(YAML, "f.yaml".as_ref()).unwrap()
        ])
        .unwrap(),
    );

    // Offline: the training set, minimised as `tessera training-set` does.
    let req = TrainingSetRequest {
        spine: root.join("data/spine.parquet"),
        features: FEATURES
            .iter()
            .map(|f| FeatureRef::parse(f).unwrap())
            .collect(),
        timestamp_column: "ts".into(),
        short_names: false,
    };
    let engine = OfflineEngine::new(root, catalog.clone());
    let minimisation = TrainingSetMinimisation::plan(&catalog, "analytics", None, &req).unwrap();
    assert_eq!(minimisation.forms().len(), 7);
    let prepared = engine.prepare(&req).await.unwrap();
    let set = engine.run(prepared, Arc::new(NoProgress)).await.unwrap();
    let training = minimisation.apply(set.batch).unwrap();

    // Online: materialise, then read every spine row through the access layer.
    let store = Arc::new(EmbeddedStore::open(&root.join("online-lib")).unwrap());
    let scan = LatestScan::new(root, catalog.clone());
    materialize_view(
        store.clone(),
        &scan,
        &MaterializeRequest {
            view: "user_profile".into(),
            start_us: None,
            end_us: now,
            batch_rows: 1000,
            future: tessera_online::FutureBound::default(),
        },
        Arc::new(NoMaterializeProgress),
    )
    .await
    .unwrap();
    let audit = Arc::new(
        AuditSink::spawn(
            AuditLog::new(&root.join("audit-lib")),
            SinkConfig::default(),
        )
        .unwrap(),
    );
    let access = AccessLayer::new(
        catalog.clone(),
        store,
        audit.clone(),
        AccessConfig::default(),
    );
    let served = access
        .read(ReadRequest {
            features: FeatureSelection::Features(FEATURES.iter().map(|s| s.to_string()).collect()),
            entities: EntityRows::new(vec![(
                "user_id".into(),
                users.iter().map(|u| KeyValue::Int64(*u)).collect(),
            )])
            .unwrap(),
            context: Default::default(),
            purpose: Some("analytics".into()),
            caller: Caller::consumer("analyst"),
        })
        .await
        .unwrap();
    audit.shutdown().await.unwrap();
    let mut compared = 0;
    for (k, f) in FEATURES.iter().enumerate() {
        let col = training
            .column_by_name(&FeatureRef::parse(f).unwrap().column_name())
            .unwrap();
        assert_eq!(
            col.data_type(),
            &served.plan.types()[k].arrow_type(),
            "{f}: the Parquet column carries the result type"
        );
        let offline = ArrowValues::new(col).unwrap();
        for (row, user) in users.iter().enumerate() {
            let (a, b) = (offline.get(row), &served.columns[k].values[row]);
            assert_eq!(
                bits(&a),
                bits(b),
                "{f}, user {user}: training {a:?} vs served {b:?}"
            );
            if !a.is_null() {
                compared += 1;
            }
        }
    }
    assert!(compared > 300, "only {compared} non-null values compared");
    assert_eq!(served.plan.types()[0], FeatureType::String);

    // The CLI: apply refuses without the key; training-set, catalog, explain-request, get.
    let (okay, text) = tessera(root, &["apply"], None);
    assert!(
        !okay
            && text.contains(KEY_ENV)
            && text.contains("purpose `analytics`")
            && text.contains("hint"),
        "{text}"
    );
    let (okay, text) = tessera(root, &["apply"], Some(key));
    assert!(okay, "{text}");
    let out = root.join("train.parquet");
    let spine = root.join("data/spine.parquet");
    let features = FEATURES.join(",");
    let (okay, text) = tessera(
        root,
        &[
            "training-set",
            "--spine",
            spine.to_str().unwrap(),
            "--features",
            &features,
            "--purpose",
            "analytics",
            "--timestamp-column",
            "ts",
            "--out",
            out.to_str().unwrap(),
        ],
        Some(key),
    );
    assert!(okay, "{text}");
    let file = std::fs::File::open(&out).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let written: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let written = arrow::compute::concat_batches(&written[0].schema(), &written).unwrap();
    for f in FEATURES {
        let name = FeatureRef::parse(f).unwrap().column_name();
        let (a, b) = (
            written.column_by_name(&name).unwrap(),
            training.column_by_name(&name).unwrap(),
        );
        assert_eq!(
            a.as_ref(),
            b.as_ref(),
            "{f}: the CLI's file is the library's training set"
        );
    }
    let bytes = std::fs::read(&out).unwrap();
    for raw in &raw_refs {
        assert!(
            !bytes.windows(raw.len()).any(|w| w == raw.as_bytes()),
            "{raw} in the training set file"
        );
    }
    let audit_text = std::fs::read_dir(root.join(".tessera/audit"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(
        audit_text.contains(r#""transforms":{"user_profile:age":"bucketize[18,25,35,50,65]""#),
        "{audit_text}"
    );

    let (okay, text) = tessera(root, &["catalog"], Some(key));
    assert!(
        okay && text.contains("analytics")
            && text.contains("user_profile:age → bucketize[18,25,35,50,65] → string (purpose)"),
        "{text}"
    );
    let (okay, text) = tessera(
        root,
        &[
            "explain-request",
            "--features",
            &features,
            "--purpose",
            "analytics",
        ],
        Some(key),
    );
    assert!(okay && text.contains("minimised: user_profile:user_ref → pseudonymise[TESSERA_TEST_PSEUDONYM_KEY_PARITY] → string"), "{text}");

    let (okay, text) = tessera(root, &["materialize", "--incremental"], Some(key));
    assert!(okay, "{text}");
    let (okay, text) = tessera(
        root,
        &[
            "get",
            "--entity",
            "user_id=1",
            "--features",
            &features,
            "--purpose",
            "analytics",
        ],
        Some(key),
    );
    assert!(okay, "{text}");
    assert!(!text.contains(&raw_refs[0]), "{text}");
    let expected_ref = served.columns[6].values[0].clone();
    let Value::String(p) = expected_ref else {
        panic!("a pseudonym")
    };
    assert!(
        text.contains(&p),
        "get gives the same pseudonym as the library: {text}"
    );
    let (okay, text) = tessera(
        root,
        &[
            "get",
            "--entity",
            "user_id=1",
            "--features",
            &features,
            "--purpose",
            "analytics",
        ],
        None,
    );
    assert!(
        !okay && text.contains(KEY_ENV),
        "a reader without the key is refused: {text}"
    );
}
