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
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
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
    Error::Log {
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
            if stop < Step::Done {
                return Ok(report);
            }
        }
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
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
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
    for source in catalog.sources.values().filter(|s| s.stream.is_some()) {
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
