//! Tessera's device runtime: personalization features on the device, from one read path.
//!
//! An app asks a [`Device`] for features by name and never branches on where a value lives:
//!
//! ```text
//!  app ── Device::record(source, event) ──► LocalStore (redb in the device directory)
//!                                             · views over `type: device` sources
//!                                             · window aggregations: tessera_aggregate's
//!                                               ViewState, the cloud's own code
//!  app ── Device::get(features, entities, context)
//!            │ policy gate (purpose × classification; device_only allowed: it stays here)
//!            ├─► device features ──► LocalStore (µs, never leaves the process)
//!            └─► cloud features ──► RemoteCache ── fresh ──► served, no call
//!                                      │ stale: served marked `stale`, refreshed in the background
//!                                      └ missing/old: POST /v1/features to `tessera serve`,
//!                                        bounded by `remote_timeout` → else `stale` / `unavailable`
//! ```
//!
//! **`device_only` never leaves the device, by construction.** The only thing the device
//! sends is a [`RemoteRequest`], which can hold only [`RemoteFeature`]s — made by
//! [`RemoteFeature::new`], which refuses any feature not placed in the cloud — the join keys
//! of their views and the purpose. There is no field for request context or values, and
//! the values the device holds ([`tessera_online::Value`], [`DeviceValues`]) do not
//! implement `Serialize`. The wire-capture test records every byte between a device and a
//! real `tessera serve` and checks it.
//!
//! The dependency tree holds no DataFusion, axum or Redis (`scripts/check-edge-deps.sh`,
//! run by CI). [`Device`] is a blocking facade that owns a small Tokio runtime; the
//! `tessera-device` binary (module `cli`, feature `cli`: the only part that needs clap, off
//! by default) simulates a device for tests and demos; `wire_capture` (feature
//! `wire-capture`) is the recording proxy of the wire-capture test and `tessera demo`.
//!
//! # Example
//! ```
//! use tessera_edge::{catalog_from_yaml, Device, DeviceConfig, Event, Status};
//! use tessera_online::{KeyValue, Value};
//!
//! let catalog = catalog_from_yaml(r#"
//! entities: [{ name: user, join_keys: [user_id] }]
//! sources:
//!   - name: plays
//!     type: device
//!     timestamp_field: ts
//!     device: { schema: { user_id: int64, dwell_s: int64 } }
//! feature_views:
//!   - name: recent
//!     entities: [user]
//!     source: plays
//!     classification: personal
//!     aggregations:
//!       - { function: count, windows: [1h], placement: device_only }
//!       - { column: dwell_s, function: sum, windows: [1d], placement: device_only }
//! purposes: [{ name: personalization, allows: [personal] }]
//! "#)?;
//! let dir = tempfile::tempdir().unwrap();
//! // No server: an offline device (cloud features would be `unavailable`).
//! let device = Device::open(dir.path(), catalog, DeviceConfig::default())?;
//! device.record("plays", vec![
//!     Event::now().with("user_id", 7).with("dwell_s", 30),
//!     Event::now().with("user_id", 7).with("dwell_s", 12),
//! ])?;
//! let got = device.get(&["recent:*"], &[("user_id", vec![KeyValue::Int64(7)])], &Default::default())?;
//! let sum = got.get("recent:dwell_s_sum_1d", 0).unwrap();
//! assert_eq!((sum.value, sum.status), (&Value::Int64(42), Status::Present));
//! device.close()?;
//! # Ok::<(), tessera_edge::Error>(())
//! ```
//!
//! See `crates/edge/examples/embed.rs` for an app that talks to a server, and
//! `docs/DEVICE.md` for the command line.

#[cfg(feature = "cli")]
pub mod cli;
mod clock;
mod consent_mirror;
mod device;
mod device_config;
mod device_definitions;
mod device_provider;
mod device_values;
mod entity_keys;
mod error;
mod event;
mod ldp_ledger;
mod local_store;
mod remote;
mod remote_cache;
mod remote_client;
mod remote_provider;
mod remote_request;
mod remote_response;
#[cfg(feature = "wire-capture")]
pub mod wire_capture;

pub use consent_mirror::CONSENT_FILE;
pub use device::{Device, LdpReceipt, RequestContext};
pub use device_config::DeviceConfig;
pub use device_definitions::{catalog_from_repo, catalog_from_yaml};
pub use device_provider::DeviceProvider;
pub use device_values::{DeviceValue, DeviceValues};
pub use error::{Error, Result};
pub use event::{Event, EventValue};
pub use local_store::LocalStore;
pub use remote_provider::RemoteProvider;
pub use remote_request::{RemoteFeature, RemoteRequest};
pub use remote_response::decode_cloud_answer;
/// The status of one value of a read: the access layer's [`tessera_access::ValueStatus`].
pub use tessera_access::ValueStatus as Status;
