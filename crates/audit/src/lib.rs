//! Tessera's append-only audit log: every read of features names who read, for what purpose,
//! which features, how many rows or entities, and the decision.
//!
//! The log is a directory (`audit_log:` in `tessera.yaml`) holding `audit.jsonl`, one JSON
//! record per line. Each record is written with a single `write` on a file opened for
//! appending, so concurrent writers never interleave within a record. `tessera audit tail`
//! and `tessera audit query` read it back.
//!
//! ```
//! use tessera_audit::{AuditLog, AuditRecord, AuditQuery};
//! let dir = tempfile::tempdir().unwrap();
//! let log = AuditLog::new(dir.path());
//! let mut rec = AuditRecord::now("training_set", "local:alice", "training");
//! rec.features = vec!["user_stats:f0".into()];
//! rec.rows = 100;
//! log.append(&rec).unwrap();
//! let found = log.query(&AuditQuery { purpose: Some("training".into()), ..Default::default() }).unwrap();
//! assert_eq!(found.len(), 1);
//! ```

mod audit_sink;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use audit_sink::{AuditSink, SinkConfig, SinkStats};

/// Errors from the audit log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log could not be read or written.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a record.
    #[error("audit log {path} line {line}: {source}")]
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
    #[error("audit log {path} cannot be written: {source}")]
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

/// Allowed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditDecision {
    /// The read happened.
    Allow,
    /// The read was refused; `reasons` say why.
    Deny,
    /// The read was allowed but failed (bad input, I/O).
    Error,
}

/// One audited read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When (RFC 3339, UTC, microseconds).
    pub time: String,
    /// What kind of read: `training_set`, `online_read`, …
    pub action: String,
    /// Who: a consumer name, or `local:<user>` for the CLI.
    pub consumer: String,
    /// Why.
    pub purpose: String,
    /// The features read (`view:feature`).
    pub features: Vec<String>,
    /// Rows produced or entities read.
    pub rows: u64,
    /// The decision.
    pub decision: AuditDecision,
    /// Why a read was refused or failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// How long it took, in microseconds.
    #[serde(default)]
    pub latency_us: u64,
    /// Free-form detail, e.g. the output file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditRecord {
    /// A record stamped now, allowed, with no features yet.
    pub fn now(action: &str, consumer: &str, purpose: &str) -> Self {
        Self {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            action: action.to_string(),
            consumer: consumer.to_string(),
            purpose: purpose.to_string(),
            features: Vec::new(),
            rows: 0,
            decision: AuditDecision::Allow,
            reasons: Vec::new(),
            latency_us: 0,
            detail: None,
        }
    }
}

/// Filters for [`AuditLog::query`]; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Consumer name.
    pub consumer: Option<String>,
    /// Purpose name.
    pub purpose: Option<String>,
    /// Decision.
    pub decision: Option<AuditDecision>,
    /// Records that read a feature of this view or this `view:feature`.
    pub feature: Option<String>,
    /// Records at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Action.
    pub action: Option<String>,
}

impl AuditQuery {
    fn matches(&self, r: &AuditRecord) -> bool {
        self.consumer.as_ref().is_none_or(|c| *c == r.consumer)
            && self.purpose.as_ref().is_none_or(|p| *p == r.purpose)
            && self.decision.is_none_or(|d| d == r.decision)
            && self.action.as_ref().is_none_or(|a| *a == r.action)
            && self
                .since
                .as_ref()
                .is_none_or(|s| r.time.as_str() >= s.as_str())
            && self.feature.as_ref().is_none_or(|f| {
                r.features
                    .iter()
                    .any(|x| x == f || x.split(':').next() == Some(f.as_str()))
            })
    }
}

/// The audit log of one repository.
#[derive(Debug, Clone)]
pub struct AuditLog {
    file: PathBuf,
}

impl AuditLog {
    /// The log kept in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            file: dir.join("audit.jsonl"),
        }
    }

    /// The file records go to.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Appends one record durably (the data is synced before returning).
    pub fn append(&self, record: &AuditRecord) -> Result<()> {
        self.append_all(std::slice::from_ref(record), true)
    }

    /// Appends records in one write; `sync` forces them to disk.
    pub fn append_all(&self, records: &[AuditRecord], sync: bool) -> Result<()> {
        let io = |source| Error::Io {
            path: self.file.clone(),
            source,
        };
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut buf = Vec::with_capacity(256 * records.len());
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| io(std::io::Error::other(e)))?;
            buf.push(b'\n');
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .map_err(io)?;
        f.write_all(&buf).map_err(io)?;
        if sync {
            f.sync_data().map_err(io)?;
        }
        Ok(())
    }

    /// Every record matching `q`, oldest first. A missing log is empty.
    pub fn query(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let f = match std::fs::File::open(&self.file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(source) => {
                return Err(Error::Io {
                    path: self.file.clone(),
                    source,
                })
            }
        };
        let mut out = Vec::new();
        for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|source| Error::Io {
                path: self.file.clone(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let r: AuditRecord = serde_json::from_str(&line).map_err(|source| Error::Corrupt {
                path: self.file.clone(),
                line: i + 1,
                source,
            })?;
            if q.matches(&r) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The last `n` records.
    pub fn tail(&self, n: usize) -> Result<Vec<AuditRecord>> {
        let mut all = self.query(&AuditQuery::default())?;
        let skip = all.len().saturating_sub(n);
        Ok(all.split_off(skip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_query_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(&dir.path().join("audit"));
        assert!(log.tail(5).unwrap().is_empty());
        for (i, p) in ["ranking", "analytics", "ranking"].iter().enumerate() {
            let mut r = AuditRecord::now("online_read", "ranker", p);
            r.features = vec![format!("user_stats:f{i}")];
            if *p == "analytics" {
                r.decision = AuditDecision::Deny;
            }
            log.append(&r).unwrap();
        }
        assert_eq!(log.tail(2).unwrap().len(), 2);
        let q = AuditQuery {
            decision: Some(AuditDecision::Deny),
            ..Default::default()
        };
        assert_eq!(log.query(&q).unwrap()[0].purpose, "analytics");
        let q = AuditQuery {
            feature: Some("user_stats".into()),
            ..Default::default()
        };
        assert_eq!(log.query(&q).unwrap().len(), 3);
        let q = AuditQuery {
            feature: Some("user_stats:f2".into()),
            ..Default::default()
        };
        assert_eq!(log.query(&q).unwrap().len(), 1);
    }
}
