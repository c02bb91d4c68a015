//! Minimised reads: a purpose reads personal features only in their minimised form, the
//! raw value never leaves the access layer, the plan carries the result types, and the
//! audit record names each transform.

use std::sync::Arc;

use tessera_access::{
    AccessConfig, AccessLayer, Caller, EntityRows, FeatureSelection, ReadRequest, ValueStatus,
};
use tessera_audit::{AuditLog, AuditSink, SinkConfig};
use tessera_core::{Catalog, Definitions, FeatureType};
use tessera_online::{EmbeddedStore, EntityKey, KeyValue, OnlineStore, Stamp, Value, WriteBatch};

pub(crate) const PROFILE: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources: [{ name: profiles, type: batch, path: p.parquet, timestamp_field: ts }]
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
      - { name: device_model, type: string, classification: internal, minimise: { truncate: 4 } }
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
      user_profile:user_ref:   { pseudonymise: { key_env: TESSERA_TEST_PSEUDONYM_KEY_ACCESS } }
consumers:
  - { name: ranker, token_env: T1, purposes: [ranking] }
  - { name: analyst, token_env: T2, purposes: [analytics] }
"#;

const DAY: i64 = 86_400_000_000;

struct Fixture {
    access: AccessLayer,
    audit: Arc<AuditSink>,
    log: AuditLog,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    std::env::set_var(
        "TESSERA_TEST_PSEUDONYM_KEY_ACCESS",
        "a-test-key-of-some-length-000000",
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("online")).unwrap());
    let cols = [
        "age",
        "last_seen",
        "postcode",
        "lat",
        "plays_30d",
        "country",
        "user_ref",
        "device_model",
    ];
    let mut b = WriteBatch::new("user_profile", cols.iter().map(|c| c.to_string()).collect());
    b.push(
        EntityKey::int("user_id", 1),
        Stamp::new(1, Stamp::NO_CREATED),
        vec![
            Value::Int64(25),
            Value::Timestamp(20_000 * DAY + 12_345_678),
            Value::String("SW1A 1AA".into()),
            Value::Float64(51.5074),
            Value::Int64(9001),
            Value::String("NZ".into()),
            Value::String("ref-secret-7".into()),
            Value::String("Pixel 8 Pro".into()),
        ],
    );
    b.push(
        EntityKey::int("user_id", 2),
        Stamp::new(1, Stamp::NO_CREATED),
        vec![Value::Null; 8],
    );
    store.write(b).await.unwrap();
    let catalog = Catalog::build(vec![
        Definitions::from_yaml_str(PROFILE, "f.yaml".as_ref()).unwrap()
    ])
    .unwrap();
    let log = AuditLog::new(&dir.path().join("audit"));
    let audit = Arc::new(AuditSink::spawn(log.clone(), SinkConfig::default()).unwrap());
    let store: Arc<dyn OnlineStore> = store;
    Fixture {
        access: AccessLayer::new(
            Arc::new(catalog),
            store,
            audit.clone(),
            AccessConfig::default(),
        ),
        audit,
        log,
        _dir: dir,
    }
}

fn request(consumer: &str, purpose: &str) -> ReadRequest {
    ReadRequest {
        features: FeatureSelection::Features(vec!["user_profile:*".into()]),
        entities: EntityRows::new(vec![(
            "user_id".into(),
            vec![KeyValue::Int64(1), KeyValue::Int64(2), KeyValue::Int64(3)],
        )])
        .unwrap(),
        context: Default::default(),
        purpose: Some(purpose.into()),
        caller: Caller::consumer(consumer),
    }
}

