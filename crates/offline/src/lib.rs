//! Tessera's offline engine: source scans on Apache DataFusion, point-in-time joins and
//! training sets.
//!
//! ```text
//!  spine (Parquet/CSV) ──read──► spine index (keys → dense ids, rows by (key, t))
//!                                        │
//!  source (Parquet/CSV) ──DataFusion scan, projected, row groups pruned by time──►
//!      one stream per partition ──► PitJoiner (drop rows that cannot match; chunk, sort,
//!      merge with the spine) ──► per-partition best rows ──merge──► feature columns
//!                                        │
//!  spine columns + `view__feature` columns, in spine order ──► Parquet (atomic write)
//! ```
//!
//! The point-in-time rule and its cost are documented in [`point_in_time`](crate) (see
//! `docs/ARCHITECTURE.md#training-sets`): for each spine row, the source row of the same key
//! with the greatest `(event_ts, created_ts)` in `[t - ttl, t]`.
//!
//! # Example
//! ```no_run
//! # async fn demo(repo: tessera_core::FeatureRepo) -> Result<(), tessera_offline::Error> {
//! use std::sync::Arc;
//! use tessera_offline::{NoProgress, OfflineEngine, TrainingSetRequest};
//! let engine = OfflineEngine::new(&repo.root, Arc::new(repo.catalog.clone()));
//! let req = TrainingSetRequest {
//!     spine: "spine.parquet".into(),
//!     features: tessera_core::FeatureRef::parse_list("user_stats:f0,user_stats:i0")?,
//!     timestamp_column: "event_timestamp".into(),
//!     short_names: false,
//! };
//! let prepared = engine.prepare(&req).await?; // every input check happens here
//! let set = engine.run(prepared, Arc::new(NoProgress)).await?;
//! tessera_offline::write_parquet_atomic(&set.batch, "train.parquet".as_ref())?;
//! # Ok(()) }
//! ```

mod candidate_filter;
mod entity_keys;
mod error;
mod latest;
mod on_demand_columns;
mod parquet_out;
mod point_in_time;
mod progress;
mod schema_check;
mod source_scan;
mod spine;
mod timestamps;
mod training_set;
mod value_column;
mod window_fold;
mod window_join;

pub use error::{Error, Result};
pub use latest::{LatestBatch, LatestRequest, LatestRows, LatestScan};
pub use parquet_out::write_parquet_atomic;
pub use progress::{NoProgress, Progress};
pub use schema_check::{
    check_sources, check_view_schema, check_views, feature_type_of, fill_aggregation_types,
    load_repo,
};
pub use source_scan::{
    default_partitions, open_path, open_source, parquet_row_count, session, stream_log_files,
};
pub use spine::read_spine;
pub use training_set::{
    OfflineEngine, PreparedTrainingSet, TrainingSet, TrainingSetRequest, ViewStats,
};
