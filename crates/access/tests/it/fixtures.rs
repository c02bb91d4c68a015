//! A catalog, an access layer over a temporary store, and a store that can be slowed down
//! or broken.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tessera_access::{
    AccessConfig, AccessLayer, Caller, EntityRows, FeatureSelection, ReadRequest,
};
use tessera_audit::{AuditLog, AuditSink, SinkConfig};
use tessera_core::{Catalog, Definitions};
use tessera_online::{
    Capabilities, EmbeddedStore, EntityKey, FeatureRow, KeyValue, OnlineStore, Stamp, Value,
    WriteBatch, WriteSummary,
};

pub(crate) const DEFINITIONS: &str = r#"
entities:
  - { name: user, join_keys: [user_id] }
  - { name: item, join_keys: [item_id] }
sources:
  - { name: us, type: batch, path: u.parquet, timestamp_field: ts, created_timestamp_field: created }
  - { name: is, type: batch, path: i.parquet, timestamp_field: ts }
feature_views:
  - name: user_stats
    entities: [user]
    source: us
    ttl: 1h
    features:
      - { name: clicks, type: int64, classification: internal }
      - { name: score, type: float64, classification: personal }
      - { name: local, type: float64, classification: internal, placement: device_only }
  - name: item_stats
    entities: [item]
    source: is
    features:
      - { name: pop, type: float64, classification: public }
purposes:
  - { name: ranking, allows: [public, internal, personal] }
  - { name: analytics, allows: [public, internal] }
consumers:
  - { name: ranker, token_env: T1, purposes: [ranking, analytics], default_purpose: ranking, writes: [us] }
  - { name: viewer, token_env: T2, purposes: [analytics] }
  - { name: item_writer, token_env: T3, purposes: [analytics], writes: [item_stats] }
"#;

pub(crate) fn catalog() -> Arc<Catalog> {
    Arc::new(
        Catalog::build(vec![Definitions::from_yaml_str(
            DEFINITIONS,
            "f.yaml".as_ref(),
        )
        .unwrap()])
        .unwrap(),
    )
}

pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

pub(crate) struct Fixture {
    pub access: AccessLayer,
    pub audit: Arc<AuditSink>,
    pub log: AuditLog,
    pub _dir: tempfile::TempDir,
}

pub(crate) fn layer(store: Arc<dyn OnlineStore>, config: AccessConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::new(dir.path());
    let audit = Arc::new(AuditSink::spawn(log.clone(), SinkConfig::default()).unwrap());
    Fixture {
        access: AccessLayer::new(catalog(), store, audit.clone(), config),
        audit,
        log,
        _dir: dir,
    }
}

/// An embedded store with user 1 (fresh), user 2 (two hours old: expired) and item "x".
pub(crate) async fn seeded_store(dir: &std::path::Path) -> Arc<EmbeddedStore> {
    let store = Arc::new(EmbeddedStore::open(dir).unwrap());
    let now = now_us();
    let mut b = WriteBatch::new("user_stats", vec!["clicks".into(), "score".into()]);
    b.push(
        EntityKey::int("user_id", 1),
        Stamp::new(now - 60_000_000, Stamp::NO_CREATED),
        vec![Value::Int64(5), Value::Float64(0.5)],
    );
    b.push(
        EntityKey::int("user_id", 2),
        Stamp::new(now - 7_200_000_000, Stamp::NO_CREATED),
        vec![Value::Int64(9), Value::Null],
    );
    store.write(b).await.unwrap();
    let mut b = WriteBatch::new("item_stats", vec!["pop".into()]);
    b.push(
        EntityKey::string("item_id", "x"),
        Stamp::new(1, Stamp::NO_CREATED),
        vec![Value::Float64(0.75)],
    );
    store.write(b).await.unwrap();
    store
}

pub(crate) fn read(features: &[&str], entities: Vec<(&str, Vec<KeyValue>)>) -> ReadRequest {
    ReadRequest {
        features: FeatureSelection::Features(features.iter().map(|s| s.to_string()).collect()),
        entities: EntityRows::new(
            entities
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
        .unwrap(),
        context: Default::default(),
        purpose: None,
        caller: Caller::consumer("ranker"),
    }
}

/// A store that wraps another, delays every read, and counts the most reads in flight.
#[derive(Debug)]
pub(crate) struct SlowStore {
    pub inner: Arc<dyn OnlineStore>,
    pub delay: Duration,
    pub fail: bool,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
}

impl SlowStore {
    pub(crate) fn new(inner: Arc<dyn OnlineStore>, delay: Duration, fail: bool) -> Self {
        Self {
            inner,
            delay,
            fail,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }
}

#[async_trait::async_trait]
impl OnlineStore for SlowStore {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn read(
        &self,
        view: &str,
        keys: &[EntityKey],
    ) -> tessera_online::Result<Vec<Option<FeatureRow>>> {
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.fail {
            return Err(tessera_online::Error::Backend {
                store: "slow",
                operation: "read",
                source: "connection refused".into(),
            });
        }
        self.inner.read(view, keys).await
    }
    async fn write(&self, batch: WriteBatch) -> tessera_online::Result<WriteSummary> {
        self.inner.write(batch).await
    }
    async fn delete_entity(&self, key: &EntityKey) -> tessera_online::Result<u64> {
        self.inner.delete_entity(key).await
    }
    async fn high_water_mark(&self, view: &str) -> tessera_online::Result<Option<i64>> {
        self.inner.high_water_mark(view).await
    }
    async fn set_high_water_mark(&self, view: &str, ts_us: i64) -> tessera_online::Result<()> {
        self.inner.set_high_water_mark(view, ts_us).await
    }
}
