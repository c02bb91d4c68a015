//! Opening sources as DataFusion data frames.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use tessera_core::{SourceDef, SourceFormat};

use crate::error::{Error, Result};
use crate::query_planner::OfflineQueryPlanner;

/// A DataFusion session configured for Tessera: strings as `Utf8` (not views), one
/// partition per core, and a query planner that knows the offline operators.
pub fn session(partitions: usize) -> SessionContext {
    session_with_memory_limit(partitions, None)
}

/// [`session`] whose memory pool holds at most `limit` bytes (`None`: unbounded). The
/// offline operators reserve what they buffer in it: past the limit a run stops with a
/// "resources exhausted" error naming the operator, instead of growing without bound.
pub fn session_with_memory_limit(partitions: usize, limit: Option<usize>) -> SessionContext {
    let mut cfg = SessionConfig::new()
        .with_target_partitions(partitions.max(1))
        .with_batch_size(8192);
    cfg.options_mut().execution.parquet.schema_force_view_types = false;
    // Late materialisation: filters (the point-in-time candidate filter above all) run
    // inside the Parquet decoder, so columns are decoded only for the rows kept.
    cfg.options_mut().execution.parquet.pushdown_filters = true;
    // The offline operators are planned from their extension nodes.
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = limit {
        runtime = runtime.with_memory_pool(Arc::new(GreedyMemoryPool::new(limit)));
    }
    let mut state = SessionStateBuilder::new()
        .with_config(cfg)
        .with_default_features()
        .with_query_planner(Arc::new(OfflineQueryPlanner));
    // Building the runtime fails only on a bad disk-manager or cache setup, which this
    // one does not have; fall back to the default runtime rather than fail.
    if let Ok(env) = runtime.build_arc() {
        state = state.with_runtime_env(env);
    }
    let state = state.build();
    SessionContext::new_with_state(state)
}

/// The number of cores to use by default.
pub fn default_partitions() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Opens a file or directory of Parquet or CSV as a data frame.
pub async fn open_path(
    ctx: &SessionContext,
    path: &Path,
    format: SourceFormat,
) -> Result<DataFrame> {
    if !path.exists() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        });
    }
    let is_dir = path.is_dir();
    let mut url = path.to_string_lossy().to_string();
    if is_dir && !url.ends_with('/') {
        url.push('/');
    }
    let ext = if is_dir {
        None
    } else {
        path.extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
    };
    let df = match format {
        SourceFormat::Parquet => {
            let ext = ext.unwrap_or_else(|| ".parquet".to_string());
            let opts = ParquetReadOptions::default().file_extension(&ext);
            ctx.read_parquet(url.as_str(), opts).await?
        }
        SourceFormat::Csv => {
            let ext = ext.unwrap_or_else(|| ".csv".to_string());
            let delimiter = if ext.eq_ignore_ascii_case(".tsv") {
                b'\t'
            } else {
                b','
            };
            let opts = CsvReadOptions::new()
                .has_header(true)
                .delimiter(delimiter)
                .file_extension(&ext)
                .schema_infer_max_records(10_000);
            ctx.read_csv(url.as_str(), opts).await?
        }
    };
    Ok(df)
}

/// Opens a source, resolving its path against the repository root. Rows older than the
/// source's `retention` are left out ([`tessera_core::retention`]).
pub async fn open_source(
    ctx: &SessionContext,
    root: &Path,
    source: &SourceDef,
) -> Result<(DataFrame, PathBuf)> {
    let path = source.resolved_path(root);
    let format = source.resolved_format().ok_or_else(|| Error::Request {
        message: format!(
            "cannot tell the format of source `{}` ({})",
            source.name, source.path
        ),
        hint: "add `format: parquet` or `format: csv` to the source".to_string(),
    })?;
    if let Some(stream) = &source.stream {
        // A stream's offline log: Parquet files appended by ingestion, read with the
        // declared schema; an empty or missing log is an empty table.
        let schema = stream.arrow_schema(&source.timestamp_field);
        let files = stream_log_files(&path, &source.name);
        if files.is_empty() {
            let empty = datafusion::arrow::record_batch::RecordBatch::new_empty(schema);
            return Ok((ctx.read_batch(empty)?, path));
        }
        let opts = ParquetReadOptions::default()
            .file_extension(".parquet")
            .schema(&schema);
        let df = crate::retention_filter::keep_retained(
            ctx.read_parquet(files, opts).await?,
            &source.timestamp_field,
            tessera_core::retention::of_source(source),
            crate::retention_filter::now_us(),
        )?;
        return Ok((df, path));
    }
    let df = open_path(ctx, &path, format).await?;
    let df = crate::retention_filter::keep_retained(
        df,
        &source.timestamp_field,
        tessera_core::retention::of_source(source),
        crate::retention_filter::now_us(),
    )?;
    Ok((df, path))
}

/// The files of a stream source's offline log a reader reads: merged files instead of the
/// batch files they cover (see [`tessera_core::log_files`]), so a scan that runs while the
/// log is compacted sees each event exactly once.
pub fn stream_log_files(dir: &Path, source: &str) -> Vec<String> {
    let names = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    tessera_core::log_files::live_files(names, source)
        .into_iter()
        .map(|n| dir.join(n).to_string_lossy().to_string())
        .collect()
}

/// The Arrow schema of a data frame.
pub(crate) fn arrow_schema(df: &DataFrame) -> SchemaRef {
    df.schema().inner().clone()
}

/// Total rows in the Parquet files under `path`, read from their footers (`None` for CSV
/// or unreadable footers). Used for progress bars.
pub fn parquet_row_count(path: &Path) -> Option<u64> {
    fn one(p: &Path) -> Option<u64> {
        let f = std::fs::File::open(p).ok()?;
        let r = parquet::file::reader::SerializedFileReader::new(f).ok()?;
        use parquet::file::reader::FileReader;
        Some(r.metadata().file_metadata().num_rows() as u64)
    }
    if path.is_file() {
        return one(path);
    }
    let mut total = 0;
    for e in std::fs::read_dir(path).ok()? {
        let p = e.ok()?.path();
        if p.extension().is_some_and(|x| x == "parquet") {
            total += one(&p)?;
        }
    }
    Some(total)
}
