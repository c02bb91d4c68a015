//! Tessera's access layer: the one path by which features are read — by the feature server
//! (HTTP Feast-compatible, HTTP native, gRPC), `tessera get`, and the device runtime — and
//! the checked write path (push).
//!
//! ```text
//!  ReadRequest (features | feature service, entity rows, request context, caller, purpose)
//!     │ resolve against the registered Catalog ── unknown feature ──► Error naming each one
//!     │ purpose: request → feature service → consumer's default_purpose
//!     │ policy gate: Catalog::check_access(consumer, purpose, features, channel)
//!     │      (channel: Device for a layer with a device provider, else Network)
//!     │      refused classification / purpose not held / device_only ──► Error::Denied
//!     │      listing every refused feature (nothing is returned in part)
//!     │ plan: each feature → one ProviderKind (device_only → Device; on-demand → OnDemand,
//!     │      its inputs planned as hidden columns; cloud → Online, else Remote)
//!     │ minimisation: each feature's form (raw, or the purpose's / service's / feature's
//!     │      minimising transform) and its result type (docs/MINIMISATION.md)
//!     │ (resolution, gate and plan are cached per (caller, purpose, features))
//!     ▼
//!  one Provider::fetch per provider, concurrently, each with its share in request order
//!     Online: one OnlineStore::read per view (timeout), TTL on read, aggregation states
//!     Device / Remote / Content: registered by the embedding program (timeout → unavailable)
//!     ▼
//!  merge in REQUEST order (present / missing / expired / null / refused / stale /
//!  unavailable, with event timestamps); on-demand features evaluated (tessera-expr);
//!  minimised features transformed (the raw value never leaves the access layer)
//!     ▼
//!  audit record (time, consumer, purpose, features, entities, decision, latency) through a
//!  the AuditSink, which answers once the record is in the file (group commit); a read that
//!  cannot be audited is refused
//! ```
//!
//! [`AccessLayer::new`] builds a server's layer over an online store;
//! [`AccessLayer::builder`] any set of [`Provider`]s (a device: device + remote, no store).
//! [`AccessLayer::explain`] prints the plan without reading. Feature `redis` (default)
//! enables the Redis store; without it the crate has no Redis, DataFusion or axum.
//!
//! The write path ([`AccessLayer::write`], used by push) refuses a consumer whose `writes:`
//! does not cover every target view, checks rows against each target view's declared types,
//! refuses device-only features, and writes with "newer wins".
//!
//! Protocol layers authenticate the caller ([`Caller`]), decode their wire format into a
//! [`ReadRequest`] / [`WriteRequest`], and encode the [`ReadResult`]; [`Error::class`] and
//! [`Error::code`] tell them which status to answer with.
//!
//! # Example
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use tessera_access::{AccessConfig, AccessLayer, Caller, EntityRows, FeatureSelection, ReadRequest, ValueStatus};
//! use tessera_audit::{AuditLog, AuditSink, SinkConfig};
//! use tessera_core::{Catalog, Definitions};
//! use tessera_online::{EmbeddedStore, EntityKey, KeyValue, OnlineStore, Stamp, Value, WriteBatch};
//!
//! let yaml = r#"
//! entities: [{ name: user, join_keys: [user_id] }]
//! sources: [{ name: s, type: batch, path: s.parquet, timestamp_field: ts }]
//! feature_views:
//!   - { name: user_stats, entities: [user], source: s, features: [{ name: clicks, type: int64, classification: internal }] }
//! purposes: [{ name: ranking, allows: [internal] }]
//! consumers: [{ name: ranker, token_env: RANKER_TOKEN, purposes: [ranking], default_purpose: ranking }]
//! "#;
//! let catalog = Catalog::build(vec![Definitions::from_yaml_str(yaml, "f.yaml".as_ref()).unwrap()]).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let store = Arc::new(EmbeddedStore::open(&dir.path().join("online")).unwrap());
//! let mut batch = WriteBatch::new("user_stats", vec!["clicks".into()]);
//! batch.push(EntityKey::int("user_id", 1), Stamp::new(1, Stamp::NO_CREATED), vec![Value::Int64(5)]);
//! store.write(batch).await.unwrap();
//! let audit = Arc::new(AuditSink::spawn(AuditLog::new(&dir.path().join("audit")), SinkConfig::default()).unwrap());
//! let access = AccessLayer::new(Arc::new(catalog), store, audit.clone(), AccessConfig::default());
//!
//! let result = access.read(ReadRequest {
//!     features: FeatureSelection::Features(vec!["user_stats:clicks".into()]),
//!     entities: EntityRows::new(vec![("user_id".into(), vec![KeyValue::Int64(1), KeyValue::Int64(2)])]).unwrap(),
//!     context: Default::default(), // no request-context fields
//!     purpose: None, // the consumer's default purpose
//!     caller: Caller::consumer("ranker"),
//! }).await.unwrap();
//! assert_eq!(result.columns[0].values, vec![Value::Int64(5), Value::Null]);
//! assert_eq!(result.columns[0].statuses, vec![ValueStatus::Present, ValueStatus::Missing]);
//! audit.shutdown().await.unwrap();
//! # });
//! ```

mod access_layer;
mod access_layer_builder;
mod caller;
mod consent_gate;
mod content_provider;
mod entity_digests;
mod entity_rows;
mod error;
mod event_ingest;
mod list_cap;
mod minimise_columns;
mod observer;
mod on_demand_eval;
mod online_provider;
mod provider;
mod read_explain;
mod read_plan;
mod read_request;
mod read_result;
mod tombstone_gate;
mod view_read;
pub mod wire;
mod write_request;

pub use access_layer::{AccessConfig, AccessLayer, ACTION_READ, ACTION_WRITE};
pub use access_layer_builder::AccessLayerBuilder;
pub use caller::Caller;
pub use consent_gate::{consent_record, key_text, ACTION_CONSENT};
pub use content_provider::ContentProvider;
pub use entity_rows::{EntityRows, KeyType};
pub use error::{Error, ErrorClass, Result};
pub use event_ingest::{EventIngest, IngestError, IngestSummary};
pub use list_cap::{cap_list, clip, clip_to, join_capped, MAX_LISTED};
pub use observer::{AccessObserver, NoObserver, StoreOp};
pub use online_provider::OnlineProvider;
pub use provider::{Provider, ProviderKind, ProviderRequest, RequestContext};
pub use read_explain::{Explanation, FeatureExplanation};
pub use read_plan::ReadPlan;
pub use read_request::{FeatureSelection, ReadRequest};
pub use read_result::{FeatureColumn, ReadResult, ValueStatus};
pub use tombstone_gate::{tombstone_digests, Tombstones, TOMBSTONE_FILE};
pub use write_request::{WriteOutcome, WriteRequest, WriteTarget};
