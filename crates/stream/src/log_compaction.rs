//! Compaction of a stream source's offline log: ingestion appends one small Parquet file
//! per batch, and a backfill's cost grows with the number of files, so runs of small files
//! are merged into larger ones — in the background in `tessera serve` / `tessera ingest`
//! ([`crate::StreamEngine::compact_logs`]), or on demand (`tessera compact`).
//!
//! # Crash safety and concurrent readers
//! Which files a reader reads is one rule, [`tessera_core::log_files`]: a merged file
//! `part-<source>-<first>-<last>.parquet` supersedes every file of the batches it covers.
//! A compaction of the files of batches `first..=last`:
//!
//! 1. writes the merged rows to a hidden temporary file (`.compact-….parquet.tmp`, which
//!    no reader reads) and `fsync`s it;
//! 2. publishes it with one `rename` to its final name and `fsync`s the directory — from
//!    this instant readers read the merged file instead of the originals;
//! 3. deletes superseded files once the merged file is older than the grace period
//!    (`offline_log.compact_grace`), so a reader that listed the directory before step 2
//!    can still open the originals, and `fsync`s the directory.
//!
//! A crash before 2 leaves the originals (the temporary file is removed by the next run); a
//! crash after 2 leaves the merged file and superseded originals, which readers skip and
//! the next run deletes. Either way every reader sees each event exactly once.
//!
//! Only batches covered by the source's last durable snapshot are merged: the engine never
//! replays them on open (it replays the batches after the snapshot, file by file), and they
//! are committed, so a batch redone after a crash never lands inside a merged file.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use tessera_core::log_files::{classify, LogFile};
use tessera_core::OfflineLogConfig;

use crate::error::{Error, Result};

/// How a log is compacted (`offline_log:` in `tessera.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionSettings {
    /// Merge only when at least this many files can be merged.
    pub min_files: usize,
    /// A merged file holds about this many rows at most.
    pub target_rows: usize,
    /// Superseded files are deleted once the merged file is this old.
    pub grace: Duration,
}

impl Default for CompactionSettings {
    fn default() -> Self {
        Self::from(&OfflineLogConfig::default())
    }
}

impl From<&OfflineLogConfig> for CompactionSettings {
    fn from(c: &OfflineLogConfig) -> Self {
        Self {
            min_files: c.compact_min_files.max(2),
            target_rows: c.compact_target_rows.max(1),
            grace: c.compact_grace.0,
        }
    }
}

/// What one compaction of a source's log did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// The source.
    pub source: String,
    /// Files merged into new ones.
    pub merged_files: usize,
    /// Merged files written.
    pub written_files: usize,
    /// Rows in the merged files written.
    pub rows: u64,
    /// Superseded files deleted (this run's or earlier runs', once past the grace period).
    pub removed_files: usize,
    /// Superseded files kept for the grace period.
    pub kept_files: usize,
    /// Files a reader reads after the run.
    pub live_files: usize,
}

/// Where a compaction stops (crash tests): after this step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Step {
    /// The temporary file is written and synced.
    Written,
    /// The merged file is renamed into place.
    Published,
    /// Everything.
    Done,
}

/// A log file of the source below the cut, with what merging needs to know.
struct Candidate {
    file: LogFile,
    path: PathBuf,
    rows: u64,
    schema: SchemaRef,
}

fn log_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::LogFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Names of the regular files in `dir` (none when it does not exist).
pub(crate) fn file_names(dir: &Path) -> Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(d) => Ok(d
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(log_error(dir, e)),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| log_error(dir, e))
}

/// Compacts the log of `source` in `dir`, merging files of batches before `cut` (the
/// batches the last durable snapshot covers). See the module docs.
pub fn compact_log(
    dir: &Path,
    source: &str,
    cut: u64,
    settings: &CompactionSettings,
) -> Result<CompactionReport> {
    compact_until(dir, source, cut, settings, Step::Done)
}

