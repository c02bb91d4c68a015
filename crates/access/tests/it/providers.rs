//! Providers: the planner's routing by placement, a device's access layer (device + remote
//! providers, no online store), merging shares in request order, slow providers, explain.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_access::{
    AccessConfig, AccessLayer, Caller, Error, FeatureColumn, Provider, ProviderKind,
    ProviderRequest, ValueStatus,
};
use tessera_audit::{AuditLog, AuditSink, SinkConfig};
use tessera_online::{KeyValue, Value};

use crate::fixtures::{catalog, layer, read, seeded_store};

/// A provider that answers every feature with `value` (its index in the share, as a float,
/// plus `base`) and records what it was asked.
#[derive(Debug)]
struct Recording {
    kind: ProviderKind,
    base: f64,
    delay: Duration,
    asked: Mutex<Vec<(Vec<String>, Vec<String>)>>,
}

impl Recording {
    fn new(kind: ProviderKind, base: f64, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            kind,
            base,
            delay,
            asked: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait::async_trait]
impl Provider for Recording {
    fn kind(&self) -> ProviderKind {
        self.kind
    }
    fn name(&self) -> &str {
        "recording"
    }
    async fn fetch(&self, req: ProviderRequest<'_>) -> tessera_access::Result<Vec<FeatureColumn>> {
        self.asked.lock().unwrap().push((
            req.features.iter().map(ToString::to_string).collect(),
            req.context.keys().cloned().collect(),
        ));
        tokio::time::sleep(self.delay).await;
        Ok(req
            .features
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let mut c = FeatureColumn::with_capacity(req.entities.len());
                for _ in 0..req.entities.len() {
                    c.push(
                        Value::Float64(self.base + i as f64),
                        ValueStatus::Present,
                        Some(1),
                    );
                }
                c
            })
            .collect())
    }
}

fn device_layer(
    device: Arc<Recording>,
    remote: Arc<Recording>,
    timeout: Duration,
) -> (AccessLayer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let audit =
        Arc::new(AuditSink::spawn(AuditLog::new(dir.path()), SinkConfig::default()).unwrap());
    let access = AccessLayer::builder(
        catalog(),
        audit,
        AccessConfig {
            store_timeout: timeout,
            ..AccessConfig::default()
        },
    )
    .provider(device)
    .provider(remote)
    .build();
    (access, dir)
}

#[tokio::test]
async fn a_device_layer_routes_device_only_features_locally_and_the_rest_remotely() {
    let device = Recording::new(ProviderKind::Device, 100.0, Duration::ZERO);
    let remote = Recording::new(ProviderKind::Remote, 200.0, Duration::ZERO);
    let (access, _dir) = device_layer(device.clone(), remote.clone(), Duration::from_secs(2));
    assert!(access.store().is_none());
    let mut req = read(
        &["user_stats:clicks", "user_stats:local", "user_stats:score"],
        vec![("user_id", vec![KeyValue::Int64(1), KeyValue::Int64(2)])],
    );
    req.context.insert("hour_of_day".into(), Value::Int64(14));
    let r = access.read(req).await.unwrap();
    assert_eq!(
        r.plan.providers(),
        &[
            ProviderKind::Remote,
            ProviderKind::Device,
            ProviderKind::Remote
        ]
    );
    // Request order: clicks (remote #0), local (device #0), score (remote #1).
    let firsts: Vec<&Value> = r.columns.iter().map(|c| &c.values[0]).collect();
    assert_eq!(
        firsts,
        vec![
            &Value::Float64(200.0),
            &Value::Float64(100.0),
            &Value::Float64(201.0)
        ]
    );
    assert!(r.columns.iter().all(|c| c.len() == 2));
    // The remote provider never hears of the device-only feature.
    let asked = remote.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![(
            vec![
                "user_stats:clicks".to_string(),
                "user_stats:score".to_string()
            ],
            vec!["hour_of_day".to_string()]
        )]
    );
    assert_eq!(
        device.asked.lock().unwrap()[0].0,
        vec!["user_stats:local".to_string()]
    );
}

#[tokio::test]
async fn a_slow_remote_gives_unavailable_values_not_a_hung_read() {
    let device = Recording::new(ProviderKind::Device, 1.0, Duration::ZERO);
    let remote = Recording::new(ProviderKind::Remote, 2.0, Duration::from_secs(5));
    let (access, _dir) = device_layer(device, remote, Duration::from_millis(50));
    let started = std::time::Instant::now();
    let r = access
        .read(read(
            &["user_stats:local", "user_stats:clicks"],
            vec![("user_id", vec![KeyValue::Int64(1)])],
        ))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(r.columns[0].statuses, vec![ValueStatus::Present]);
    assert_eq!(r.columns[1].statuses, vec![ValueStatus::Unavailable]);
    assert_eq!(r.columns[1].values, vec![Value::Null]);
}

