//! Rewriting one data file without some of its rows: the primitive under erasure (drop
//! an entity's rows from the offline log and from external sources) and retention (drop
//! rows older than a source's `retention`).
//!
//! [`rewrite_keeping`] reads a Parquet or CSV file batch by batch, asks a predicate which
//! rows to keep, and — only when the predicate drops at least one row — writes the kept
//! rows to a hidden temporary file beside it (`.rewrite-<name>.tmp`, which no reader of
//! the log reads), `fsync`s it, renames it over the original and `fsync`s the directory.
//! A reader sees either the old file or the new one, never a half-written file; a crash
//! leaves the old file and a temporary file that the next rewrite of that file removes.
//!
//! Two passes: the first reads only the columns the predicate needs ([`RowPredicate`]'s
//! `columns`) and counts the rows it drops, so a file that keeps every row is never
//! rewritten (erasing one entity from a log of many files rewrites only the files that
//! hold it); the second reads the whole file and writes the kept rows.
//!
//! ```no_run
//! use arrow::array::{Array, BooleanArray, Int64Array};
//! use tessera_stream::log_rewrite::{rewrite_keeping, RewriteOptions, RowPredicate};
//! # fn main() -> tessera_stream::Result<()> {
//! // Keep every row whose `user_id` is not 42 (nulls are kept too).
//! let keep = RowPredicate::new(vec!["user_id".into()], |batch| {
//!     let ids = batch.column_by_name("user_id").expect("projected");
//!     let ids = ids.as_any().downcast_ref::<Int64Array>().expect("an Int64 column");
//!     Ok(ids.iter().map(|v| Some(v != Some(42))).collect::<BooleanArray>())
//! });
//! let report = rewrite_keeping("log/part-plays-000000000007.parquet".as_ref(), &keep, &RewriteOptions::default())?;
//! println!("{} of {} rows removed", report.rows_removed(), report.rows_before);
//! # Ok(()) }
//! ```
//!
//! A mask value of null means **keep** (a rewrite never drops a row the predicate did not
//! decide on). Values are preserved as read: CSV files are read with every column as text,
//! so `0042` stays `0042`; Parquet files keep their Arrow schema and are written with ZSTD.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowRowGroupWriterFactory};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;

use crate::error::{BoxError, Error, Result};

/// The predicate of a rewrite: which rows of a batch to keep.
pub struct RowPredicate<'a> {
    columns: Vec<String>,
    #[allow(clippy::type_complexity)]
    keep: Box<dyn Fn(&RecordBatch) -> Result<BooleanArray> + Send + Sync + 'a>,
}

impl std::fmt::Debug for RowPredicate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowPredicate")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl<'a> RowPredicate<'a> {
    /// A predicate that reads the named `columns` (the batch it is given holds at least
    /// those, by name; a file without one of them keeps every row) and returns, for each
    /// row, whether to keep it (`true` or null: keep; `false`: drop).
    pub fn new(
        columns: Vec<String>,
        keep: impl Fn(&RecordBatch) -> Result<BooleanArray> + Send + Sync + 'a,
    ) -> Self {
        Self {
            columns,
            keep: Box::new(keep),
        }
    }

    /// The columns the predicate reads.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The mask of rows to keep, nulls made `true`; checked to have one value per row.
    pub(crate) fn mask(&self, batch: &RecordBatch, path: &Path) -> Result<BooleanArray> {
        let m = (self.keep)(batch)?;
        if m.len() != batch.num_rows() {
            return Err(Error::LogFile {
                path: path.to_path_buf(),
                message: format!(
                    "internal error: a rewrite predicate returned {} values for {} rows",
                    m.len(),
                    batch.num_rows()
                ),
            });
        }
        Ok(if m.null_count() == 0 {
            m
        } else {
            m.iter().map(|v| Some(v.unwrap_or(true))).collect()
        })
    }
}

