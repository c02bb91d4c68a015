//! [`Error`]: everything the stream engine can refuse or fail with.

use std::path::PathBuf;

/// Errors of the stream engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named source is not a stream source of the registered definitions.
    #[error("unknown stream source `{name}`{hint}")]
    UnknownSource {
        /// The name given.
        name: String,
        /// ` (stream sources: a, b)` or empty.
        hint: String,
    },
    /// A batch had bad events; nothing of it was applied.
    #[error("{bad} of {total} events are invalid, so none of the batch was applied: {}{} (hint: fix those rows and send the batch again; valid rows were not applied either)", .problems.join("; "), if *.bad > .problems.len() { format!("; and {} more", .bad - .problems.len()) } else { String::new() })]
    BadEvents {
        /// How many rows are bad.
        bad: usize,
        /// Rows in the batch.
        total: usize,
        /// The first problems, `row N: …`.
        problems: Vec<String>,
    },
    /// The definitions cannot be run (should have been caught by `apply`).
    #[error("{0}")]
    Definitions(String),
    /// The engine's checkpoint store failed.
    #[error("stream checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Writing the offline log failed.
    #[error("offline log {path}: {message}")]
    Log {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The online store failed.
    #[error(transparent)]
    Store(#[from] tessera_online::Error),
    /// An aggregation failed.
    #[error("aggregation: {0}")]
    Aggregate(#[from] tessera_core::aggregate::Error),
    /// Writing states to the online store failed (they stay pending and are retried; the
    /// batch itself is durable).
    #[error("writing aggregation states to the online store failed (the events are applied and durable; the states are retried): {0}")]
    Publish(String),
    /// NATS failed.
    #[error("NATS: {0}")]
    Nats(String),
    /// Arrow failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
