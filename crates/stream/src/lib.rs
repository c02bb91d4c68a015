//! Tessera's stream engine: events of `type: stream` sources — pushed over HTTP
//! (`POST /push`, `POST /v1/push`) or consumed from NATS JetStream — update the window
//! aggregations of the views over them through incremental tiles, the same
//! `tessera_aggregate` states the batch backfill uses, so a value served online equals the
//! training-set value for the same instant.
//!
//! ```text
//!  HTTP push ──┐                        ┌─► offline log (Parquet per batch; backfills read it)
//!  NATS ───────┴─► decode & check ─► classify (future / late / duplicate / applied)
//!                  (whole batch)          ├─► offline log file, then checkpoint: event ids +
//!                                         │   progress, one small txn (a blocking thread) ...
//!                                         ├─► ... meanwhile tiles of every touched entity (memory)
//!                                         ├─► every N batches: snapshot of changed states
//!                                         └─► online store: whole states, newer wins ─► serving
//! ```
//!
//! - **Exactly once in effect**: see [`engine`] for the order of writes that makes
//!   at-least-once delivery apply each event once, across crashes.
//! - **Out of order**: events within the source's `allowed_lateness` of the newest event
//!   time are applied where they belong (tiles are keyed by event time); later ones are
//!   counted as `late` and reported, not applied (nor logged).
//! - **Bad events** are refused per batch over HTTP (the error lists each bad row) and per
//!   message over NATS ([`nats_source`]).
//! - **Tiles**: each window's tile size (hop) is 5 min up to 12 h windows, 1 h up to 12 d,
//!   1 d beyond; a window as of T covers `[floor_hop(T − W), T]` in batch and stream alike.

mod checkpoint;
pub mod engine;
mod erase_ids;
mod erase_states;
mod error;
mod events;
mod id_window;
pub mod log_compaction;
mod log_retention;
pub mod log_rewrite;
#[cfg(feature = "nats")]
pub mod nats_source;
mod offline_log;
mod publisher;
mod serving_store;
mod snapshot_file;
mod state_retention;

pub use checkpoint::{Checkpoint, SourceMeta};
pub use engine::StreamRetentionReport;
pub use engine::{ErasedCheck, IngestReport, LiveErasure, StreamConfig, StreamEngine, Visibility};
pub use erase_ids::{collect_event_ids, SourceIds};
pub use erase_states::{
    engine_files, erase_entity_states, erase_entity_states_and_ids, StateErasure,
};
pub use error::{Error, Result};
pub use events::{decode_columns, json_object_columns, Events, SourceSchema};
pub use log_compaction::{compact_log, compact_repo_logs, CompactionReport, CompactionSettings};
pub use log_retention::{apply_log_retention, LogRetentionReport};
pub use log_rewrite::{
    rewrite_files_keeping, rewrite_keeping, RewriteOptions, RewriteOutcome, RewriteReport,
    RowPredicate,
};
pub use offline_log::part_path;
pub use serving_store::ServingStore;
pub use state_retention::apply_state_retention_files;