/// How [`rewrite_keeping`] treats a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewriteOptions {
    /// Delete the file when no row is kept (retention dropping a whole old file), instead
    /// of writing a file of zero rows. Leave it `false` for a compacted offline log whose
    /// superseded files may still exist: deleting a merged file would bring them back.
    pub remove_when_empty: bool,
}

/// What happened to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteOutcome {
    /// Every row was kept: the file was not touched.
    Unchanged,
    /// The file was replaced by one holding only the kept rows.
    Rewritten,
    /// No row was kept and [`RewriteOptions::remove_when_empty`] asked to delete it.
    Removed,
}

/// What one rewrite did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteReport {
    /// The file.
    pub path: PathBuf,
    /// Rows before.
    pub rows_before: u64,
    /// Rows kept.
    pub rows_kept: u64,
    /// What happened to the file.
    pub outcome: RewriteOutcome,
}

impl RewriteReport {
    /// Rows the predicate dropped.
    pub fn rows_removed(&self) -> u64 {
        self.rows_before - self.rows_kept
    }
}

/// The formats [`rewrite_keeping`] reads, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Parquet,
    Csv,
}

fn format_of(path: &Path) -> Result<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("parquet") => Ok(Format::Parquet),
        Some(e) if e.eq_ignore_ascii_case("csv") => Ok(Format::Csv),
        _ => Err(Error::LogFile {
            path: path.to_path_buf(),
            message: "only Parquet (`.parquet`) and CSV (`.csv`) files can be rewritten".into(),
        }),
    }
}

/// Rewrites the Parquet or CSV file at `path` keeping only the rows `keep` keeps,
/// atomically (see the module docs). A file the predicate keeps whole is not touched.
pub fn rewrite_keeping(
    path: &Path,
    keep: &RowPredicate<'_>,
    options: &RewriteOptions,
) -> Result<RewriteReport> {
    let format = format_of(path)?;
    let tmp = temp_path(path)?;
    // A temporary file of an earlier rewrite that died before its rename.
    if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(|e| Error::log(&tmp, "removing", e))?;
    }
    let (rows_before, dropped, per_group) = count_dropped(path, format, keep)?;
    let mut report = RewriteReport {
        path: path.to_path_buf(),
        rows_before,
        rows_kept: rows_before - dropped,
        outcome: RewriteOutcome::Unchanged,
    };
    if dropped == 0 {
        return Ok(report);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    if report.rows_kept == 0 && options.remove_when_empty {
        std::fs::remove_file(path).map_err(|e| Error::log(path, "removing", e))?;
        sync_dir(dir)?;
        report.outcome = RewriteOutcome::Removed;
        return Ok(report);
    }
    let kept = match format {
        Format::Parquet => match write_parquet_by_group(path, &tmp, keep, &per_group) {
            Ok(kept) => kept,
            // Should a group fail to copy or encode (a Parquet type the Arrow writer does
            // not map back onto the file's own schema), decode and re-encode the whole
            // file the plain way; a failure there is reported.
            Err(_) => {
                let _ = std::fs::remove_file(&tmp);
                write_parquet(path, &tmp, keep)?
            }
        },
        Format::Csv => write_csv(path, &tmp, keep)?,
    };
    if kept != report.rows_kept {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::LogFile {
            path: path.to_path_buf(),
            message: format!("the file changed during its rewrite ({} rows kept on the first pass, {kept} on the second); nothing was replaced (hint: run it again)", report.rows_kept),
        });
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::log(path, "renaming into place", e))?;
    sync_dir(dir)?;
    report.outcome = RewriteOutcome::Rewritten;
    Ok(report)
}

