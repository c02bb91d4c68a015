//! Materialisation: copy the latest row per entity of a feature view, for a range of event
//! times, from the offline engine into an online store.
//!
//! ```text
//!  LatestScan (DataFusion, one pass, memory ∝ entities)
//!     └─► LatestBatch chunks ──Arrow → WriteBatch──► store.write (newer wins) ─┐
//!              (the next chunk is converted while the previous one is written)  │
//!  every chunk written ──► high-water mark := max(mark, end) ◄──────────────────┘
//! ```
//!
//! - **Idempotent**: running the same range again writes nothing; each row is skipped as
//!   not newer than the stored one.
//! - **Never regresses**: materialising an older range after a newer one leaves the newer
//!   values in place, because the store keeps the newer row (see [`tessera_online::OnlineStore`]).
//! - **Resumable**: the view's high-water mark moves only after every chunk up to `end` is
//!   written, and never backwards. A run that dies halfway leaves the mark where it was, so
//!   the next `--incremental` run redoes the range; rows already written are skipped.
//!
//! - **Never ahead of the clock**: an `end` beyond `writes.max_future` past now is moved
//!   back to that bound ([`tessera_online::FutureBound`]; the report says so), so a source row
//!   stamped far in the future is not copied (it would hide every real write of its
//!   entity until then); a later run copies it when its time comes.
//!
//! Late data (rows whose event time is before the high-water mark but that reach the source
//! after the run) is not picked up by an incremental run; materialise that range explicitly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_offline::{LatestBatch, LatestRequest, LatestRows, LatestScan, Progress};

use tessera_online::{
    column_values, key_values, state_batch, EntityKey, KeyValue, OnlineStore, Stamp, Value,
    WriteBatch, WriteSummary,
};

use crate::error::{Error, Result};

/// Rows per write when the request does not say.
pub const DEFAULT_BATCH_ROWS: usize = 16_384;

/// What to materialise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterializeRequest {
    /// The feature view.
    pub view: String,
    /// Earliest event time, µs since the epoch (inclusive); `None` for no lower bound.
    pub start_us: Option<i64>,
    /// Latest event time, µs since the epoch (inclusive). The high-water mark moves here.
    pub end_us: i64,
    /// Rows per write (one transaction or round trip each).
    pub batch_rows: usize,
    /// Rows are copied up to `end_us` or this bound ahead of the clock, whichever is
    /// earlier (`writes.max_future`), so no source row stamped further ahead (which would
    /// pin its entity's online row) is written; a later run copies it once its time is
    /// near. The report says when the end was moved.
    pub future: tessera_online::FutureBound,
}

/// The stage a run is in, for progress reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the source; `advance` counts source rows.
    Scan,
    /// Writing the store; `advance` counts entities.
    Write,
}

/// Receives progress from [`materialize_view`]. Implementations must be cheap.
pub trait MaterializeProgress: Send + Sync {
    /// A stage started; `total` is the expected count, when known.
    fn stage(&self, _view: &str, _stage: Stage, _total: Option<u64>) {}
    /// `rows` more rows are done in the current stage.
    fn advance(&self, _rows: u64) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMaterializeProgress;

impl MaterializeProgress for NoMaterializeProgress {}

/// Forwards the scan's progress.
struct ScanProgress(Arc<dyn MaterializeProgress>);

impl Progress for ScanProgress {
    fn advance(&self, rows: u64) {
        self.0.advance(rows);
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq)]
pub struct MaterializeReport {
    /// The view.
    pub view: String,
    /// Source rows read.
    pub rows_scanned: u64,
    /// Entities found in the range (one latest row each).
    pub entities: u64,
    /// Rows written and skipped by the store.
    pub summary: WriteSummary,
    /// Time spent scanning the source.
    pub scan_time: Duration,
    /// Time spent converting and writing.
    pub write_time: Duration,
    /// The view's high-water mark after the run.
    pub high_water_mark: Option<i64>,
    /// The end used instead of the requested one, when that was beyond the future bound.
    pub clamped_end: Option<i64>,
}

impl MaterializeReport {
    /// Scan plus write time.
    pub fn total_time(&self) -> Duration {
        self.scan_time + self.write_time
    }

    /// Source rows per second over the whole run.
    pub fn source_rows_per_second(&self) -> f64 {
        per_second(self.rows_scanned, self.total_time())
    }

