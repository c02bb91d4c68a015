//! Online feature storage: the latest row of every feature view for every entity, read by
//! serving in microseconds and written by materialisation.
//!
//! ```text
//!  offline engine ── latest row per entity in [start, end] ──► materialize ──┐
//!     (tessera_offline::LatestScan)     (tessera_materialize: Arrow → WriteBatch) │ write: newer wins
//!                                                                             ▼
//!  tessera get / serving ◄── read(view, keys) ── dyn OnlineStore ◄── EmbeddedStore (redb, default)
//!     + freshness(row, ttl, now)                                   └─ RedisStore (Lua, MGET)
//! ```
//!
//! - [`OnlineStore`] is the seam: read the latest [`FeatureRow`]s of a view for a list of
//!   [`EntityKey`]s, write [`WriteBatch`]es where a row replaces the stored one only when its
//!   [`Stamp`] `(event_ts, created_ts)` is greater, erase an entity from every view, keep a
//!   per-view materialisation high-water mark. [`open_store`] builds the one `tessera.yaml`
//!   names.
//! - Rows are stored as bytes: the stamp first (so "newer wins" needs no decoding), then
//!   values by feature name (so a feature added to a view later reads as missing, never as
//!   another feature's value). See [`FeatureRow`].
//! - Stores keep rows until replaced or erased; [`freshness`] applies the view's TTL when
//!   reading, so an expired value is reported as expired, never served as fresh.
//! - `testkit::conformance` (feature `testkit`, for tests) is the behaviour every backend
//!   must show; the integration tests run it against [`EmbeddedStore`] and against a real
//!   Redis.
//! - Materialisation (filling a store from the offline engine) lives above this crate and
//!   the offline engine, in `tessera-materialize`; this crate does not depend on DataFusion.
//! - [`Value`] and [`KeyValue`] are `tessera-value`'s, re-exported.
//!
//! # Example
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use tessera_online::{EmbeddedStore, EntityKey, OnlineStore, Stamp, Value, WriteBatch};
//! let dir = tempfile::tempdir().unwrap();
//! let store = EmbeddedStore::open(dir.path())?;
//! let mut batch = WriteBatch::new("user_stats", vec!["clicks".into()]);
//! batch.push(EntityKey::int("user_id", 1), Stamp::new(2_000, Stamp::NO_CREATED), vec![Value::Int64(5)]);
//! batch.push(EntityKey::int("user_id", 1), Stamp::new(1_000, Stamp::NO_CREATED), vec![Value::Int64(3)]);
//! let summary = store.write(batch).await?;
//! assert_eq!((summary.written, summary.skipped), (1, 1)); // the older row lost
//! let rows = store.read("user_stats", &[EntityKey::int("user_id", 1), EntityKey::int("user_id", 2)]).await?;
//! assert_eq!(rows[0].as_ref().and_then(|r| r.get("clicks")), Some(&Value::Int64(5)));
//! assert!(rows[1].is_none()); // one result per key, in request order
//! # Ok::<_, tessera_online::Error>(()) }).unwrap();
//! ```

mod aggregate_row;
mod arrow_values;
mod byte_scan;
mod embedded_compact;
mod embedded_store;
mod entity_key;
mod error;
mod expiry;
mod feature_row;
mod future_bound;
mod memory_store;
mod online_store;
mod open_store;
#[cfg(feature = "redis")]
mod redis_store;
#[cfg(feature = "testkit")]
pub mod testkit;
mod typed_values;
mod value_encoding;
mod varint;

pub use aggregate_row::{
    aggregate_values, selected_aggregate_values, state_batch, state_of, STATE_FEATURE,
};
pub use arrow_values::{column_values, key_values};
pub use byte_scan::{scan_file, scan_reader, FileScan, CHUNK as BYTE_SCAN_CHUNK};
pub use embedded_compact::{
    compact_embedded, compact_embedded_erasing, CompactionBytes, ErasingCompaction,
};
pub use embedded_store::EmbeddedStore;

/// The embedded store's file name inside its directory.
pub const EMBEDDED_FILE_NAME: &str = embedded_store::FILE_NAME;
pub use entity_key::EntityKey;
pub use error::{BoxError, Error, Result};
pub use expiry::{freshness, stamp_freshness, Freshness};
pub use feature_row::{FeatureRow, SelectedRow, Stamp};
pub use future_bound::{format_us, FutureBound, MAX_FUTURE_SETTING};
pub use memory_store::MemoryStore;
pub use online_store::{Capabilities, OnlineStore, WriteBatch, WriteRow, WriteSummary};
pub use open_store::open_store;
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
pub use tessera_value::{KeyValue, KeyValueRef, Value};
pub use typed_values::{coerce, describe, parse_timestamp};