/// [`rewrite_keeping`] over many files, on up to `threads` threads (0: as many as the
/// machine has cores, at most 4). The files are independent, each replaced atomically on
/// its own, so a crash midway leaves every file either old or new, and a second run
/// finishes the job. Reports come in the order of `files`; after the first error no
/// further file is started and that error is returned.
pub fn rewrite_files_keeping(
    files: &[PathBuf],
    keep: &RowPredicate<'_>,
    options: &RewriteOptions,
    threads: usize,
) -> Result<Vec<RewriteReport>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        n => n,
    }
    .min(files.len())
    .max(1);
    if threads == 1 {
        return files
            .iter()
            .map(|f| rewrite_keeping(f, keep, options))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut results: Vec<Option<Result<RewriteReport>>> = (0..files.len()).map(|_| None).collect();
    let done = std::sync::Mutex::new(&mut results);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = files.get(i) else { break };
                let r = rewrite_keeping(f, keep, options);
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                if let Ok(mut d) = done.lock() {
                    d[i] = Some(r);
                }
            });
        }
    });
    let mut out = Vec::with_capacity(files.len());
    for r in results.into_iter().flatten() {
        out.push(r?);
    }
    Ok(out)
}

/// The hidden temporary file beside `path`.
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::LogFile {
            path: path.to_path_buf(),
            message: "not a file name".into(),
        })?;
    Ok(path.with_file_name(format!(".rewrite-{name}.tmp")))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::log(dir, "syncing the directory", e))
}

/// Rows in the file, rows the predicate drops (reading only its columns), and for a
/// Parquet file the rows dropped in each row group (empty for CSV).
fn count_dropped(
    path: &Path,
    format: Format,
    keep: &RowPredicate<'_>,
) -> Result<(u64, u64, Vec<u64>)> {
    let (mut rows, mut dropped) = (0u64, 0u64);
    let mut each = |b: RecordBatch| -> Result<u64> {
        rows += b.num_rows() as u64;
        if keep.columns.iter().all(|c| b.column_by_name(c).is_some()) {
            let m = keep.mask(&b, path)?;
            let d = (m.len() - m.true_count()) as u64;
            dropped += d;
            return Ok(d);
        }
        Ok(0)
    };
    let mut per_group = Vec::new();
    match format {
        Format::Parquet => {
            let (file, meta) = parquet_metadata(path, false)?;
            let wanted: Vec<usize> = meta
                .schema()
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| keep.columns.iter().any(|c| c == f.name()))
                .map(|(i, _)| i)
                .collect();
            // Row group by row group (a batch never spans two), so that the rewrite can
            // copy the groups that keep every row without decoding them.
            for group in 0..meta.metadata().num_row_groups() {
                let mask = ProjectionMask::roots(meta.parquet_schema(), wanted.clone());
                let input = file
                    .try_clone()
                    .map_err(|e| Error::log(path, "opening", e))?;
                let reader =
                    ParquetRecordBatchReaderBuilder::new_with_metadata(input, meta.clone())
                        .with_row_groups(vec![group])
                        .with_projection(mask)
                        .build()
                        .map_err(|e| Error::log(path, "reading", e))?;
                let mut d = 0u64;
                for b in reader {
                    d += each(b?)?;
                }
                per_group.push(d);
            }
        }
        Format::Csv => {
            for b in csv_reader(path)? {
                each(b?)?;
            }
        }
    }
    Ok((rows, dropped, per_group))
}

/// The open file and its Arrow reader metadata (footer parsed once; with its page
/// indexes, where it has them, when `page_index`).
fn parquet_metadata(path: &Path, page_index: bool) -> Result<(File, ArrowReaderMetadata)> {
    let f = File::open(path).map_err(|e| Error::log(path, "opening", e))?;
    let policy = if page_index {
        PageIndexPolicy::Optional
    } else {
        PageIndexPolicy::Skip
    };
    let options = ArrowReaderOptions::new().with_page_index_policy(policy);
    let meta =
        ArrowReaderMetadata::load(&f, options).map_err(|e| Error::log(path, "reading", e))?;
    Ok((f, meta))
}

