//! Tessera's append-only audit log: every read of features names who read, for what purpose,
//! which features, how many rows or entities, and the decision.
//!
//! The log is a directory (`audit_log:` in `tessera.yaml`) holding `audit.jsonl`, one JSON
//! record per line. Each record is written with a single `write` on a file opened for
//! appending, so concurrent writers never interleave within a record. `tessera audit tail`
//! and `tessera audit query` read it back.
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

mod audit_sink;
mod feature_list;

use std::fmt;
use std::fs::File;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use audit_sink::{AuditSink, SinkConfig, SinkStats};
pub use feature_list::FeatureList;

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
    /// Who: a consumer name, `anonymous`, `local:<user>` for the CLI, or
    /// `local:<user> as <consumer>` for a CLI command run with `--consumer`.
    pub consumer: String,
    /// Why.
    pub purpose: String,
    /// The features read (`view:feature`).
    pub features: FeatureList,
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
            features: FeatureList::default(),
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
    /// Consumer name: matches the consumer's own records and those of local operators
    /// acting as it (`local:<user> as <consumer>`).
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
        self.consumer.as_ref().is_none_or(|c| {
            *c == r.consumer
                || r.consumer
                    .strip_suffix(c.as_str())
                    .and_then(|rest| rest.strip_suffix(" as "))
                    .is_some_and(|user| user.starts_with("local:"))
        }) && self.purpose.as_ref().is_none_or(|p| *p == r.purpose)
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
            .read(true)
            .append(true)
            .open(&self.file)
            .map_err(io)?;
        repair_torn_tail(&mut f).map_err(io)?;
        f.write_all(&buf).map_err(io)?;
        if sync {
            f.sync_data().map_err(io)?;
        }
        Ok(())
    }

    /// Every record matching `q`, oldest first. A missing log is empty. A torn final line
    /// is skipped; [`AuditLog::read`] also says whether there was one.
    pub fn query(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        Ok(self.read(q)?.records)
    }

    /// Every record matching `q`, oldest first, and the torn final line, if the log ends in
    /// one (skipped: a writer stopped in the middle of it). Any other line that is not a
    /// record is [`Error::Corrupt`]. A missing log is empty.
    pub fn read(&self, q: &AuditQuery) -> Result<AuditRead> {
        let io = |source| Error::Io {
            path: self.file.clone(),
            source,
        };
        let f = match File::open(&self.file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AuditRead::default()),
            Err(source) => return Err(io(source)),
        };
        let mut reader = std::io::BufReader::new(f);
        let mut out = AuditRead::default();
        let mut buf = Vec::new();
        let mut line = 0;
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
                break;
            }
            line += 1;
            // Only the last line can lack its newline.
            let whole = buf.last() == Some(&b'\n');
            let text = buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_slice::<AuditRecord>(text) {
                Ok(r) => {
                    if q.matches(&r) {
                        out.records.push(r);
                    }
                }
                Err(_) if !whole => {
                    out.torn_final_line = Some(TornLine {
                        path: self.file.clone(),
                        line,
                        bytes: buf.len(),
                    });
                }
                Err(source) => {
                    return Err(Error::Corrupt {
                        path: self.file.clone(),
                        line,
                        source,
                    })
                }
            }
        }
        Ok(out)
    }

    /// The last `n` records.
    pub fn tail(&self, n: usize) -> Result<Vec<AuditRecord>> {
        Ok(self.read_tail(n)?.records)
    }

    /// The last `n` records, and the torn final line if there is one (as [`AuditLog::read`]).
    pub fn read_tail(&self, n: usize) -> Result<AuditRead> {
        let mut all = self.read(&AuditQuery::default())?;
        let skip = all.records.len().saturating_sub(n);
        all.records = all.records.split_off(skip);
        Ok(all)
    }
}

/// What [`AuditLog::read`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditRead {
    /// The matching records, oldest first.
    pub records: Vec<AuditRecord>,
    /// The log's last line when it has no newline and is not a whole record: a writer
    /// stopped in the middle of it (a crash). It is skipped, not an error; the next writer
    /// to open the log replaces it with an [`ACTION_REPAIR`] record that keeps its text.
    pub torn_final_line: Option<TornLine>,
}

/// A torn final line: part of a record, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornLine {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// Its length in bytes.
    pub bytes: usize,
}

impl fmt::Display for TornLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "audit log {} line {}: skipped a torn final record ({} bytes without a newline: a writer stopped in the middle of it, e.g. a crash); the next writer replaces it with an `{ACTION_REPAIR}` record that keeps its text",
            self.path.display(),
            self.line,
            self.bytes
        )
    }
}

/// The `action` of the record that replaces a torn final line; `detail` holds the line's
/// text.
pub const ACTION_REPAIR: &str = "audit_repair";

/// How long a torn final line must stay unchanged before a writer replaces it, so that a
/// record another process is writing at that very moment is never taken for one.
const TORN_SETTLE: Duration = Duration::from_millis(50);

/// At most this much of a torn line's text is kept in the repair record.
const MAX_TORN_KEPT: u64 = 64 * 1024;