    /// Entities written to the store per second of write time.
    pub fn write_rows_per_second(&self) -> f64 {
        per_second(self.entities, self.write_time)
    }
}

fn per_second(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

/// Materialises one view into `store`. See the module docs for the guarantees.
pub async fn materialize_view(
    store: Arc<dyn OnlineStore>,
    scan: &LatestScan,
    req: &MaterializeRequest,
    progress: Arc<dyn MaterializeProgress>,
) -> Result<MaterializeReport> {
    // Never past the bound: a source row stamped further ahead would pin its entity's row.
    let limit = req.future.limit(tessera_online::FutureBound::now_us());
    let clamped = (req.end_us > limit).then_some(limit);
    let bounded;
    let req = match clamped {
        Some(end_us) => {
            bounded = MaterializeRequest {
                end_us,
                ..req.clone()
            };
            &bounded
        }
        None => req,
    };
    let started = Instant::now();
    progress.stage(&req.view, Stage::Scan, scan.rows_hint(&req.view));
    if let Some(spec) = scan
        .catalog()
        .view(&req.view)
        .ok()
        .map(|v| scan.catalog().view_spec(v))
        .transpose()?
        .flatten()
    {
        let mut report = materialize_aggregates(store, scan, req, &spec, progress, started).await?;
        report.clamped_end = clamped;
        return Ok(report);
    }
    let latest = LatestRequest {
        view: req.view.clone(),
        start_us: req.start_us,
        end_us: req.end_us,
    };
    let rows = scan
        .run(&latest, Arc::new(ScanProgress(progress.clone())))
        .await?;
    let scan_time = started.elapsed();

    let started = Instant::now();
    progress.stage(&req.view, Stage::Write, Some(rows.num_rows() as u64));
    let mut summary = WriteSummary::default();
    let mut in_flight: Option<tokio::task::JoinHandle<Result<WriteSummary>>> = None;
    for chunk in rows.batches(req.batch_rows.max(1)) {
        let batch = to_write_batch(&rows, &chunk?)?;
        let n = batch.rows.len() as u64;
        if let Some(h) = in_flight.take() {
            summary += join(h).await?;
        }
        let (store, progress) = (store.clone(), progress.clone());
        in_flight = Some(tokio::spawn(async move {
            let s = store.write(batch).await?;
            progress.advance(n);
            Ok(s)
        }));
    }
    if let Some(h) = in_flight.take() {
        summary += join(h).await?;
    }
    // Every row up to `end` is in the store: only now may the mark move (never backwards).
    let high_water_mark = advance_mark(store.as_ref(), req).await?;
    Ok(MaterializeReport {
        view: req.view.clone(),
        rows_scanned: rows.rows_scanned,
        entities: rows.num_rows() as u64,
        summary,
        scan_time,
        write_time: started.elapsed(),
        high_water_mark,
        clamped_end: clamped,
    })
}

/// Aggregation views: every event up to `end` (windows need their history, so `start` is
/// not a bound here) folded into per-entity tiles, old tiles evicted as of `end`, and the
/// whole states written with stamp `(end, 0)` — so the same run again writes nothing, and
/// a later `end` (or the stream engine, whose stamps are later still) replaces them.
async fn materialize_aggregates(
    store: Arc<dyn OnlineStore>,
    scan: &LatestScan,
    req: &MaterializeRequest,
    spec: &tessera_aggregate::ViewSpec,
    progress: Arc<dyn MaterializeProgress>,
    started: Instant,
) -> Result<MaterializeReport> {
    use futures::StreamExt;
    use std::collections::HashMap;
    use tessera_aggregate::{Row, ViewState};
    use tessera_core::ArrowValues;

    let catalog = scan.catalog();
    let view = catalog.view(&req.view)?;
    if catalog.source_of(view)?.stream.is_some() {
        return Err(Error::Materialize(format!(
            "feature view `{}` aggregates a stream source: its online state is kept by the ingest process (`tessera serve` or `tessera ingest`), which rebuilds it from the offline log when it has none",
            req.view
        )));
    }
    let keys = catalog.join_keys(view);
    let names = catalog.aggregation_columns(view);
    struct EventRow<'a> {
        names: &'a [String],
        values: &'a [Value],
    }
    impl Row for EventRow<'_> {
        fn get(&self, column: &str) -> Option<&Value> {
            let i = self.names.iter().position(|n| n == column)?;
            self.values.get(i)
        }
    }
    let mut states: HashMap<Vec<u8>, (EntityKey, ViewState)> = HashMap::new();
    let mut stream = scan.events(&req.view, req.end_us).await?;
    let mut scanned = 0u64;
    let mut values: Vec<Value> = Vec::with_capacity(names.len());
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(tessera_offline::Error::from)?;
        scanned += batch.num_rows() as u64;
        progress.advance(batch.num_rows() as u64);
        let key_cols = keys
            .iter()
            .enumerate()
            .map(|(i, k)| key_values(k, batch.column(i).as_ref()))
            .collect::<tessera_online::Result<Vec<_>>>()?;
        let ts =
            ArrowValues::new(batch.column(keys.len())).map_err(tessera_offline::Error::from)?;
        let cols = (0..names.len())
            .map(|i| ArrowValues::new(batch.column(keys.len() + 1 + i)))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(tessera_offline::Error::from)?;
        'rows: for row in 0..batch.num_rows() {
            let Value::Timestamp(t) = ts.get(row) else {
                continue;
            };
            if t > req.end_us {
                continue; // the scan's filter cannot bound every time type
            }
            let mut parts = Vec::with_capacity(keys.len());
            for (k, col) in keys.iter().zip(&key_cols) {
                match &col[row] {
                    Some(v) => parts.push((k.as_str(), v.clone())),
                    None => continue 'rows,
                }
            }
            let key = EntityKey::new(parts)?;
            values.clear();
            values.extend(cols.iter().map(|c| c.get(row)));
            let entry = states
                .entry(key.encode())
                .or_insert_with(|| (key, spec.new_state()));
            entry.1.update(
                spec,
                t,
                &EventRow {
                    names: &names,
                    values: &values,
                },
            )?;
        }
    }
    let scan_time = started.elapsed();
    let write_started = Instant::now();
    progress.stage(&req.view, Stage::Write, Some(states.len() as u64));
    let stamp = Stamp::new(req.end_us, 0);
    let entities = states.len() as u64;
    let mut summary = WriteSummary::default();
    let mut rows = Vec::with_capacity(req.batch_rows.max(1));
    let mut drain = states.into_values().peekable();
    while drain.peek().is_some() {
        rows.clear();
        for (key, mut state) in drain.by_ref().take(req.batch_rows.max(1)) {
            // Never evict past the present: reads before a future `end` still work.
            state.evict_before(req.end_us.min(now_us()));
            let mut bytes = Vec::new();
            state.encode(&mut bytes);
            rows.push((key, stamp, bytes));
        }
        let n = rows.len() as u64;
        summary += store.write(state_batch(&req.view, rows.drain(..))).await?;
        progress.advance(n);
    }
    let high_water_mark = advance_mark(store.as_ref(), req).await?;
    Ok(MaterializeReport {
        view: req.view.clone(),
        rows_scanned: scanned,
        entities,
        summary,
        scan_time,
        write_time: write_started.elapsed(),
        high_water_mark,
        clamped_end: None,
    })
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Moves the view's high-water mark to `end` (never backwards); returns the mark.
async fn advance_mark(store: &dyn OnlineStore, req: &MaterializeRequest) -> Result<Option<i64>> {
    let mark = store.high_water_mark(&req.view).await?;
    if mark.is_none_or(|m| req.end_us > m) {
        store.set_high_water_mark(&req.view, req.end_us).await?;
        Ok(Some(req.end_us))
    } else {
        Ok(mark)
    }
}

