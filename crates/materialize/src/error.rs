//! [`Error`]: why a materialisation failed.

/// Why a materialisation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The online store failed.
    #[error(transparent)]
    Online(#[from] tessera_online::Error),
    /// The offline engine failed.
    #[error(transparent)]
    Offline(#[from] tessera_offline::Error),
    /// A materialisation that cannot be done as asked.
    #[error("{0}")]
    Materialize(String),
    /// An aggregation failed.
    #[error(transparent)]
    Aggregate(#[from] tessera_aggregate::Error),
    /// The definitions could not be used.
    #[error(transparent)]
    Definitions(#[from] tessera_core::Error),
    /// A background task panicked or was cancelled.
    #[error("internal error: {operation} task failed")]
    Task {
        /// What the task did.
        operation: &'static str,
        /// The cause.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
