//! [`AuditLog`]: the log's files in one directory — appending, querying and tailing,
//! across rotated files.

use std::fs::File;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::reverse_lines::{line_number, ReverseLines};
use crate::rotation::{self, Rotation};
use crate::torn_tail::repair_torn_tail;
use crate::{AuditQuery, AuditRecord, Error, Result, TornLine};

/// The audit log of one repository.
#[derive(Debug, Clone)]
pub struct AuditLog {
    file: PathBuf,
    rotation: Rotation,
}

/// What [`AuditLog::read`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditRead {
    /// The matching records, oldest first.
    pub records: Vec<AuditRecord>,
    /// The log's last line when it has no newline and is not a whole record: a writer
    /// stopped in the middle of it (a crash). It is skipped, not an error; the next writer
    /// to open the log replaces it with an [`ACTION_REPAIR`](crate::ACTION_REPAIR) record
    /// that keeps its text.
    pub torn_final_line: Option<TornLine>,
}

impl AuditLog {
    /// The log kept in `dir`, never rotated.
    pub fn new(dir: &Path) -> Self {
        Self {
            file: dir.join(rotation::ACTIVE),
            rotation: Rotation::default(),
        }
    }

    /// The same log, rotated and pruned as `rotation` says whenever this handle (or an
    /// [`AuditSink`](crate::AuditSink) made from it) writes.
    pub fn with_rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    /// The rotation settings.
    pub fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// The file records go to (the active file).
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Every file of the log, oldest first: the rotated ones, then the active one.
    pub fn files(&self) -> Result<Vec<PathBuf>> {
        let mut out = match self.file.parent() {
            Some(dir) => rotation::rotated_files(dir).map_err(|e| self.io(e))?,
            None => Vec::new(),
        };
        if self.file.exists() {
            out.push(self.file.clone());
        }
        Ok(out)
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.file.clone(),
            source,
        }
    }

    /// Appends one record durably (the data is synced before returning).
    pub fn append(&self, record: &AuditRecord) -> Result<()> {
        self.append_all(std::slice::from_ref(record), true)
    }

    /// Appends records in one write; `sync` forces them to disk. Rotates the active file
    /// afterwards if it is due.
    pub fn append_all(&self, records: &[AuditRecord], sync: bool) -> Result<()> {
        let io = |e| self.io(e);
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
        if self.rotation.enabled() {
            let meta = f.metadata().map_err(io)?;
            let first = rotation::first_record_time(&self.file);
            if self.rotation.due(meta.len(), first) {
                rotation::rotate(&self.file, Some(rotation::identity(&meta)), &self.rotation)
                    .map_err(io)?;
            }
        }
        Ok(())
    }

    /// Every record matching `q`, oldest first. A missing log is empty. A torn final line
    /// is skipped; [`AuditLog::read`] also says whether there was one.
    pub fn query(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        Ok(self.read(q)?.records)
    }

    /// Every record matching `q` in every file of the log (rotated ones first, in time
    /// order), oldest first, and the torn final line, if the log ends in one (skipped: a
    /// writer stopped in the middle of it). Any other line that is not a record is
    /// [`Error::Corrupt`]. A missing log is empty.
    pub fn read(&self, q: &AuditQuery) -> Result<AuditRead> {
        let mut out = AuditRead::default();
        for (path, f) in rotation::open_files(&self.file).map_err(|e| self.io(e))? {
            read_file(&path, f, q, &mut out)?;
        }
        Ok(out)
    }

    /// The last `n` records.
    pub fn tail(&self, n: usize) -> Result<Vec<AuditRecord>> {
        Ok(self.read_tail(n)?.records)
    }

    /// The last `n` records, and the torn final line if there is one (as [`AuditLog::read`]).
    /// Reads the files backwards from their end, so its cost depends on `n`, not on the
    /// size of the log.
    pub fn read_tail(&self, n: usize) -> Result<AuditRead> {
        let mut out = AuditRead::default();
        let mut newest_first = Vec::with_capacity(n.min(4096));
        let files = rotation::open_files(&self.file).map_err(|e| self.io(e))?;
        for (path, mut f) in files.into_iter().rev() {
            if newest_first.len() >= n {
                break;
            }
            tail_file(&path, &mut f, n, &mut newest_first, &mut out)?;
        }
        newest_first.reverse();
        out.records = newest_first;
        Ok(out)
    }
}