fn parquet_reader(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let f = File::open(path).map_err(|e| Error::log(path, "opening", e))?;
    ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| Error::log(path, "reading", e))
}

/// Writes the kept rows of the Parquet file `path` to `tmp`, synced, row group by row
/// group: a group that keeps every row (`dropped[g] == 0`) is copied byte for byte (its
/// column chunks spliced in undecoded), a group that keeps none is left out, and only the
/// groups that lose some rows are decoded, filtered and encoded again. Erasing one entity
/// from a large log file so costs the groups that hold it, not the whole file. Returns how
/// many rows were kept.
fn write_parquet_by_group(
    path: &Path,
    tmp: &Path,
    keep: &RowPredicate<'_>,
    dropped: &[u64],
) -> Result<u64> {
    let (file, meta) = parquet_metadata(path, true)?;
    let source = meta.metadata().clone();
    let schema = meta.schema().clone();
    // Copied groups carry their page indexes along; groups encoded again get theirs from
    // the writer. A file without page indexes gets none in any group (one file may not
    // mix groups with and without an offset index).
    let (column_indexes, offset_indexes) = (source.column_index(), source.offset_index());
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(source.file_metadata().key_value_metadata().cloned());
    if offset_indexes.is_none() {
        props = props
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_offset_index_disabled(true);
    }
    let props = Arc::new(props.build());
    let write = |e: parquet::errors::ParquetError| Error::log(tmp, "writing", e);
    let out = File::create(tmp).map_err(|e| Error::log(tmp, "writing", e))?;
    // The source's own Parquet schema, so that its column chunks fit as they are.
    let mut w = SerializedFileWriter::new(
        out,
        source.file_metadata().schema_descr().root_schema_ptr(),
        props,
    )
    .map_err(write)?;
    let factory = ArrowRowGroupWriterFactory::new(&w, schema.clone());
    let mut kept = 0u64;
    let mut written_groups = 0usize;
    for (g, group) in source.row_groups().iter().enumerate() {
        let rows = group.num_rows().max(0) as u64;
        let drop = dropped.get(g).copied().unwrap_or(rows);
        if drop >= rows && rows > 0 {
            continue;
        }
        if drop == 0 {
            let mut rg = w.next_row_group().map_err(write)?;
            for (c, column) in group.columns().iter().enumerate() {
                let chunk = ColumnCloseResult {
                    bytes_written: column.compressed_size().max(0) as u64,
                    rows_written: rows,
                    metadata: column.clone(),
                    bloom_filter: None,
                    column_index: column_indexes
                        .and_then(|i| i.get(g))
                        .and_then(|i| i.get(c))
                        .cloned(),
                    offset_index: offset_indexes
                        .and_then(|i| i.get(g))
                        .and_then(|i| i.get(c))
                        .cloned(),
                };
                rg.append_column(&file, chunk).map_err(write)?;
            }
            rg.close().map_err(write)?;
            kept += rows;
            written_groups += 1;
            continue;
        }
        let input = file
            .try_clone()
            .map_err(|e| Error::log(path, "opening", e))?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(input, meta.clone())
            .with_row_groups(vec![g])
            .build()
            .map_err(|e| Error::log(path, "reading", e))?;
        let mut writers = factory
            .create_column_writers(written_groups)
            .map_err(write)?;
        let mut group_rows = 0u64;
        for b in reader {
            let b = b?;
            let m = keep.mask(&b, path)?;
            let b = filter_record_batch(&b, &m)?;
            group_rows += b.num_rows() as u64;
            let mut leaves = writers.iter_mut();
            for (array, field) in b.columns().iter().zip(schema.fields()) {
                for leaf in compute_leaves(field, array).map_err(write)? {
                    let Some(col) = leaves.next() else {
                        return Err(Error::log(
                            tmp,
                            "writing",
                            "internal error: more leaf columns than column writers",
                        ));
                    };
                    col.write(&leaf).map_err(write)?;
                }
            }
        }
        if group_rows == 0 {
            continue;
        }
        let mut rg = w.next_row_group().map_err(write)?;
        for col in writers {
            col.close()
                .map_err(write)?
                .append_to_row_group(&mut rg)
                .map_err(write)?;
        }
        rg.close().map_err(write)?;
        kept += group_rows;
        written_groups += 1;
    }
    let out = w.into_inner().map_err(write)?;
    out.sync_all().map_err(|e| Error::log(tmp, "writing", e))?;
    Ok(kept)
}