#[tokio::test]
async fn analytics_reads_minimised_values_and_the_audit_names_each_transform() {
    let f = fixture().await;
    let r = f
        .access
        .read(request("analyst", "analytics"))
        .await
        .unwrap();
    let first: Vec<&Value> = r.columns.iter().map(|c| &c.values[0]).collect();
    assert_eq!(first[0], &Value::String("25-35".into()), "25 goes up");
    assert_eq!(first[1], &Value::Timestamp(20_000 * DAY));
    assert_eq!(first[2], &Value::String("SW1".into()));
    assert_eq!(first[3], &Value::Float64(51.5));
    assert_eq!(first[4], &Value::Int64(500));
    assert_eq!(first[5], &Value::String("other".into()));
    let Value::String(pseudonym) = first[6] else {
        panic!("a pseudonym")
    };
    assert_eq!(pseudonym.len(), tessera_core::PSEUDONYM_HEX_DIGITS);
    assert_eq!(
        first[7],
        &Value::String("Pixe".into()),
        "the feature's default"
    );
    for c in &r.columns {
        assert_eq!(c.values[1], Value::Null, "null stays null");
        assert_eq!(c.statuses[0], ValueStatus::Present);
        assert_eq!(c.statuses[2], ValueStatus::Missing);
    }
    use FeatureType as T;
    assert_eq!(
        r.plan.types(),
        [
            T::String,
            T::Timestamp,
            T::String,
            T::Float64,
            T::Int64,
            T::String,
            T::String,
            T::String
        ]
    );
    assert_eq!(
        r.plan.transforms()["user_profile:age"],
        "bucketize[18,25,35,50,65]"
    );
    let debug = format!("{:?}", r.columns);
    for raw in ["SW1A", "51.5074", "9001", "NZ", "ref-secret-7", "Pixel 8"] {
        assert!(!debug.contains(raw), "{raw} leaked: {debug}");
    }

    // The same read for ranking is raw, except the feature's own default.
    let raw = f.access.read(request("ranker", "ranking")).await.unwrap();
    assert_eq!(raw.columns[0].values[0], Value::Int64(25));
    assert_eq!(
        raw.columns[6].values[0],
        Value::String("ref-secret-7".into())
    );
    assert_eq!(raw.columns[7].values[0], Value::String("Pixe".into()));
    assert_eq!(raw.plan.types()[0], T::Int64);

    f.audit.shutdown().await.unwrap();
    let recs = f.log.tail(2).unwrap();
    let minimised = recs.iter().find(|r| r.purpose == "analytics").unwrap();
    assert_eq!(minimised.transforms.len(), 8);
    assert_eq!(
        minimised.transforms["user_profile:country"],
        "keep[US,GB,DE,FR,JP;other]"
    );
    assert_eq!(
        minimised.transforms["user_profile:user_ref"],
        "pseudonymise[TESSERA_TEST_PSEUDONYM_KEY_ACCESS]"
    );
    let ranked = recs.iter().find(|r| r.purpose == "ranking").unwrap();
    assert_eq!(ranked.transforms.len(), 1, "{:?}", ranked.transforms);
}

#[tokio::test]
async fn unminimised_reads_of_unallowed_classifications_are_refused_and_explained() {
    let f = fixture().await;
    let yaml_without = PROFILE.replace(
        "      user_profile:age:        { bucketize: [18, 25, 35, 50, 65] }\n",
        "",
    );
    let catalog = Catalog::build(vec![Definitions::from_yaml_str(
        &yaml_without,
        "f.yaml".as_ref(),
    )
    .unwrap()])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let other = AccessLayer::new(
        Arc::new(catalog),
        store,
        f.audit.clone(),
        AccessConfig::default(),
    );
    let err = other
        .read(request("analyst", "analytics"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "denied");
    assert!(err.to_string().contains("user_profile:age"), "{err}");

    let e = f.access.explain(&request("analyst", "analytics")).unwrap();
    let text = e.to_string();
    assert!(
        text.contains(
            "minimised: user_profile:age → bucketize[18,25,35,50,65] → string (from the purpose)"
        ),
        "{text}"
    );
    assert!(text.contains("minimised: user_profile:device_model → truncate[4] → string (from the feature default)"), "{text}");
    f.audit.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_pseudonymisation_key_unset_in_the_serving_process_refuses_the_read() {
    let f = fixture().await;
    let yaml = PROFILE.replace(
        "TESSERA_TEST_PSEUDONYM_KEY_ACCESS",
        "TESSERA_TEST_PSEUDONYM_KEY_NEVER_SET",
    );
    let catalog = Catalog::build(vec![
        Definitions::from_yaml_str(&yaml, "f.yaml".as_ref()).unwrap()
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let other = AccessLayer::new(
        Arc::new(catalog),
        store,
        f.audit.clone(),
        AccessConfig::default(),
    );
    let err = other
        .read(request("analyst", "analytics"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "minimise_unavailable");
    let cause = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    let text = format!("{err}: {cause}");
    assert!(
        text.contains("user_profile:user_ref")
            && text.contains("TESSERA_TEST_PSEUDONYM_KEY_NEVER_SET"),
        "{text}"
    );
    f.audit.shutdown().await.unwrap();
}
