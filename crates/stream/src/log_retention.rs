//! Retention of a stream source's offline log: files wholly older than the cutoff are
//! deleted, files partly older are rewritten without the old rows, files wholly newer are
//! left alone.
//!
//! Which case a file is in is read from its Parquet footer (the event-time column's
//! min/max statistics, which the log's writer always records), so a pass reads only the
//! files that straddle the cutoff — at most a few per source, since the log is written in
//! event-time order. A rewrite goes to a hidden temporary file (which no reader reads),
//! is synced, renamed over the original (readers see the old file or the new one, never a
//! mix) and the directory is synced, as the compactor does ([`crate::log_compaction`]).
//!
//! Every log file of the source is handled, superseded ones included (they still hold
//! bytes until the compactor deletes them). A compaction that read a file before a rewrite
//! may publish the old rows again in its merged file; the next pass removes them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, TimestampMicrosecondArray};
use arrow::compute::filter_record_batch;
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use tessera_core::log_files::LogFile;

use crate::error::{BoxError, Error, Result};

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
    names.sort();
    for name in names {
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
            _ => {
                let removed = rewrite(&path, ts_column, cutoff_us, drop)?;
                if removed > 0 {
                    report.rewritten_files += 1;
                    report.removed_rows += removed;
                    report.removed_bytes += bytes;
                }
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

/// Rewrites `path` keeping the rows at or after the cutoff (rows with no event time are
/// kept); deletes it when none is left. Returns the rows removed.
fn rewrite(path: &Path, ts_column: &str, cutoff_us: i64, drop: bool) -> Result<u64> {
    let read = |e: BoxError| Error::log(path, "reading", e);
    let f = std::fs::File::open(path).map_err(|e| read(e.into()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.build())
        .map_err(|e| read(e.into()))?;
    let schema = reader.schema();
    let mut kept: Vec<RecordBatch> = Vec::new();
    let mut removed = 0u64;
    for b in reader {
        let b = b.map_err(|e| read(e.into()))?;
        let keep = keep_mask(&b, ts_column, cutoff_us);
        let Some(keep) = keep else {
            kept.push(b); // no timestamp column of the log's type: left as is
            continue;
        };
        let out = filter_record_batch(&b, &keep)?;
        removed += (b.num_rows() - out.num_rows()) as u64;
        if out.num_rows() > 0 {
            kept.push(out);
        }
    }
    if removed == 0 || !drop {
        return Ok(removed);
    }
    if kept.is_empty() {
        remove(path)?;
        return Ok(removed);
    }
    let tmp = temp_path(path);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    {
        let write = |e: BoxError| Error::log(&tmp, "writing", e);
        let f = std::fs::File::create(&tmp).map_err(|e| write(e.into()))?;
        let mut w = ArrowWriter::try_new(f, schema, Some(props)).map_err(|e| write(e.into()))?;
        for b in &kept {
            w.write(b).map_err(|e| write(e.into()))?;
        }
        let f = w.into_inner().map_err(|e| write(e.into()))?;
        f.sync_all().map_err(|e| write(e.into()))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::log(path, "renaming into place", e))?;
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

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".retention-{name}.tmp"))
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::log(path, "deleting", e)),
    }
}