/// Reads one file forwards into `out`.
fn read_file(path: &Path, f: File, q: &AuditQuery, out: &mut AuditRead) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, f);
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
                    path: path.to_path_buf(),
                    line,
                    bytes: buf.len(),
                });
            }
            Err(source) => {
                return Err(Error::Corrupt {
                    path: path.to_path_buf(),
                    line,
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Adds the last records of one file to `newest_first` until it holds `n`.
fn tail_file(
    path: &Path,
    f: &mut File,
    n: usize,
    newest_first: &mut Vec<AuditRecord>,
    out: &mut AuditRead,
) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut lines = ReverseLines::new(f).map_err(io)?;
    let mut bad = None;
    while newest_first.len() < n {
        let Some(l) = lines.next_line().map_err(io)? else {
            break;
        };
        let text = l.bytes.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_slice::<AuditRecord>(text) {
            Ok(r) => newest_first.push(r),
            Err(_) if !l.whole => {
                if out.torn_final_line.is_none() {
                    bad = Some((l.offset, None, l.bytes.len()));
                }
            }
            Err(source) => {
                bad = Some((l.offset, Some(source), 0));
                break;
            }
        }
    }
    drop(lines);
    // Line numbers are counted only when there is something to report.
    match bad {
        None => Ok(()),
        Some((offset, Some(source), _)) => Err(Error::Corrupt {
            path: path.to_path_buf(),
            line: line_number(f, offset).map_err(io)?,
            source,
        }),
        Some((offset, None, bytes)) => {
            out.torn_final_line = Some(TornLine {
                path: path.to_path_buf(),
                line: line_number(f, offset).map_err(io)?,
                bytes,
            });
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditDecision, ACTION_REPAIR};

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

    #[test]
    fn tail_reads_from_the_end_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        // A bad first line, then 10,000 records (about 1.6 MB): `tail` never reaches the
        // bad line, a full read does.
        let mut text = String::from("not json\n");
        for i in 0..10_000 {
            text.push_str(&line(i));
        }
        std::fs::write(log.path(), text).unwrap();
        let rows: Vec<u64> = log.tail(2).unwrap().iter().map(|r| r.rows).collect();
        assert_eq!(rows, [9_998, 9_999]);
        assert_eq!(log.tail(3_000).unwrap()[0].rows, 7_000);
        let err = log.query(&AuditQuery::default()).unwrap_err();
        assert!(matches!(err, Error::Corrupt { line: 1, .. }), "{err}");
        let err = log.tail(10_001).unwrap_err();
        assert!(matches!(err, Error::Corrupt { line: 1, .. }), "{err}");
    }

    #[test]
    fn tail_and_query_span_rotated_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path()).with_rotation(Rotation {
            max_bytes: Some(400),
            ..Rotation::default()
        });
        for i in 0..30 {
            let mut r = AuditRecord::now("online_read", "ranker", "ranking");
            r.rows = i;
            log.append_all(&[r], false).unwrap();
        }
        assert!(log.files().unwrap().len() > 5);
        let rows: Vec<u64> = log.tail(7).unwrap().iter().map(|r| r.rows).collect();
        assert_eq!(rows, (23..30).collect::<Vec<_>>());
        let all: Vec<u64> = log
            .query(&AuditQuery::default())
            .unwrap()
            .iter()
            .map(|r| r.rows)
            .collect();
        assert_eq!(all, (0..30).collect::<Vec<_>>());
        assert_eq!(log.tail(100).unwrap().len(), 30);
    }
}
