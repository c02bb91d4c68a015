//! Reading the spine: the (entity keys, timestamp, labels …) rows a training set is built for.

use std::path::Path;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use tessera_core::SourceFormat;

use crate::error::{Error, Result};
use crate::source_scan::{open_path, session};

/// Reads a Parquet or CSV spine into one batch, in file order.
pub async fn read_spine(path: &Path) -> Result<RecordBatch> {
    let spine_err = |message: String, hint: &str| Error::Spine {
        path: path.to_path_buf(),
        message,
        hint: hint.to_string(),
    };
    if !path.exists() {
        return Err(spine_err(
            "does not exist".into(),
            "pass the path of a Parquet or CSV file with --spine",
        ));
    }
    let lower = path.to_string_lossy().to_ascii_lowercase();
    let format = if lower.ends_with(".csv") || lower.ends_with(".tsv") {
        SourceFormat::Csv
    } else {
        SourceFormat::Parquet
    };
    // One partition keeps the spine's row order.
    let ctx = session(1);
    let df = open_path(&ctx, path, format).await.map_err(|e| {
        spine_err(
            format!("cannot be read: {e}"),
            "the spine must be a Parquet file (or CSV with a header row)",
        )
    })?;
    let schema = df.schema().inner().clone();
    let stream = df.execute_stream().await.map_err(|e| {
        spine_err(
            format!("cannot be read: {e}"),
            "the spine must be a Parquet file (or CSV with a header row)",
        )
    })?;
    let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(|e| {
        spine_err(
            format!("cannot be read: {e}"),
            "check that the file is complete and not corrupt",
        )
    })?;
    let spine = concat_batches(&schema, &batches)?;
    match format {
        // CSV has no types: zoned ISO-8601 times would stay text; make them times.
        SourceFormat::Csv => crate::spine_timestamps::zoned_csv_times(path, spine),
        _ => Ok(spine),
    }
}
