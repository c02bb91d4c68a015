//! [`Error`]: everything the stream engine can refuse or fail with.
//!
//! A variant either prints its cause in its message or exposes it as
//! [`std::error::Error::source`], never both: callers print the chain (`caused by: …`)
//! without repeating a line.

use std::path::PathBuf;
use std::sync::Arc;

/// A boxed error from a library the engine uses (redb, Parquet, NATS), kept as the cause.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// A NATS message body is not one JSON object.
    #[error("the message is {problem} (hint: publish one JSON object per event, e.g. {{\"user_id\": 1, \"ts\": \"2026-01-01T00:00:00Z\"}})")]
    BadMessage {
        /// `not JSON`, `not a JSON object`.
        problem: &'static str,
        /// The JSON parser's complaint.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// The definitions cannot be run (should have been caught by `apply`).
    #[error("{message}")]
    Definitions {
        /// What is wrong with them.
        message: String,
    },
    /// The registered definitions could not be used.
    #[error(transparent)]
    Catalog(#[from] tessera_core::Error),
    /// One of the engine's files (the checkpoint, the snapshots) failed.
    #[error("stream checkpoint {path}: {action} failed{hint}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What was being done (`open`, `read`, `commit` …).
        action: &'static str,
        /// ` (hint: …)` or empty.
        hint: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// One of the engine's files holds bytes that do not decode.
    #[error("stream checkpoint {path}: the {what} is damaged (hint: move the file aside; the engine rebuilds its states from the offline log on the next start)")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What does not decode.
        what: &'static str,
    },
    /// Writing or reading the offline log failed.
    #[error("offline log {path}: {action} failed")]
    Log {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// An offline log file is not as the engine needs it (or vanished under a reader).
    #[error("offline log {path}: {message}")]
    LogFile {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
    /// A background task of the engine panicked or was cancelled.
    #[error("internal error: the stream engine's {task} task failed")]
    Task {
        /// What the task did.
        task: &'static str,
        /// The cause.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The online store failed.
    #[error(transparent)]
    Store(#[from] tessera_online::Error),
    /// An aggregation failed.
    #[error("an aggregation failed")]
    Aggregate(#[from] tessera_core::aggregate::Error),
    /// Writing states to the online store failed (they stay pending and are retried; the
    /// batch itself is durable).
    #[error("writing aggregation states to the online store failed (the events are applied and durable; the states are retried)")]
    Publish(#[source] Arc<tessera_online::Error>),
    /// NATS failed.
    #[error("NATS: {action} failed{hint}")]
    Nats {
        /// What was being done.
        action: String,
        /// ` (hint: …)` or empty.
        hint: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Arrow failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    /// A definitions problem found here.
    pub(crate) fn definitions(message: impl Into<String>) -> Self {
        Error::Definitions {
            message: message.into(),
        }
    }

    /// A failed operation on one of the engine's redb files.
    pub(crate) fn checkpoint(
        path: &std::path::Path,
        action: &'static str,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Checkpoint {
            path: path.to_path_buf(),
            action,
            hint: "",
            source: source.into(),
        }
    }

    /// A failed operation on the offline log.
    pub(crate) fn log(
        path: &std::path::Path,
        action: &'static str,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Log {
            path: path.to_path_buf(),
            action,
            source: source.into(),
        }
    }
}

/// An error and its causes on one line (`error: caused by: cause …`), for logs.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": caused by: {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
