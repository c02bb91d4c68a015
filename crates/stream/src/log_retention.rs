//! Retention of a stream source's offline log: files wholly older than the cutoff are
//! deleted, files partly older are rewritten without the old rows, files wholly newer are
//! left alone.
//!
//! Which case a file is in is read from its Parquet footer (the event-time column's
//! min/max statistics, which the log's writer always records), so a pass reads only the
//! files that straddle the cutoff — at most a few per source, since the log is written in
//! event-time order. A rewrite is [`crate::log_rewrite::rewrite_keeping`] (the primitive
//! erasure uses too): a hidden temporary file (which no reader reads), synced, renamed over
//! the original (readers see the old file or the new one, never a mix), directory synced.
//!
//! Every log file of the source is handled, superseded ones included (they still hold
//! bytes until the compactor deletes them) and first, so that a merged file is never
//! deleted while files it covers are still there. A compaction that read a file before a rewrite
//! may publish the old rows again in its merged file; the next pass removes them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use tessera_core::log_files::LogFile;

use crate::error::{BoxError, Error, Result};
use crate::log_rewrite::{rewrite_files_keeping, RewriteOptions, RewriteReport, RowPredicate};

/// What one retention pass over a source's log did (or, without `drop`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRetentionReport {
    /// The source.
    pub source: String,
    /// Log files looked at.
    pub files: usize,
    /// Files deleted: every row older than the cutoff.
    pub dropped_files: usize,
    /// Files rewritten without their older rows.
    pub rewritten_files: usize,
    /// Rows removed (in dropped and rewritten files).
    pub removed_rows: u64,
    /// Bytes of the files deleted or rewritten, before.
    pub removed_bytes: u64,
}

/// Applies retention to the offline log of `source` in `dir`: removes every row whose event
/// time (column `ts_column`) is before `cutoff_us` (µs since the epoch). With `drop` false,
/// only counts.
pub fn apply_log_retention(
    dir: &Path,
    source: &str,
    ts_column: &str,
    cutoff_us: i64,
    drop: bool,
) -> Result<LogRetentionReport> {
    let mut report = LogRetentionReport {
        source: source.to_string(),
        ..Default::default()
    };
    let mut names = crate::log_compaction::file_names(dir)?;
    names.retain(|n| LogFile::parse(n, source).is_some());
    // Superseded files first: deleting a merged file while the files it covers are still
    // there would make readers read those again.
    let live: std::collections::HashSet<String> =
        tessera_core::log_files::live_files(names.clone(), source)
            .into_iter()
            .collect();
    names.sort_by_key(|n| (live.contains(n), n.clone()));
    // Superseded files, then live ones; within each group the files that straddle the
    // cutoff are rewritten together, on every core.
    let (superseded, live_names): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| !live.contains(n));
    for group in [superseded, live_names] {
        let mut straddling = Vec::new();
        for name in group {
            let path = dir.join(&name);
            report.files += 1;
            let Some(meta) = footer(&path)? else {
                continue; // vanished meanwhile (a compaction deleted a superseded file)
            };
            let rows = u64::try_from(meta.file_metadata().num_rows()).unwrap_or(0);
            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            match time_range(&meta, ts_column) {
                Some((_, max)) if max < cutoff_us => {
                    report.dropped_files += 1;
                    report.removed_rows += rows;
                    report.removed_bytes += bytes;
                    if drop {
                        remove(&path)?;
                    }
                }
                Some((min, _)) if min >= cutoff_us => {}
                _ if drop => straddling.push((path, bytes)),
                _ => {
                    let removed = count_removed(&path, ts_column, cutoff_us)?;
                    if removed > 0 {
                        report.rewritten_files += 1;
                        report.removed_rows += removed;
                        report.removed_bytes += bytes;
                    }
                }
            }
        }
        let paths: Vec<PathBuf> = straddling.iter().map(|(p, _)| p.clone()).collect();
        for (r, (_, bytes)) in rewrite_older(&paths, ts_column, cutoff_us)?
            .into_iter()
            .zip(&straddling)
        {
            if r.rows_removed() > 0 {
                report.rewritten_files += 1;
                report.removed_rows += r.rows_removed();
                report.removed_bytes += bytes;
            }
        }
    }
    if drop && (report.dropped_files + report.rewritten_files) > 0 {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::log(dir, "syncing the directory", e))?;
    }
    Ok(report)
}

fn footer(path: &Path) -> Result<Option<Arc<ParquetMetaData>>> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::log(path, "opening", e)),
    };
    let b = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| Error::log(path, "reading the footer of", e))?;
    Ok(Some(b.metadata().clone()))
}

/// The (min, max) event time of a file from its row groups' statistics; `None` when a
/// row group has none (then the file is read).
fn time_range(meta: &ParquetMetaData, ts_column: &str) -> Option<(i64, i64)> {
    let schema = meta.file_metadata().schema_descr();
    let idx = (0..schema.num_columns()).find(|&i| schema.column(i).name() == ts_column)?;
    let mut range: Option<(i64, i64)> = None;
    for rg in meta.row_groups() {
        if rg.num_rows() == 0 {
            continue;
        }
        let Some(Statistics::Int64(s)) = rg.column(idx).statistics() else {
            return None;
        };
        if s.null_count_opt().unwrap_or(1) != 0 {
            return None; // nulls: decide row by row
        }
        let (lo, hi) = (*s.min_opt()?, *s.max_opt()?);
        range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
    }
    range
}

/// Rewrites `paths` keeping the rows at or after the cutoff (rows with no event time are
/// kept), with [`crate::log_rewrite::rewrite_files_keeping`] (on every core); deletes a
/// file when none is left.
fn rewrite_older(paths: &[PathBuf], ts_column: &str, cutoff_us: i64) -> Result<Vec<RewriteReport>> {
    let keep = RowPredicate::new(vec![ts_column.to_string()], |b| {
        Ok(keep_mask(b, ts_column, cutoff_us)
            .unwrap_or_else(|| BooleanArray::from(vec![true; b.num_rows()])))
    });
    let options = RewriteOptions {
        remove_when_empty: true,
    };
    rewrite_files_keeping(paths, &keep, &options, 0)
}

/// The rows of `path` before the cutoff, reading the event-time column alone.
fn count_removed(path: &Path, ts_column: &str, cutoff_us: i64) -> Result<u64> {
    let read = |e: BoxError| Error::log(path, "reading", e);
    let f = std::fs::File::open(path).map_err(|e| read(e.into()))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| read(e.into()))?;
    let schema = b.parquet_schema();
    let Some(idx) = (0..schema.num_columns()).find(|&i| schema.column(i).name() == ts_column)
    else {
        return Ok(0);
    };
    let mask = ProjectionMask::leaves(schema, [idx]);
    let mut removed = 0u64;
    for batch in b
        .with_projection(mask)
        .build()
        .map_err(|e| read(e.into()))?
    {
        let batch = batch.map_err(|e| read(e.into()))?;
        if let Some(m) = keep_mask(&batch, ts_column, cutoff_us) {
            removed += m.iter().filter(|v| *v == Some(false)).count() as u64;
        }
    }
    Ok(removed)
}

/// Which rows of `b` to keep: event time at or after the cutoff, or none.
fn keep_mask(b: &RecordBatch, ts_column: &str, cutoff_us: i64) -> Option<BooleanArray> {
    let ts = b
        .column_by_name(ts_column)?
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()?;
    Some(
        (0..ts.len())
            .map(|i| Some(ts.is_null(i) || ts.value(i) >= cutoff_us))
            .collect(),
    )
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::log(path, "deleting", e)),
    }
}
