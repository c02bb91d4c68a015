//! The one error type of this crate.

use std::path::PathBuf;

/// A boxed error from a backend library, kept as the cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors from online stores and materialisation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be opened or created.
    #[error("cannot open the {store} online store at {location} (hint: {hint})")]
    Open {
        /// `embedded` or `redis`.
        store: &'static str,
        /// The directory or URL.
        location: String,
        /// What to do about it.
        hint: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// A backend call failed.
    #[error("{store} online store: {operation} failed")]
    Backend {
        /// `embedded` or `redis`.
        store: &'static str,
        /// What was being done (`read`, `write`, `delete` …).
        operation: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Stored bytes do not decode: the store was written by something else or is damaged.
    #[error("{what} does not decode: {reason}")]
    Corrupt {
        /// What was decoded (`row`, `entity key`).
        what: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An entity key is malformed (no parts, a repeated name, a name too long …).
    #[error("invalid entity key: {reason} (hint: {hint})")]
    InvalidKey {
        /// What is wrong.
        reason: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// An Arrow column holds a type the online store cannot keep.
    #[error(
        "column `{column}` has type {data_type}, which the online store cannot hold (hint: {hint})"
    )]
    UnsupportedType {
        /// The column.
        column: String,
        /// Its Arrow type.
        data_type: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// A value does not fit the type the online store keeps it as.
    #[error("column `{column}`: {value} does not fit in a signed 64-bit integer")]
    OutOfRange {
        /// The column.
        column: String,
        /// The value.
        value: String,
    },
    /// A write batch is inconsistent (a row with the wrong number of values).
    #[error("write batch for `{view}`: {reason}")]
    BadBatch {
        /// The feature view.
        view: String,
        /// What is wrong.
        reason: String,
    },
    /// A directory could not be created.
    #[error("cannot create or use {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A background task panicked or was cancelled.
    #[error("internal error: {operation} task failed")]
    Task {
        /// What the task did.
        operation: &'static str,
        /// The cause.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The store cannot do what was asked.
    #[error("the {store} online store cannot {operation} (hint: {hint})")]
    Unsupported {
        /// The store's name.
        store: &'static str,
        /// What was asked.
        operation: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// An aggregation failed.
    #[error("an aggregation failed")]
    Aggregate(#[from] tessera_aggregate::Error),
    /// The definitions could not be used.
    #[error(transparent)]
    Definitions(#[from] tessera_core::Error),
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps a backend library error.
    pub(crate) fn backend(
        store: &'static str,
        operation: &'static str,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Backend {
            store,
            operation,
            source: source.into(),
        }
    }
}
