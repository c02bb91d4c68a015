//! The offline log of a stream source: every applied event is appended, as one Parquet file
//! per ingested batch, to the source's `path`, which backfills and training sets read like
//! any batch source. Files are written to a temporary name and renamed into place, and are
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
use tessera_core::values_to_array;

use crate::error::{BoxError, Error, Result};
use crate::events::{Events, SourceSchema};

/// The file of batch `seq` of `source` under `dir`.
pub fn part_path(dir: &Path, source: &str, seq: u64) -> PathBuf {
    dir.join(format!("part-{source}-{seq:012}.parquet"))
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
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
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
/// replaying the batches committed after a snapshot).
pub(crate) fn read_since(dir: &Path, schema: &SourceSchema, from: u64) -> Result<Vec<RecordBatch>> {
    let mut files: Vec<(u64, PathBuf)> = match std::fs::read_dir(dir) {
        Ok(d) => d
            .flatten()
            .filter_map(|e| {
                let seq = log_seq(&e.file_name().to_string_lossy(), &schema.name)?;
                (seq >= from).then(|| (seq, e.path()))
            })
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    files.sort();
    read_files(files.into_iter().map(|(_, p)| p), schema)
}

/// The batch sequence of a log file name of `source`.
pub(crate) fn log_seq(name: &str, source: &str) -> Option<u64> {
    name.strip_prefix(&format!("part-{source}-"))
        .and_then(|r| r.strip_suffix(".parquet"))
        .and_then(|n| n.parse::<u64>().ok())
}

/// Reads every log file of the source under `dir` (for rebuilding states), oldest first.
pub(crate) fn read_all(dir: &Path, schema: &SourceSchema) -> Result<Vec<RecordBatch>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(d) => d
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    files.sort();
    read_files(files.into_iter(), schema)
}

fn read_files(
    files: impl Iterator<Item = PathBuf>,
    schema: &SourceSchema,
) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for p in files {
        let f = std::fs::File::open(&p).map_err(|e| Error::log(&p, "opening", e))?;
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
