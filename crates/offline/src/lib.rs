//! Tessera's offline engine: source scans on Apache DataFusion, point-in-time joins and
//! training sets.
//!
//! ```text
//!  spine (Parquet/CSV) ──read──► spine index (keys → dense ids, rows by (key, t))
//!                                        │
//!  source (Parquet/CSV) ──DataFusion scan, projected, row groups pruned by time──►
//!      PointInTimeJoinExec: per partition, on its own task, a PitJoiner (drop rows that
//!      cannot match; chunk, sort, merge with the spine) ──► best rows ──merge──► features
//!                                        │
//!  spine columns + `view__feature` columns, in spine order ──► Parquet (atomic write)
//! ```
//!
//! The point-in-time rule and its cost are documented in [`point_in_time`](crate) (see
//! `docs/ARCHITECTURE.md#training-sets`): for each spine row, the source row of the same key
//! with the greatest `(event_ts, created_ts)` in `[t - ttl, t]`.
//!
//! The three offline operators — the point-in-time join, the window join (aggregation
//! backfill) and the latest-row scan (materialisation) — are DataFusion execution plans
//! (`PointInTimeJoinExec`, `WindowJoinExec`, `LatestRowExec`), planned from logical
//! extension nodes by the session's query planner: `EXPLAIN` shows them, their metrics
//! count rows and time, and what they buffer is reserved in the session's memory pool. See
//! `docs/OFFLINE_PLANS.md`, [`OfflineEngine::explain`] and [`display_plan`].
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
mod consent_filter;
mod entity_keys;
mod error;
mod explain;
mod latest_row_exec;
mod latest_row_scan;
mod latest_row_state;
mod minimise_columns;
mod on_demand_columns;
mod parquet_out;
mod partition_fold;
mod plan_node;
mod point_in_time;
mod point_in_time_exec;
mod progress;
mod query_planner;
mod release_schema;
mod retention_filter;
mod schema_check;
mod source_scan;
mod spine;
mod spine_timestamps;
mod time_filter;
mod timestamps;
mod training_set;
mod value_column;
mod window_fold;
mod window_join;
mod window_join_exec;

pub use consent_filter::{apply_consent, ConsentOutcome};
pub use error::{Error, Result};
pub use explain::{display_plan, metric};
pub use latest_row_exec::{LatestRowExec, LatestRowParams};
pub use latest_row_scan::{LatestBatch, LatestRequest, LatestRows, LatestScan};
pub use minimise_columns::TrainingSetMinimisation;
pub use parquet_out::write_parquet_atomic;
pub use point_in_time::PointInTimeParams;
pub use point_in_time_exec::PointInTimeJoinExec;
pub use progress::{NoProgress, Progress};
pub use schema_check::{
    check_sources, check_view_schema, check_views, feature_type_of, fill_aggregation_types,
    load_repo,
};
pub use source_scan::{
    default_partitions, open_path, open_source, parquet_row_count, session,
    session_with_memory_limit, stream_log_files,
};
pub use spine::read_spine;
pub use training_set::{
    OfflineEngine, PreparedTrainingSet, TrainingSet, TrainingSetRequest, ViewStats,
};
pub use window_join_exec::{WindowJoinExec, WindowJoinParams};
