//! [`Device`]: the embedding API — a blocking facade over the async runtime, which it owns
//! (a small Tokio runtime with one worker thread, for background cache refreshes).

use std::path::Path;
use std::sync::Arc;

use tessera_access::{
    AccessConfig, AccessLayer, Caller, EntityRows, FeatureSelection, ReadRequest,
};
use tessera_audit::{AuditLog, AuditSink, SinkConfig};
use tessera_core::Catalog;
use tessera_ldp::Randomiser;
use tessera_online::{EmbeddedStore, EntityKey, KeyValue};

use crate::device_config::DeviceConfig;
use crate::device_provider::DeviceProvider;
use crate::device_values::DeviceValues;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::ldp_ledger::LdpLedgers;
use crate::local_store::LocalStore;
use crate::remote::Remote;
use crate::remote_provider::RemoteProvider;

/// Request-context fields of a read (session, locale, network type …), for on-demand
/// features: they stay on the device; the cloud never receives them.
pub use tessera_access::RequestContext;

/// A device: its local store, its cache of the cloud, and one read path over both. Use it
/// from ordinary (blocking) code; from async code use [`Device::get_async`], and drop the
/// device outside any Tokio runtime (it owns one).
///
/// ```
/// use tessera_edge::{Device, DeviceConfig, Event, Status};
/// let catalog = tessera_edge::catalog_from_yaml(r#"
/// entities: [{ name: user, join_keys: [user_id] }]
/// sources:
///   - { name: plays, type: device, timestamp_field: ts, device: { schema: { user_id: int64 } } }
/// feature_views:
///   - name: recent
///     entities: [user]
///     source: plays
///     aggregations: [{ function: count, windows: [1h], placement: device_only, classification: personal }]
/// purposes: [{ name: personalization, allows: [personal] }]
/// "#)?;
/// let dir = tempfile::tempdir().unwrap();
/// let device = Device::open(dir.path(), catalog, DeviceConfig::default())?;
/// device.record("plays", vec![Event::now().with("user_id", 7)])?;
/// let got = device.get(&["recent:count_1h"], &[("user_id", vec![7.into()])], &Default::default())?;
/// let v = got.get("recent:count_1h", 0).unwrap();
/// assert_eq!((v.value, v.status), (&tessera_online::Value::Int64(1), Status::Present));
/// # Ok::<(), tessera_edge::Error>(())
/// ```
pub struct Device {
    runtime: tokio::runtime::Runtime,
    inner: Arc<Inner>,
}