async fn join(h: tokio::task::JoinHandle<Result<WriteSummary>>) -> Result<WriteSummary> {
    h.await.map_err(|source| Error::Task {
        operation: "materialise write",
        source,
    })?
}

/// Turns one chunk of latest rows into a write batch.
fn to_write_batch(rows: &LatestRows, chunk: &LatestBatch) -> Result<WriteBatch> {
    let n = chunk.num_rows();
    let names: Vec<Arc<str>> = rows
        .join_keys
        .iter()
        .map(|k| Arc::from(k.as_str()))
        .collect();
    let mut keys: Vec<Vec<Option<KeyValue>>> = rows
        .join_keys
        .iter()
        .zip(&chunk.keys)
        .map(|(name, a)| key_values(name, a.as_ref()))
        .collect::<tessera_online::Result<_>>()?;
    let mut values: Vec<std::vec::IntoIter<Value>> = rows
        .features
        .iter()
        .zip(&chunk.features)
        .map(|(name, a)| column_values(name, a.as_ref()).map(Vec::into_iter))
        .collect::<tessera_online::Result<_>>()?;
    let mut batch = WriteBatch::new(rows.view.clone(), rows.features.clone());
    batch.rows.reserve(n);
    for i in 0..n {
        let row: Vec<Value> = values
            .iter_mut()
            .map(|col| col.next().unwrap_or(Value::Null))
            .collect();
        let parts: Option<Vec<(Arc<str>, KeyValue)>> = names
            .iter()
            .zip(keys.iter_mut())
            .map(|(name, col)| col[i].take().map(|v| (name.clone(), v)))
            .collect();
        // The scan drops rows with a null key part; this only guards the invariant.
        let Some(parts) = parts else { continue };
        let stamp = Stamp::new(chunk.event_ts[i], chunk.created_ts[i]);
        batch.push(EntityKey::new(parts)?, stamp, row);
    }
    Ok(batch)
}