pub(crate) fn compact_until(
    dir: &Path,
    source: &str,
    cut: u64,
    settings: &CompactionSettings,
    stop: Step,
) -> Result<CompactionReport> {
    let mut report = CompactionReport {
        source: source.to_string(),
        ..CompactionReport::default()
    };
    let tmp_prefix = format!(".compact-{source}-");
    let names = file_names(dir)?;
    // Temporary files of a run that died before publishing.
    for n in names.iter().filter(|n| n.starts_with(&tmp_prefix)) {
        let _ = std::fs::remove_file(dir.join(n));
    }
    let (live, _) = classify(names, source);
    let mut candidates = Vec::new();
    for name in &live {
        let Some(file) = LogFile::parse(name, source) else {
            continue;
        };
        if file.last() >= cut {
            break; // live files of the source are in batch order
        }
        let path = dir.join(name);
        let (rows, schema) = footer(&path)?;
        candidates.push(Candidate {
            file,
            path,
            rows,
            schema,
        });
    }
    let groups = plan_groups(&candidates, settings.target_rows);
    let mergeable: usize = groups.iter().map(Vec::len).sum();
    if mergeable >= settings.min_files {
        for group in &groups {
            let parts: Vec<&Candidate> = group.iter().map(|i| &candidates[*i]).collect();
            report.rows += merge(dir, source, &parts, stop)?;
            report.merged_files += parts.len();
            report.written_files += 1;
            if stop == Step::Written {
                return Ok(report);
            }
        }
    }
    if stop < Step::Done {
        return Ok(report);
    }
    remove_superseded(dir, source, settings.grace, &mut report)?;
    Ok(report)
}

/// Runs of consecutive files with one schema, each of at most `target_rows` rows (a file
/// alone may hold more), of two files or more.
fn plan_groups(candidates: &[Candidate], target_rows: usize) -> Vec<Vec<usize>> {
    let target = target_rows as u64;
    let mut groups = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut rows = 0u64;
    for (i, c) in candidates.iter().enumerate() {
        let fits = current
            .last()
            .is_some_and(|&j| candidates[j].schema == c.schema && rows + c.rows <= target);
        if !fits {
            if current.len() >= 2 {
                groups.push(std::mem::take(&mut current));
            }
            current.clear();
            rows = 0;
        }
        current.push(i);
        rows += c.rows;
    }
    if current.len() >= 2 {
        groups.push(current);
    }
    groups
}

/// Rows and Arrow schema of a Parquet file, from its footer.
fn footer(path: &Path) -> Result<(u64, SchemaRef)> {
    let f = std::fs::File::open(path).map_err(|e| log_error(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| log_error(path, e))?;
    let rows = u64::try_from(b.metadata().file_metadata().num_rows()).unwrap_or(0);
    Ok((rows, b.schema().clone()))
}

/// Writes the rows of `parts` (in order) to a temporary file, syncs it and (unless `stop`
/// says otherwise) publishes it under its merged name. Returns the rows written.
fn merge(dir: &Path, source: &str, parts: &[&Candidate], stop: Step) -> Result<u64> {
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return Ok(0);
    };
    let merged = LogFile::Merged {
        first: first.file.first(),
        last: last.file.last(),
    };
    let path = dir.join(merged.name(source));
    let tmp = dir.join(format!(
        ".compact-{source}-{:012}-{:012}.parquet.tmp",
        merged.first(),
        merged.last()
    ));
    let props = crate::offline_log::log_writer_properties();
    let mut rows = 0u64;
    {
        let f = std::fs::File::create(&tmp).map_err(|e| log_error(&tmp, e))?;
        let mut w = ArrowWriter::try_new(f, first.schema.clone(), Some(props))
            .map_err(|e| log_error(&tmp, e))?;
        for part in parts {
            let f = std::fs::File::open(&part.path).map_err(|e| log_error(&part.path, e))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(f)
                .and_then(|b| b.build())
                .map_err(|e| log_error(&part.path, e))?;
            for batch in reader {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                w.write(&batch).map_err(|e| log_error(&tmp, e))?;
            }
        }
        let f = w.into_inner().map_err(|e| log_error(&tmp, e))?;
        f.sync_all().map_err(|e| log_error(&tmp, e))?;
    }
    if stop == Step::Written {
        return Ok(rows);
    }
    std::fs::rename(&tmp, &path).map_err(|e| log_error(&path, e))?;
    sync_dir(dir)?;
    Ok(rows)
}

