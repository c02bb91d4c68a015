use std::path::PathBuf;

/// Errors from the offline engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A definition problem (unknown feature, bad reference …).
    #[error(transparent)]
    Definitions(#[from] tessera_core::Error),
    /// Sources do not match their definitions.
    #[error("{0}")]
    Schema(tessera_core::ValidationErrors),
    /// The spine cannot be used; `hint` says how to fix it.
    #[error("spine {path}: {message} (hint: {hint})")]
    Spine {
        /// The spine file.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// The request itself is inconsistent (e.g. colliding output columns).
    #[error("{message} (hint: {hint})")]
    Request {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// Data in a source breaks an assumption (e.g. a timestamp out of range).
    #[error("source `{source_name}`: {message}")]
    Data {
        /// The source.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// DataFusion failed.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet failed.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A file could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A worker task failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
