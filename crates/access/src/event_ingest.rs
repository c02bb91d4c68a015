//! [`EventIngest`]: where pushes to **stream** sources go. The access layer keeps the one
//! write path — caller, write permission, audit — and hands the events of a stream source
//! to the stream engine behind this trait (implemented by `tessera_stream`), which applies
//! them to the window aggregations and the offline log.

use tessera_online::Value;

/// What an ingested batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestSummary {
    /// Events applied.
    pub applied: u64,
    /// Events skipped as already applied (event id seen before).
    pub duplicates: u64,
    /// Events older than the allowed lateness: not applied.
    pub late: u64,
    /// Events stamped too far ahead of the clock: not applied.
    pub future: u64,
}

/// Why a batch was not ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestError {
    /// The batch is invalid (the message lists the bad rows); nothing was applied.
    BadEvents(String),
    /// The engine failed; nothing of the batch was acknowledged.
    Failed(String),
}

/// Applies pushed events of stream sources.
#[async_trait::async_trait]
pub trait EventIngest: Send + Sync + std::fmt::Debug {
    /// Whether `source` is a stream source this engine ingests.
    fn handles(&self, source: &str) -> bool;

    /// Ingests one batch of events (columns of loosely typed values).
    async fn ingest(
        &self,
        source: &str,
        columns: Vec<(String, Vec<Value>)>,
    ) -> std::result::Result<IngestSummary, IngestError>;
}
