//! Tessera's append-only audit log: every read of features names who read, for what purpose,
//! which features, how many rows or entities, and the decision.
//!
//! The log is a directory (`audit_log:` in `tessera.yaml`) holding `audit.jsonl`, one JSON
//! record per line. Each record is written with a single `write` on a file opened for
//! appending, so concurrent writers never interleave within a record. `tessera audit tail`
//! and `tessera audit query` read it back. A log with a [`Rotation`] also holds rotated
//! files, `audit-<time>.jsonl`; readers go through all of them in time order, and `tail`
//! reads backwards from the end (see the `rotation` module).
//!
//! [`AuditLog`] appends a record at a time (the CLI); [`AuditSink`] is the server's
//! group-commit writer, which returns once a record is in the file ([`SyncMode`] says
//! whether on disk too).
//!
//! Every line is a whole record. A writer that dies in the middle of a record (a crash)
//! leaves a torn final line: readers skip it and say so ([`AuditRead::torn_final_line`]), and
//! the next writer to open the log replaces it with an [`ACTION_REPAIR`] record that keeps
//! its text, so the next record starts on a line of its own. Any other line that is not a
//! record is an error ([`Error::Corrupt`]).
//!
//! ```
//! use tessera_audit::{AuditLog, AuditRecord, AuditQuery};
//! let dir = tempfile::tempdir().unwrap();
//! let log = AuditLog::new(dir.path());
//! let mut rec = AuditRecord::now("training_set", "local:alice", "training");
//! rec.features = vec!["user_stats:f0".to_string()].into();
//! rec.rows = 100;
//! log.append(&rec).unwrap();
//! let found = log.query(&AuditQuery { purpose: Some("training".into()), ..Default::default() }).unwrap();
//! assert_eq!(found.len(), 1);
//! ```

mod audit_log;
mod audit_sink;
mod feature_list;
mod query;
mod record;
mod reverse_lines;
mod rotation;
mod torn_tail;
mod transform_list;

use std::path::PathBuf;

pub use audit_log::{AuditLog, AuditRead};
pub use audit_sink::{AuditSink, SinkConfig, SinkStats, SyncMode};
pub use feature_list::FeatureList;
pub use query::AuditQuery;
pub use record::{AuditDecision, AuditRecord};
pub use rotation::Rotation;
pub use torn_tail::{TornLine, ACTION_REPAIR};
pub use transform_list::TransformList;

/// Errors from the audit log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log could not be read or written.
    #[error("audit log {path} cannot be read or written")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a record.
    #[error("audit log {path} line {line} is not a record")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// An [`AuditSink`] was shut down; it takes no more records.
    #[error("audit log {path}: the buffered writer is shut down")]
    SinkClosed {
        /// The file.
        path: PathBuf,
    },
    /// An [`AuditSink`] cannot write the log; records are refused until a write succeeds.
    #[error("audit log {path} cannot be written")]
    SinkFailed {
        /// The file.
        path: PathBuf,
        /// The last write error.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