struct Inner {
    access: AccessLayer,
    local: Arc<LocalStore>,
    remote: Arc<Remote>,
    caller: Caller,
    config: DeviceConfig,
    /// A handle of the store the local store and the cloud cache share, closed by
    /// [`Device::close`].
    store: EmbeddedStore,
    /// The ε each local-DP report has spent, per report.
    ledgers: LdpLedgers,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("server", &self.inner.config.server_url)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Opens (creating if needed) a device in directory `dir`: its local store
    /// (`dir/store`), cloud cache (in the same store) and audit log (`dir/audit`).
    pub fn open(dir: &Path, catalog: Catalog, config: DeviceConfig) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tessera-device")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let catalog = Arc::new(catalog);
        let inner = {
            let _entered = runtime.enter();
            let store_dir = dir.join("store");
            let store = EmbeddedStore::open(&store_dir).map_err(Error::Store)?;
            let local = Arc::new(LocalStore::with_store(store.clone(), catalog.clone())?);
            // Audit records and the consent the device learns name entities as keyed
            // hashes under the device's privacy key (`TESSERA_PRIVACY_KEY`, else
            // `dir/.tessera/privacy.key`).
            let hasher = tessera_core::EntityHasher::for_repo(dir).map_err(Error::PrivacyKey)?;
            let consent = crate::consent_mirror::open(dir, hasher.clone())?;
            let remote = Arc::new(Remote::new(
                catalog.clone(),
                store.clone(),
                config.clone(),
                consent.clone(),
            )?);
            let audit = Arc::new(
                AuditSink::spawn(AuditLog::new(&dir.join("audit")), SinkConfig::default())
                    .map_err(Error::Audit)?,
            );
            let remote_name = config
                .server_url
                .clone()
                .unwrap_or_else(|| "offline".into());
            let access_config = AccessConfig {
                // The remote provider bounds its own calls (and then answers from its
                // cache); the access layer's bound is a backstop above it.
                store_timeout: config.remote_timeout * 2 + std::time::Duration::from_millis(500),
                ..AccessConfig::default()
            };
            // Reads for a purpose that requires consent are gated by what the device learned
            // from the cloud (`consent_mirror`): its own features too.
            let access = AccessLayer::builder(catalog, audit, access_config)
                .provider(Arc::new(DeviceProvider::new(local.clone(), remote.clone())))
                .provider(Arc::new(RemoteProvider::new(remote.clone(), remote_name)))
                .entity_hasher(Arc::new(hasher))
                .build()
                .with_consent(consent);
            let caller = match &config.consumer {
                Some(c) => Caller::consumer(c),
                None => Caller::local("device"),
            };
            Inner {
                access,
                local,
                remote,
                caller,
                config,
                store,
                ledgers: LdpLedgers::new(dir),
            }
        };
        Ok(Self {
            runtime,
            inner: Arc::new(inner),
        })
    }

    /// Records events of a device source (see [`LocalStore::record`]); returns how many
    /// stored rows changed. Durable when it returns.
    pub fn record(&self, source: &str, events: Vec<Event>) -> Result<usize> {
        self.runtime
            .block_on(self.inner.local.record(source, events))
    }

    /// Erases an entity from this device (GDPR Art. 17): every row of it in the local store
    /// (device views and cached cloud values), its states in memory, and the consent the
    /// device learned for it. Durable when it
    /// returns; returns the rows removed. (A cloud answer `erased` drops the entity's cached
    /// cloud values by itself.)
    pub fn erase(&self, key: &EntityKey) -> Result<u64> {
        self.runtime.block_on(async {
            let removed = self.inner.local.erase(key).await?;
            self.inner.remote.forget(key).await?;
            Ok(removed)
        })
    }

    /// Reads `features` (`view:feature`, `view:*`) for the entities given as join-key
    /// columns, with request context that stays on the device. Device features come from
    /// the local store, cloud features from the cache or the server; each value has a
    /// status. Blocks for at most about `remote_timeout`.
    pub fn get(
        &self,
        features: &[&str],
        entities: &[(&str, Vec<KeyValue>)],
        context: &RequestContext,
    ) -> Result<DeviceValues> {
        let features: Vec<String> = features.iter().map(|s| s.to_string()).collect();
        let rows = EntityRows::new(
            entities
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )?;
        self.runtime
            .block_on(self.inner.get(features, rows, context.clone()))
    }

    /// The async form of [`Device::get`], for apps that run their own Tokio runtime.
    pub async fn get_async(
        &self,
        features: Vec<String>,
        entities: EntityRows,
        context: RequestContext,
    ) -> Result<DeviceValues> {
        let inner = self.inner.clone();
        self.runtime
            .spawn(async move { inner.get(features, entities, context).await })
            .await
            .map_err(|e| Error::Remote {
                message: format!("the read task failed: {e}"),
            })?
    }

    /// Sends one local-DP report of the `ldp_reports:` definition `report` about the
    /// entity `key = value` (the device's user): reads the report's feature from the local
    /// store, charges its ε to the device's own cap (refusing with
    /// [`tessera_ldp::Error::CapExceeded`] beyond it, whatever the app asks; the charge is
    /// stored durably before anything is sent, so it survives restarts and is kept even
    /// if the send fails), randomises the value with a fresh OS-seeded generator, and
    /// sends `POST /v1/ldp/reports`. The request holds the report's name and parameters
    /// and the randomised bits: no identifier, no other feature, no device value.
    pub fn ldp_report(&self, report: &str, key: &str, value: KeyValue) -> Result<LdpReceipt> {
        let def = self
            .catalog()
            .ldp_report(report)
            .map_err(|e| Error::BadInput {
                message: e.to_string(),
                hint: "report a registered `ldp_reports:` definition".into(),
            })?
            .clone();
        let bad = |message: String| Error::BadInput {
            message,
            hint: "fix the `ldp_reports:` definition and `tessera apply`".into(),
        };
        let params = def.params()?;
        let cap = def.epsilon_cap().map_err(bad)?;
        if !self.inner.remote.has_server() {
            return Err(Error::BadInput {
                message: format!(
                    "cannot send local-DP report `{report}`: this device has no server"
                ),
                hint: "configure the server URL (DeviceConfig::server_url, --server)".into(),
            });
        }
        let got = self.get(
            &[def.feature.as_str()],
            &[(key, vec![value])],
            &RequestContext::default(),
        )?;
        let text = match got.get(&def.feature, 0) {
            Some(v) if v.status == crate::Status::Present => ldp_value_text(v.value),
            _ => None,
        };
        let Some(text) = text else {
            return Err(Error::BadInput {
                message: format!(
                    "nothing to report for `{report}`: feature `{}` has no value on this device for {key}",
                    def.feature
                ),
                hint: "record the device events it is computed from first".into(),
            });
        };
        let now_s = crate::clock::now_us().div_euclid(1_000_000);
        let remaining = self
            .inner
            .ledgers
            .charge(report, &cap, params.epsilon(), now_s)?;
        let mut rng = tessera_ldp::os_rng()?;
        let privatised =
            Randomiser::new(params, report.as_bytes()).randomise(text.as_bytes(), &mut rng);
        let batch = tessera_ldp::wire::encode_batch(report, &params, &[privatised])?;
        let bytes = batch.len();
        let timeout = self
            .inner
            .config
            .remote_timeout
            .max(std::time::Duration::from_secs(2));
        self.runtime
            .block_on(self.inner.remote.post_ldp(batch, timeout))?;
        Ok(LdpReceipt {
            report: report.to_string(),
            epsilon: params.epsilon(),
            remaining,
            bytes,
        })
    }

    /// ε of local-DP report `report` this device may still spend now.
    pub fn ldp_remaining(&self, report: &str) -> Result<f64> {
        let def = self
            .catalog()
            .ldp_report(report)
            .map_err(|e| Error::BadInput {
                message: e.to_string(),
                hint: "name a registered `ldp_reports:` definition".into(),
            })?;
        let cap = def.epsilon_cap().map_err(|message| Error::BadInput {
            message,
            hint: "fix the definition's `cap`".into(),
        })?;
        let now_s = crate::clock::now_us().div_euclid(1_000_000);
        let ledger = self.inner.ledgers.load(report)?;
        Ok((cap.epsilon() - ledger.spent(&cap, now_s)).max(0.0))
    }

    /// How many calls this device made to the cloud.
    pub fn cloud_calls(&self) -> u64 {
        self.inner.remote.calls()
    }

    /// The last failure talking to the cloud, while the cloud is failing.
    pub fn cloud_error(&self) -> Option<String> {
        self.inner.remote.last_error()
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        self.inner.access.catalog()
    }

    /// The access layer every read goes through (the same code `tessera serve` answers
    /// with, here with the device's providers).
    pub fn access(&self) -> &AccessLayer {
        &self.inner.access
    }

    /// Writes every queued audit record and stops the audit writer, then closes the local
    /// store (its last writes committed, the database shut down cleanly) before returning.
    /// Call it before the app exits: records still queued (at most ~5 ms of reads) are
    /// otherwise lost, and a store merely dropped shuts down on a background thread, so a
    /// process that exits at once leaves it to be repaired by the next open.
    pub fn close(self) -> Result<()> {
        let Self { runtime, inner } = self;
        let audited = runtime
            .block_on(inner.access.audit().shutdown())
            .map_err(Error::Audit);
        // Background cache refreshes (tasks of this runtime) hold the store: stop them.
        drop(runtime);
        if let Ok(inner) = Arc::try_unwrap(inner) {
            let Inner {
                access,
                local,
                remote,
                store,
                ..
            } = inner;
            drop(access);
            drop(local);
            drop(remote);
            store.close();
        }
        audited
    }
}

/// What one local-DP report cost ([`Device::ldp_report`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LdpReceipt {
    /// The report's name.
    pub report: String,
    /// ε spent.
    pub epsilon: f64,
    /// ε left in the cap's current window.
    pub remaining: f64,
    /// Bytes of the request body sent.
    pub bytes: usize,
}

/// The categorical value a report carries, as text (strings as they are, integers and
/// booleans in decimal / `true`/`false`); other types are not reportable.
fn ldp_value_text(v: &tessera_online::Value) -> Option<String> {
    use tessera_online::Value;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Int64(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Inner {
    async fn get(
        &self,
        features: Vec<String>,
        entities: EntityRows,
        context: RequestContext,
    ) -> Result<DeviceValues> {
        let n = entities.len();
        let result = self
            .access
            .read(ReadRequest {
                features: FeatureSelection::Features(features),
                entities,
                context,
                purpose: Some(self.config.purpose.clone()),
                caller: self.caller.clone(),
            })
            .await?;
        Ok(DeviceValues {
            plan: result.plan,
            columns: result.columns,
            entities: n,
        })
    }
}