/// Writes the kept rows of the Parquet file `path` to `tmp`, synced; returns how many.
fn write_parquet(path: &Path, tmp: &Path, keep: &RowPredicate<'_>) -> Result<u64> {
    let builder = parquet_reader(path)?;
    let schema = builder.schema().clone();
    let reader = builder
        .build()
        .map_err(|e| Error::log(path, "reading", e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let write = |e: BoxError| Error::log(tmp, "writing", e);
    let f = File::create(tmp).map_err(|e| write(e.into()))?;
    let mut w = ArrowWriter::try_new(f, schema, Some(props)).map_err(|e| write(e.into()))?;
    let mut kept = 0u64;
    for b in reader {
        let b = b?;
        let m = keep.mask(&b, path)?;
        let out = filter_record_batch(&b, &m)?;
        kept += out.num_rows() as u64;
        if out.num_rows() > 0 {
            w.write(&out).map_err(|e| write(e.into()))?;
        }
    }
    let f = w.into_inner().map_err(|e| write(e.into()))?;
    f.sync_all().map_err(|e| write(e.into()))?;
    Ok(kept)
}

/// The header of a CSV file, every column as nullable text.
fn csv_schema(path: &Path) -> Result<SchemaRef> {
    let f = File::open(path).map_err(|e| Error::log(path, "opening", e))?;
    let (inferred, _) = arrow::csv::reader::Format::default()
        .with_header(true)
        .infer_schema(f, Some(0))?;
    Ok(Arc::new(Schema::new(
        inferred
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    )))
}

fn csv_reader(path: &Path) -> Result<arrow::csv::Reader<File>> {
    let schema = csv_schema(path)?;
    let f = File::open(path).map_err(|e| Error::log(path, "opening", e))?;
    Ok(arrow::csv::ReaderBuilder::new(schema)
        .with_header(true)
        .build(f)?)
}

/// Writes the kept rows of the CSV file `path` to `tmp` (header first), synced.
fn write_csv(path: &Path, tmp: &Path, keep: &RowPredicate<'_>) -> Result<u64> {
    let write = |e: BoxError| Error::log(tmp, "writing", e);
    let f = File::create(tmp).map_err(|e| write(e.into()))?;
    let mut w = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(std::io::BufWriter::new(f));
    let mut kept = 0u64;
    let mut wrote_any = false;
    let schema = csv_schema(path)?;
    for b in csv_reader(path)? {
        let b = b?;
        let m = keep.mask(&b, path)?;
        let out = filter_record_batch(&b, &m)?;
        kept += out.num_rows() as u64;
        if out.num_rows() > 0 || !wrote_any {
            w.write(&out)?;
            wrote_any = true;
        }
    }
    if !wrote_any {
        w.write(&RecordBatch::new_empty(schema))?;
    }
    let f = w
        .into_inner()
        .into_inner()
        .map_err(|e| write(Box::new(e.into_error())))?;
    f.sync_all().map_err(|e| write(e.into()))?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn user_not(id: &'static str) -> RowPredicate<'static> {
        RowPredicate::new(vec!["user_id".into()], move |b| {
            let c = b.column_by_name("user_id").expect("projected");
            let c = arrow::compute::cast(c, &DataType::Utf8)?;
            let s = c.as_any().downcast_ref::<StringArray>().expect("text");
            Ok(s.iter().map(|v| v.map(|v| v != id)).collect())
        })
    }

    fn parquet_file(dir: &Path) -> PathBuf {
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, true),
            Field::new("plays", DataType::Int64, false),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("u1"),
                    Some("secret-user"),
                    None,
                    Some("u3"),
                ])),
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            ],
        )
        .unwrap();
        let p = dir.join("part-plays-000000000001.parquet");
        let mut w = ArrowWriter::try_new(File::create(&p).unwrap(), schema, None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
        p
    }

    fn holds(p: &Path, needle: &str) -> bool {
        let bytes = std::fs::read(p).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[test]
    fn parquet_rows_are_dropped_and_the_bytes_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let p = parquet_file(dir.path());
        assert!(holds(&p, "secret-user"));
        let r = rewrite_keeping(&p, &user_not("secret-user"), &RewriteOptions::default()).unwrap();
        assert_eq!((r.rows_before, r.rows_kept), (4, 3));
        assert_eq!(r.outcome, RewriteOutcome::Rewritten);
        assert!(!holds(&p, "secret-user"), "the value is gone from the file");
        let rows: Vec<i64> = parquet_reader(&p)
            .unwrap()
            .build()
            .unwrap()
            .flat_map(|b| {
                let b = b.unwrap();
                let c = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
                c.values().to_vec()
            })
            .collect();
        assert_eq!(rows, vec![1, 3, 4], "null keys are kept, order too");
        // Idempotent: a second run touches nothing.
        let again =
            rewrite_keeping(&p, &user_not("secret-user"), &RewriteOptions::default()).unwrap();
        assert_eq!(again.outcome, RewriteOutcome::Unchanged);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    /// A file of `groups` row groups of 3 rows each: user ids `u<g>-<i>`, a UTC timestamp.
    fn grouped_file(dir: &Path, groups: usize, page_index: bool) -> PathBuf {
        use arrow::array::TimestampMicrosecondArray;
        use arrow::datatypes::TimeUnit;
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ]));
        let p = dir.join("part-plays-000000000002.parquet");
        let mut props = WriterProperties::builder().set_max_row_group_row_count(Some(3));
        if !page_index {
            props = props
                .set_statistics_enabled(EnabledStatistics::Chunk)
                .set_offset_index_disabled(true);
        }
        let props = props.build();
        let mut w =
            ArrowWriter::try_new(File::create(&p).unwrap(), schema.clone(), Some(props)).unwrap();
        for g in 0..groups {
            let ids: Vec<String> = (0..3).map(|i| format!("u{g}-{i}")).collect();
            let ts: Vec<i64> = (0..3).map(|i| (g * 3 + i) as i64).collect();
            let b = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(ids)),
                    Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                ],
            )
            .unwrap();
            w.write(&b).unwrap();
            w.flush().unwrap();
        }
        w.close().unwrap();
        p
    }

    fn read_all(p: &Path) -> (SchemaRef, Vec<String>, usize) {
        let b = parquet_reader(p).unwrap();
        let groups = b.metadata().num_row_groups();
        let schema = b.schema().clone();
        let ids = b
            .build()
            .unwrap()
            .flat_map(|b| {
                let b = b.unwrap();
                let c = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                c.iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>()
            })
            .collect();
        (schema, ids, groups)
    }

    #[test]
    fn only_the_row_groups_that_lose_rows_are_reencoded() {
        for page_index in [true, false] {
            only_the_changed_groups(page_index);
        }
    }

    fn only_the_changed_groups(page_index: bool) {
        let dir = tempfile::tempdir().unwrap();
        let p = grouped_file(dir.path(), 4, page_index);
        let (schema, before, groups) = read_all(&p);
        assert_eq!(groups, 4);
        // Drop one row of group 1 and all of group 3.
        let keep = RowPredicate::new(vec!["user_id".into()], |b| {
            let c = b.column_by_name("user_id").expect("projected");
            let s = c.as_any().downcast_ref::<StringArray>().expect("text");
            Ok(s.iter()
                .map(|v| v.map(|v| v != "u1-1" && !v.starts_with("u3-")))
                .collect())
        });
        let r = rewrite_keeping(&p, &keep, &RewriteOptions::default()).unwrap();
        assert_eq!((r.rows_before, r.rows_kept), (12, 8));
        let (schema_after, after, groups_after) = read_all(&p);
        assert_eq!(
            schema_after, schema,
            "the Arrow schema (time zone too) is kept"
        );
        assert_eq!(groups_after, 3, "the emptied group is left out");
        let expected: Vec<String> = before
            .into_iter()
            .filter(|v| v != "u1-1" && !v.starts_with("u3-"))
            .collect();
        assert_eq!(after, expected);
        assert!(!holds(&p, "u1-1") && !holds(&p, "u3-0"));
    }

    #[test]
    fn many_files_are_rewritten_on_several_threads_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for i in 0..5 {
            let sub = dir.path().join(format!("d{i}"));
            std::fs::create_dir(&sub).unwrap();
            files.push(parquet_file(&sub));
        }
        let reports = rewrite_files_keeping(
            &files,
            &user_not("secret-user"),
            &RewriteOptions::default(),
            3,
        )
        .unwrap();
        assert_eq!(reports.len(), 5);
        for (r, f) in reports.iter().zip(&files) {
            assert_eq!(&r.path, f);
            assert_eq!(r.rows_removed(), 1);
            assert!(!holds(f, "secret-user"));
        }
        // A missing file is an error, and it is the one reported.
        let missing = vec![files[0].clone(), dir.path().join("gone.parquet")];
        let err = rewrite_files_keeping(&missing, &user_not("x"), &RewriteOptions::default(), 2)
            .unwrap_err();
        assert!(err.to_string().contains("gone.parquet"), "{err}");
    }

    #[test]
    fn an_emptied_file_is_kept_empty_or_removed_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let p = parquet_file(dir.path());
        let none = RowPredicate::new(vec!["plays".into()], |b| {
            Ok(BooleanArray::from(vec![false; b.num_rows()]))
        });
        let r = rewrite_keeping(&p, &none, &RewriteOptions::default()).unwrap();
        assert_eq!((r.rows_kept, r.outcome), (0, RewriteOutcome::Rewritten));
        assert!(p.exists());
        let p = parquet_file(dir.path());
        let opts = RewriteOptions {
            remove_when_empty: true,
        };
        let r = rewrite_keeping(&p, &none, &opts).unwrap();
        assert_eq!(r.outcome, RewriteOutcome::Removed);
        assert!(!p.exists());
    }

    #[test]
    fn csv_text_is_preserved_and_the_rows_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.csv");
        std::fs::write(
            &p,
            "user_id,country,ts\n0042,GB,2026-01-01T00:00:00Z\nsecret-user,FR,2026-01-02T00:00:00Z\n7,,2026-01-03T00:00:00Z\n",
        )
        .unwrap();
        let r = rewrite_keeping(&p, &user_not("secret-user"), &RewriteOptions::default()).unwrap();
        assert_eq!((r.rows_before, r.rows_kept), (3, 2));
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "user_id,country,ts\n0042,GB,2026-01-01T00:00:00Z\n7,,2026-01-03T00:00:00Z\n"
        );
    }

    #[test]
    fn a_file_without_the_predicate_columns_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = parquet_file(dir.path());
        let before = std::fs::read(&p).unwrap();
        let other = RowPredicate::new(vec!["item_id".into()], |b| {
            Ok(BooleanArray::from(vec![false; b.num_rows()]))
        });
        let r = rewrite_keeping(&p, &other, &RewriteOptions::default()).unwrap();
        assert_eq!(r.outcome, RewriteOutcome::Unchanged);
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }
}
