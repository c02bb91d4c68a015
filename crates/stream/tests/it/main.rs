//! Integration tests of the stream engine: one binary, topical modules.

#![allow(clippy::unwrap_used, missing_docs)]

mod cohort_threshold;
mod composite_keys;
mod erase;
mod errors;
mod ingest;
mod log_compaction;
mod nats;
mod parity;
mod retention;
