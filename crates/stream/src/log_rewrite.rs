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
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

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
    let (rows_before, dropped) = count_dropped(path, format, keep)?;
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
        Format::Parquet => write_parquet(path, &tmp, keep)?,
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

/// Rows in the file, and rows the predicate drops (reading only its columns).
fn count_dropped(path: &Path, format: Format, keep: &RowPredicate<'_>) -> Result<(u64, u64)> {
    let (mut rows, mut dropped) = (0u64, 0u64);
    let mut each = |b: RecordBatch| -> Result<()> {
        rows += b.num_rows() as u64;
        if keep.columns.iter().all(|c| b.column_by_name(c).is_some()) {
            let m = keep.mask(&b, path)?;
            dropped += (m.len() - m.true_count()) as u64;
        }
        Ok(())
    };
    match format {
        Format::Parquet => {
            let builder = parquet_reader(path)?;
            let schema = builder.parquet_schema();
            let wanted: Vec<usize> = builder
                .schema()
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| keep.columns.iter().any(|c| c == f.name()))
                .map(|(i, _)| i)
                .collect();
            let mask = ProjectionMask::roots(schema, wanted);
            let reader = builder
                .with_projection(mask)
                .build()
                .map_err(|e| Error::log(path, "reading", e))?;
            for b in reader {
                each(b?)?;
            }
        }
        Format::Csv => {
            for b in csv_reader(path)? {
                each(b?)?;
            }
        }
    }
    Ok((rows, dropped))
}

fn parquet_reader(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let f = File::open(path).map_err(|e| Error::log(path, "opening", e))?;
    ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| Error::log(path, "reading", e))
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