/// Deletes superseded files whose merged file is older than `grace`.
fn remove_superseded(
    dir: &Path,
    source: &str,
    grace: Duration,
    report: &mut CompactionReport,
) -> Result<()> {
    let (live, superseded) = classify(file_names(dir)?, source);
    report.live_files = live.len();
    let now = SystemTime::now();
    let mut removed_any = false;
    for (name, by) in superseded {
        let age = std::fs::metadata(dir.join(&by))
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default());
        match age {
            Ok(age) if age >= grace => {
                match std::fs::remove_file(dir.join(&name)) {
                    Ok(()) => report.removed_files += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(log_error(&dir.join(&name), e)),
                }
                removed_any = true;
            }
            _ => report.kept_files += 1,
        }
    }
    if removed_any {
        sync_dir(dir)?;
    }
    Ok(())
}

/// `tessera compact`: compacts the offline logs of every stream source of `catalog` in the
/// repository at `root`, when no engine runs there (it takes the engine's checkpoint, so
/// a running `tessera serve` / `tessera ingest` makes this fail at once; they compact in
/// the background themselves).
pub fn compact_repo_logs(
    root: &Path,
    catalog: &tessera_core::Catalog,
    settings: &CompactionSettings,
) -> Result<Vec<CompactionReport>> {
    let _lock = crate::Checkpoint::open(&root.join(".tessera/stream/checkpoint.redb"))?;
    let snapshots =
        crate::snapshot_file::SnapshotFile::open(&root.join(".tessera/stream/snapshots.redb"))?;
    let mut out = Vec::new();
    for source in catalog.sources().values().filter(|s| s.stream.is_some()) {
        let dir = source.resolved_path(root);
        let Some(cut) = snapshots.progress(&source.name)? else {
            out.push(CompactionReport {
                source: source.name.clone(),
                live_files: classify(file_names(&dir)?, &source.name).0.len(),
                ..CompactionReport::default()
            });
            continue;
        };
        out.push(compact_log(&dir, &source.name, cut, settings)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, RecordBatch, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;

    const SRC: &str = "plays";

    fn batch(seq: u64, rows: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("id", DataType::Int64, false),
        ]));
        let ids: Vec<i64> = (0..rows).map(|r| (seq * 1000 + r as u64) as i64).collect();
        let ts: Vec<i64> = ids.iter().map(|i| i * 10).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                Arc::new(Int64Array::from(ids)),
            ],
        )
        .unwrap()
    }

    /// A log of `n` batches of `rows` rows each; returns every id in log order.
    fn log(dir: &Path, n: u64, rows: usize) -> Vec<i64> {
        let mut all = Vec::new();
        for seq in 0..n {
            let b = batch(seq, rows);
            crate::offline_log::write_batch(dir, SRC, seq, &b).unwrap();
            let ids = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            all.extend(ids.values().iter().copied());
        }
        all
    }

    /// What a reader sees: the ids of the files the rule says to read, in order. A file
    /// deleted between listing and opening (a compaction with no grace) means list again.
    fn reader_view(dir: &Path) -> Vec<i64> {
        'again: loop {
            let mut out = Vec::new();
            for name in tessera_core::log_files::live_files(file_names(dir).unwrap(), SRC) {
                let f = match std::fs::File::open(dir.join(&name)) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue 'again,
                    Err(e) => panic!("{name}: {e}"),
                };
                for b in ParquetRecordBatchReaderBuilder::try_new(f)
                    .unwrap()
                    .build()
                    .unwrap()
                {
                    let b = b.unwrap();
                    let ids = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
                    out.extend(ids.values().iter().copied());
                }
            }
            return out;
        }
    }

    fn settings(target_rows: usize, grace: Duration) -> CompactionSettings {
        CompactionSettings {
            min_files: 2,
            target_rows,
            grace,
        }
    }

    #[test]
    fn many_small_files_become_few_with_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let all = log(dir.path(), 200, 3);
        let before = file_names(dir.path()).unwrap().len();
        let r = compact_log(dir.path(), SRC, 150, &settings(100, Duration::ZERO)).unwrap();
        assert_eq!(r.merged_files, 150, "{r:?}");
        assert_eq!(r.rows, 450);
        assert_eq!(r.removed_files, 150);
        assert_eq!(
            reader_view(dir.path()),
            all,
            "same rows, same order, once each"
        );
        let after = file_names(dir.path()).unwrap();
        assert_eq!(after.len(), before - 150 + r.written_files);
        assert!(after.len() < 60, "{}", after.len());
        // Batches at or after the cut are not touched.
        for seq in 150..200 {
            assert!(crate::offline_log::part_path(dir.path(), SRC, seq).exists());
        }
        // Merged files grow further on the next run (a merged file absorbs its successors).
        let r2 = compact_log(dir.path(), SRC, 200, &settings(1000, Duration::ZERO)).unwrap();
        assert!(r2.written_files >= 1 && r2.live_files == 1, "{r2:?}");
        assert_eq!(reader_view(dir.path()), all);
        assert_eq!(file_names(dir.path()).unwrap().len(), 1);
        // Below `min_files`, nothing is merged.
        let none = compact_log(dir.path(), SRC, 200, &CompactionSettings::default()).unwrap();
        assert_eq!((none.written_files, none.removed_files), (0, 0));
    }

    #[test]
    fn a_crash_at_any_step_leaves_each_row_once() {
        for stop in [Step::Written, Step::Published] {
            let dir = tempfile::tempdir().unwrap();
            let all = log(dir.path(), 40, 2);
            let s = settings(20, Duration::ZERO);
            let r = compact_until(dir.path(), SRC, 40, &s, stop).unwrap();
            assert!(r.written_files >= 1, "{stop:?}: {r:?}");
            assert_eq!(
                reader_view(dir.path()),
                all,
                "{stop:?}: reader after the crash"
            );
            let names = file_names(dir.path()).unwrap();
            let tmp = names.iter().filter(|n| n.ends_with(".tmp")).count();
            assert_eq!(
                tmp,
                usize::from(stop == Step::Written),
                "{stop:?}: {names:?}"
            );
            // The next run (after the restart) finishes the job.
            compact_log(dir.path(), SRC, 40, &s).unwrap();
            assert_eq!(reader_view(dir.path()), all, "{stop:?}: after recovery");
            let names = file_names(dir.path()).unwrap();
            assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
            let (live, superseded) = classify(names, SRC);
            assert!(
                superseded.is_empty() && live.len() == 4,
                "{live:?} {superseded:?}"
            );
        }
    }

    #[test]
    fn superseded_files_stay_for_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let all = log(dir.path(), 30, 2);
        let r = compact_log(
            dir.path(),
            SRC,
            30,
            &settings(1000, Duration::from_secs(3600)),
        )
        .unwrap();
        assert_eq!((r.written_files, r.removed_files, r.kept_files), (1, 0, 30));
        assert_eq!(r.live_files, 1);
        assert_eq!(reader_view(dir.path()), all);
        // A reader that listed before the merge still finds every file it listed.
        for seq in 0..30 {
            assert!(crate::offline_log::part_path(dir.path(), SRC, seq).exists());
        }
        let r = compact_log(dir.path(), SRC, 30, &settings(1000, Duration::ZERO)).unwrap();
        assert_eq!((r.written_files, r.removed_files), (0, 30));
        assert_eq!(reader_view(dir.path()), all);
    }

    #[test]
    fn readers_during_compaction_see_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let all = log(dir.path(), 300, 2);
        let path = dir.path().to_path_buf();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, all, stop) = (path.clone(), all.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads < 20 {
                    assert_eq!(reader_view(&path), all, "read {reads}");
                    reads += 1;
                }
                reads
            })
        };
        for target in [4, 16, 64, 256, 100_000] {
            compact_log(&path, SRC, 300, &settings(target, Duration::ZERO)).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads = reader.join().unwrap();
        assert!(reads >= 20);
        assert_eq!(reader_view(&path), all);
        assert_eq!(file_names(&path).unwrap().len(), 1);
    }
}