#[tokio::test]
async fn a_server_refuses_device_only_and_a_device_without_remote_names_the_missing_provider() {
    let dir = tempfile::tempdir().unwrap();
    let f = layer(seeded_store(dir.path()).await, AccessConfig::default());
    let err = f
        .access
        .read(read(
            &["user_stats:local"],
            vec![("user_id", vec![KeyValue::Int64(1)])],
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Denied { .. }), "{err}");

    let adir = tempfile::tempdir().unwrap();
    let audit =
        Arc::new(AuditSink::spawn(AuditLog::new(adir.path()), SinkConfig::default()).unwrap());
    let access = AccessLayer::builder(catalog(), audit, AccessConfig::default())
        .provider(Recording::new(ProviderKind::Device, 0.0, Duration::ZERO))
        .build();
    let err = access
        .read(read(
            &["user_stats:clicks"],
            vec![("user_id", vec![KeyValue::Int64(1)])],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "no_provider");
    assert!(err.to_string().contains("user_stats:clicks"), "{err}");
}

#[tokio::test]
async fn online_and_other_providers_merge_in_request_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded_store(dir.path()).await;
    let adir = tempfile::tempdir().unwrap();
    let audit =
        Arc::new(AuditSink::spawn(AuditLog::new(adir.path()), SinkConfig::default()).unwrap());
    let device = Recording::new(ProviderKind::Device, 7.0, Duration::ZERO);
    let access = AccessLayer::builder(catalog(), audit, AccessConfig::default())
        .online_store(store)
        .provider(device)
        .build();
    let r = access
        .read(read(
            &["user_stats:local", "user_stats:clicks", "item_stats:pop"],
            vec![
                ("user_id", vec![KeyValue::Int64(1)]),
                ("item_id", vec![KeyValue::String("x".into())]),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(
        r.plan.providers(),
        &[
            ProviderKind::Device,
            ProviderKind::Online,
            ProviderKind::Online
        ]
    );
    assert_eq!(r.columns[0].values, vec![Value::Float64(7.0)]);
    assert_eq!(r.columns[1].values, vec![Value::Int64(5)]);
    assert_eq!(r.columns[2].values, vec![Value::Float64(0.75)]);
}

#[tokio::test]
async fn explain_names_providers_and_decisions_without_reading() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(crate::fixtures::SlowStore::new(
        seeded_store(dir.path()).await,
        Duration::ZERO,
        true, // every read fails: explain must not read
    ));
    let f = layer(store, AccessConfig::default());
    let mut req = read(
        &["user_stats:clicks", "user_stats:score", "user_stats:local"],
        vec![("user_id", vec![KeyValue::Int64(1)])],
    );
    req.caller = Caller::consumer("viewer");
    req.purpose = Some("analytics".into());
    let e = f.access.explain(&req).unwrap();
    assert!(!e.allowed());
    assert_eq!(e.channel, "network");
    let rows: Vec<(String, Option<ProviderKind>, &str)> = e
        .features
        .iter()
        .map(|x| (x.feature.to_string(), x.provider, x.decision()))
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "user_stats:clicks".to_string(),
                Some(ProviderKind::Online),
                "allow"
            ),
            (
                "user_stats:score".to_string(),
                Some(ProviderKind::Online),
                "deny"
            ),
            ("user_stats:local".to_string(), None, "deny"),
        ]
    );
    assert!(e.features[2].problem.as_deref().unwrap().contains("device"));
    let text = e.to_string();
    assert!(
        text.contains("user_stats:score") && text.contains("classified `personal`"),
        "{text}"
    );
}

#[tokio::test]
async fn content_views_are_served_by_the_content_provider() {
    let yaml = crate::fixtures::DEFINITIONS.replace(
        "  - name: item_stats\n    entities: [item]\n",
        "  - name: item_stats\n    provider: content\n    entities: [item]\n",
    );
    let catalog = Arc::new(
        tessera_core::Catalog::build(vec![tessera_core::Definitions::from_yaml_str(
            &yaml,
            "f.yaml".as_ref(),
        )
        .unwrap()])
        .unwrap(),
    );
    let table = Arc::new(tessera_online::MemoryStore::new());
    let mut b = tessera_online::WriteBatch::new("item_stats", vec!["pop".into()]);
    b.push(
        tessera_online::EntityKey::string("item_id", "x"),
        tessera_online::Stamp::new(1, tessera_online::Stamp::NO_CREATED),
        vec![Value::Float64(0.25)],
    );
    tessera_online::OnlineStore::write(table.as_ref(), b)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = seeded_store(&dir.path().join("online")).await;
    let adir = tempfile::tempdir().unwrap();
    let audit =
        Arc::new(AuditSink::spawn(AuditLog::new(adir.path()), SinkConfig::default()).unwrap());
    let req = || {
        read(
            &["item_stats:pop", "user_stats:clicks"],
            vec![
                ("user_id", vec![KeyValue::Int64(1)]),
                ("item_id", vec![KeyValue::String("x".into())]),
            ],
        )
    };
    // Without a content provider, a content view cannot be answered (the online store
    // holds 0.75 for it, which must not be served).
    let plain = AccessLayer::new(
        catalog.clone(),
        store.clone(),
        audit.clone(),
        AccessConfig::default(),
    );
    assert_eq!(plain.read(req()).await.unwrap_err().code(), "no_provider");
    let access = AccessLayer::builder(catalog.clone(), audit, AccessConfig::default())
        .online_store(store)
        .provider(Arc::new(tessera_access::ContentProvider::new(
            catalog, table,
        )))
        .build();
    let r = access.read(req()).await.unwrap();
    assert_eq!(
        r.plan.providers(),
        &[ProviderKind::Content, ProviderKind::Online]
    );
    assert_eq!(r.columns[0].values, vec![Value::Float64(0.25)]);
    assert_eq!(r.columns[1].values, vec![Value::Int64(5)]);
}
