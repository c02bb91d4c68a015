//! The offline log of a stream source: every applied event is appended, as one Parquet file
//! per ingested batch, to the source's `path`, which backfills and training sets read like
//! any batch source. [`crate::log_compaction`] merges those files later; which files a
//! reader reads is [`tessera_core::log_files`]. Files are written to a temporary name and renamed into place, and are
//! named by the batch sequence (`part-<source>-<seq>.parquet`): a batch redone after a crash
//! replaces its own file, so the log never holds an event twice.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tessera_core::log_files::LogFile;
use tessera_core::values_to_array;

use crate::error::{BoxError, Error, Result};
use crate::events::{Events, SourceSchema};

/// Rows per row group of the log's Parquet files. Small enough that erasing one entity
/// rewrites only the groups that hold its rows and copies the rest byte for byte
/// ([`crate::log_rewrite`]), large enough that scans stay fast (32 Ki rows of a typical
/// event are ~1 MB before compression).
pub(crate) const LOG_ROW_GROUP_ROWS: usize = 32 * 1024;

/// How every file of the offline log is written: ZSTD, [`LOG_ROW_GROUP_ROWS`] per group.
pub(crate) fn log_writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(LOG_ROW_GROUP_ROWS))
        .build()
}

/// The file of batch `seq` of `source` under `dir`.
pub fn part_path(dir: &Path, source: &str, seq: u64) -> PathBuf {
    dir.join(LogFile::Batch { seq }.name(source))
}

/// The events as a record batch of the log's schema.
pub(crate) fn to_record_batch(schema: &SourceSchema, events: &Events) -> Result<RecordBatch> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.columns.len() + 1);
    arrays.push(Arc::new(
        TimestampMicrosecondArray::from(events.ts.clone()).with_timezone("UTC"),
    ));
    for (i, (_, ty)) in schema.columns.iter().enumerate() {
        let a = values_to_array(&events.cols[i], ty);
        let want = schema.arrow.field(i + 1).data_type();
        arrays.push(if a.data_type() == want {
            a
        } else {
            cast(&a, want)?
        });
    }
    Ok(RecordBatch::try_new(schema.arrow.clone(), arrays)?)
}

/// Writes a record batch of the log's schema as batch `seq` of `source`: to a temporary
/// file, synced, renamed into place, and the directory synced, so a committed batch's file
/// survives a crash. Returns the file.
pub(crate) fn write_batch(
    dir: &Path,
    source: &str,
    seq: u64,
    batch: &RecordBatch,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::log(dir, "creating the directory", e))?;
    let path = part_path(dir, source, seq);
    let tmp = dir.join(format!(".part-{source}-{seq:012}.parquet.tmp"));
    let props = log_writer_properties();
    {
        let write = |e: BoxError| Error::log(&tmp, "writing", e);
        let f = std::fs::File::create(&tmp).map_err(|e| write(e.into()))?;
        let mut w =
            ArrowWriter::try_new(f, batch.schema(), Some(props)).map_err(|e| write(e.into()))?;
        w.write(batch).map_err(|e| write(e.into()))?;
        let f = w.into_inner().map_err(|e| write(e.into()))?;
        f.sync_all().map_err(|e| write(e.into()))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| Error::log(&path, "renaming into place", e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::log(dir, "syncing the directory", e))?;
    Ok(path)
}

/// Reads the log files of batches `from..` of the source under `dir`, oldest first (for
/// replaying the batches committed after a snapshot). Merged files of batches before
/// `from` are skipped; the compactor never merges a batch at or after a snapshot, so a
/// merged file that spans `from` means the snapshot file was replaced, and is refused.
pub(crate) fn read_since(dir: &Path, schema: &SourceSchema, from: u64) -> Result<Vec<RecordBatch>> {
    with_retry(dir, |names| {
        let mut files = Vec::new();
        for name in tessera_core::log_files::live_files(names, &schema.name) {
            let Some(f) = LogFile::parse(&name, &schema.name) else {
                continue;
            };
            if f.first() >= from {
                files.push(dir.join(name));
            } else if f.last() >= from {
                return Err(Error::LogFile {
                    path: dir.join(name),
                    message: format!("this merged file holds batches {}..={} but the engine must replay from batch {from} (hint: the snapshot file .tessera/stream/snapshots.redb was replaced or lost; remove .tessera/stream/ to rebuild the states from the whole log)", f.first(), f.last()),
                });
            }
        }
        read_files(files.into_iter(), schema)
    })
}

/// The batch sequence of a log file name of `source` (batch files only).
pub(crate) fn log_seq(name: &str, source: &str) -> Option<u64> {
    match LogFile::parse(name, source)? {
        LogFile::Batch { seq } => Some(seq),
        LogFile::Merged { .. } => None,
    }
}

/// The last batch a log file of `source` holds (batch or merged file).
pub(crate) fn last_seq(name: &str, source: &str) -> Option<u64> {
    LogFile::parse(name, source).map(|f| f.last())
}

/// Reads every log file of the source under `dir` that a reader reads (merged files
/// instead of the files they cover; for rebuilding states), oldest first.
pub(crate) fn read_all(dir: &Path, schema: &SourceSchema) -> Result<Vec<RecordBatch>> {
    with_retry(dir, |names| {
        let files = tessera_core::log_files::live_files(names, &schema.name);
        read_files(files.into_iter().map(|n| dir.join(n)), schema)
    })
}

/// Lists `dir` and reads; when a listed file vanished meanwhile (a compaction deleted a
/// superseded file), lists again: the merged file that covers it is there by then.
fn with_retry(
    dir: &Path,
    read: impl Fn(Vec<String>) -> Result<Vec<RecordBatch>>,
) -> Result<Vec<RecordBatch>> {
    let mut attempt = 0;
    loop {
        let names = crate::log_compaction::file_names(dir)?;
        match read(names) {
            Err(Error::LogFile { message, .. }) if message.contains(VANISHED) && attempt < 3 => {
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The mark of an error opening a file that a concurrent compaction deleted.
const VANISHED: &str = "vanished from the log";

fn read_files(
    files: impl Iterator<Item = PathBuf>,
    schema: &SourceSchema,
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for p in files {
        let f = std::fs::File::open(&p).map_err(|e| Error::LogFile {
            path: p.clone(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                format!("{e}: {VANISHED}")
            } else {
                e.to_string()
            },
        })?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .and_then(|b| b.build())
            .map_err(|e| Error::log(&p, "reading", e))?;
        for b in reader {
            let b = b?;
            // Align to the declared schema by name.
            let cols = schema
                .arrow
                .fields()
                .iter()
                .map(|f| match b.column_by_name(f.name()) {
                    Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
                    Some(c) => Ok(cast(c, f.data_type())?),
                    None => Ok(arrow::array::new_null_array(f.data_type(), b.num_rows())),
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(RecordBatch::try_new(schema.arrow.clone(), cols)?);
        }
    }
    Ok(out)
}
