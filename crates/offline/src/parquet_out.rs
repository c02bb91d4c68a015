//! Writing results as Parquet, atomically: a reader sees the whole file or none.

use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// Writes `batch` to `out` through a temporary file in the same directory, renamed into
/// place only when complete. Returns the bytes written.
pub fn write_parquet_atomic(batch: &RecordBatch, out: &Path) -> Result<u64> {
    if out.is_dir() {
        return Err(Error::Request {
            message: format!("--out {} is a directory", out.display()),
            hint: "give a file name, e.g. train.parquet".to_string(),
        });
    }
    let io = |path: &Path| {
        let path: PathBuf = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let name = out
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().to_string());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<u64> {
        let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
            .set_max_row_group_row_count(Some(1 << 20))
            .build();
        let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
        w.write(batch)?;
        w.close()?;
        let bytes = std::fs::metadata(&tmp).map_err(io(&tmp))?.len();
        std::fs::rename(&tmp, out).map_err(io(out))?;
        Ok(bytes)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