/// Makes the log end in a whole line before a writer appends to it (`file` is open for
/// reading and appending). A torn final line — bytes after the last newline, left by a
/// writer that stopped mid-record — would otherwise be glued to the next record and turn
/// both into one corrupt line. If the torn bytes are a whole record that lost only its
/// newline, the newline is added; otherwise they are replaced by an [`ACTION_REPAIR`]
/// record (decision `error`) whose `detail` keeps their text. Returns the torn bytes found.
pub(crate) fn repair_torn_tail(file: &mut File) -> std::io::Result<u64> {
    let Some(torn) = torn_tail(file)? else {
        return Ok(0);
    };
    // A record being written by another process looks torn for a few microseconds.
    std::thread::sleep(TORN_SETTLE);
    if torn_tail(file)? != Some(torn) {
        return Ok(0);
    }
    let (cut, len) = torn;
    let mut text = Vec::new();
    file.seek(SeekFrom::Start(cut))?;
    Read::take(&mut *file, MAX_TORN_KEPT).read_to_end(&mut text)?;
    if serde_json::from_slice::<AuditRecord>(&text).is_ok() {
        file.write_all(b"\n")?;
        return Ok(len - cut);
    }
    let mut rec = AuditRecord::now(ACTION_REPAIR, "-", "-");
    rec.decision = AuditDecision::Error;
    rec.reasons = vec![format!(
        "the log ended in a torn record of {} bytes (a writer stopped in the middle of it, e.g. a crash); its text is in `detail`",
        len - cut
    )];
    rec.detail = Some(String::from_utf8_lossy(&text).into_owned());
    let mut line = serde_json::to_vec(&rec).map_err(std::io::Error::other)?;
    line.push(b'\n');
    file.set_len(cut)?;
    file.write_all(&line)?;
    Ok(len - cut)
}

/// `(offset just past the last newline, file length)` when the file is not empty and does
/// not end in a newline.
fn torn_tail(file: &mut File) -> std::io::Result<Option<(u64, u64)>> {
    let len = file.metadata()?.len();
    let mut chunk = [0u8; 4096];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if end == len && part.last() == Some(&b'\n') {
            return Ok(None);
        }
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(Some((start + i as u64 + 1, len)));
        }
        end = start;
    }
    Ok((len > 0).then_some((0, len)))
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
            r.features = vec![format!("user_stats:f{i}")].into();
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
        log.append(&AuditRecord::now(
            "online_read",
            "local:alice as ranker",
            "ranking",
        ))
        .unwrap();
        log.append(&AuditRecord::now(
            "online_read",
            "local:alice as xranker",
            "ranking",
        ))
        .unwrap();
        let q = AuditQuery {
            consumer: Some("ranker".into()),
            ..Default::default()
        };
        assert_eq!(
            log.query(&q).unwrap().len(),
            4,
            "own records and local ones as it"
        );
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

    fn line(rows: u64) -> String {
        let mut r = AuditRecord::now("online_read", "ranker", "ranking");
        r.rows = rows;
        serde_json::to_string(&r).unwrap() + "\n"
    }

    #[test]
    fn a_torn_final_line_is_skipped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        let torn = &line(3)[..40];
        std::fs::write(log.path(), format!("{}{}{torn}", line(1), line(2))).unwrap();
        let read = log.read(&AuditQuery::default()).unwrap();
        assert_eq!(
            read.records.iter().map(|r| r.rows).collect::<Vec<_>>(),
            [1, 2]
        );
        let t = read.torn_final_line.expect("the torn line is reported");
        assert_eq!((t.line, t.bytes), (3, 40));
        assert!(
            t.to_string()
                .contains("line 3: skipped a torn final record"),
            "{t}"
        );
        assert_eq!(log.tail(5).unwrap().len(), 2);
        assert_eq!(log.read_tail(1).unwrap().records[0].rows, 2);
        // A last record that lost only its newline is a record.
        std::fs::write(log.path(), format!("{}{}", line(1), line(2).trim_end())).unwrap();
        let read = log.read(&AuditQuery::default()).unwrap();
        assert_eq!((read.records.len(), read.torn_final_line), (2, None));
    }

    #[test]
    fn a_corrupt_line_before_the_last_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        let torn = &line(2)[..40];
        // A torn record glued to the next one, as a retried partial write used to leave.
        std::fs::write(
            log.path(),
            format!("{}{torn}{}{}", line(1), line(2), line(3)),
        )
        .unwrap();
        let err = log.query(&AuditQuery::default()).unwrap_err();
        assert!(matches!(err, Error::Corrupt { line: 2, .. }), "{err}");
        std::fs::write(log.path(), format!("{}not json\n{}", line(1), line(2))).unwrap();
        let err = log.tail(5).unwrap_err();
        assert!(matches!(err, Error::Corrupt { line: 2, .. }), "{err}");
    }

    #[test]
    fn the_next_writer_replaces_a_torn_final_line_and_keeps_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        let torn = &line(2)[..40];
        std::fs::write(log.path(), format!("{}{torn}", line(1))).unwrap();
        let mut r = AuditRecord::now("training_set", "local:alice", "training");
        r.rows = 3;
        log.append(&r).unwrap();
        let read = log.read(&AuditQuery::default()).unwrap();
        assert_eq!(read.torn_final_line, None);
        let got: Vec<(&str, u64)> = read
            .records
            .iter()
            .map(|r| (r.action.as_str(), r.rows))
            .collect();
        assert_eq!(
            got,
            [("online_read", 1), (ACTION_REPAIR, 0), ("training_set", 3)]
        );
        assert_eq!(read.records[1].detail.as_deref(), Some(torn));
        assert_eq!(read.records[1].decision, AuditDecision::Error);
        // A final record that lost only its newline gets it back, and stays a record.
        std::fs::write(log.path(), line(1).trim_end()).unwrap();
        log.append(&r).unwrap();
        let rows: Vec<u64> = log.tail(5).unwrap().iter().map(|r| r.rows).collect();
        assert_eq!(rows, [1, 3]);
    }
}
