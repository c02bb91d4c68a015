//! The latest row per entity in a time range: what materialisation copies into the online
//! store.
//!
//! # The rule
//! For one feature view and an inclusive range `[start, end]` of event times, each entity key
//! gets the source row with the greatest `(event_ts, created_ts)` among its rows with
//! `start <= event_ts <= end`. As in the point-in-time join, a null `created_ts` sorts below
//! every value, rows with a null key or event time are never used, and which of several rows
//! identical in key, `event_ts` and `created_ts` wins is unspecified. Times are compared in
//! microseconds (finer source timestamps truncate towards the past).
//!
//! # How it runs
//! DataFusion scans the source (projected to the keys, the two times and the feature
//! columns; row groups outside the range pruned by statistics), one stream per partition, in
//! parallel. Each partition keeps, per key, its best `(event_ts, created_ts)` and where that
//! row sits; a batch contributes only its rows that beat their key's best so far, copied out
//! with `take`. When the copied rows outgrow twice the number of keys, they are compacted to
//! one row per key. Partitions are merged at the end, and [`LatestRows::batches`] assembles
//! the answer in chunks. Memory is bounded by the number of distinct keys (about three rows
//! per key at worst) plus one input batch per partition; it does not grow with the number of
//! source rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::{cast, interleave, take};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion::common::{Column, ScalarValue};
use datafusion::prelude::{lit, Expr, SessionContext};
use futures::StreamExt;
use hashbrown::HashMap;
use tessera_core::{Catalog, FeatureViewDef};

use crate::entity_keys::key_type;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::schema_check::check_views;
use crate::source_scan::{
    arrow_schema, default_partitions, open_source, parquet_row_count, session,
};
use crate::timestamps::{factor, to_epoch};

/// Marks a key slot that has no row yet.
const NONE: u32 = u32::MAX;
/// Copied rows are never compacted below this many.
const MIN_COMPACT_ROWS: usize = 1 << 16;

/// Which rows to consider: event times in `[start_us, end_us]`, µs since the epoch, both
/// inclusive; `start_us: None` means from the beginning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestRequest {
    /// The feature view.
    pub view: String,
    /// The earliest event time, or `None` for no lower bound.
    pub start_us: Option<i64>,
    /// The latest event time.
    pub end_us: i64,
}

/// Finds the latest row per entity of a feature view, for materialisation.
pub struct LatestScan {
    ctx: SessionContext,
    root: PathBuf,
    catalog: Arc<Catalog>,
}

/// One chunk of the answer: column `i` of every field is entity `i`.
#[derive(Debug, Clone)]
pub struct LatestBatch {
    /// The join-key columns, in the order of [`LatestRows::join_keys`]: integer keys as
    /// `Int64` (`UInt64` stays), text as `Utf8`.
    pub keys: Vec<ArrayRef>,
    /// Event time of each row, µs since the epoch.
    pub event_ts: Vec<i64>,
    /// Created time of each row, µs since the epoch; `i64::MIN` when null or when the source
    /// has no created column.
    pub created_ts: Vec<i64>,
    /// The feature columns, in the order of [`LatestRows::features`], cast to their declared
    /// types.
    pub features: Vec<ArrayRef>,
}

impl LatestBatch {
    /// Number of rows (entities).
    pub fn num_rows(&self) -> usize {
        self.event_ts.len()
    }
}

/// The latest row of every entity found in the range.
pub struct LatestRows {
    /// The view.
    pub view: String,
    /// Its join keys, in entity order.
    pub join_keys: Vec<String>,
    /// Its feature names, in declaration order.
    pub features: Vec<String>,
    /// Source rows read (after row-group pruning).
    pub rows_scanned: u64,
    feature_types: Vec<DataType>,
    /// For each feature, its column among the copied columns.
    feature_cols: Vec<usize>,
    state: LatestState,
}

impl LatestRows {
    /// Number of entities.
    pub fn num_rows(&self) -> usize {
        self.state.live()
    }

    /// The rows in chunks of at most `rows` entities (in no particular order).
    pub fn batches(&self, rows: usize) -> impl Iterator<Item = Result<LatestBatch>> + '_ {
        let live: Vec<u32> = (0..self.state.best.len() as u32)
            .filter(|&s| self.state.best[s as usize].batch != NONE)
            .collect();
        let chunks: Vec<Vec<u32>> = live.chunks(rows.max(1)).map(<[u32]>::to_vec).collect();
        chunks.into_iter().map(move |slots| self.assemble(&slots))
    }

    fn assemble(&self, slots: &[u32]) -> Result<LatestBatch> {
        let st = &self.state;
        let indices: Vec<(usize, usize)> = slots
            .iter()
            .map(|&s| {
                let b = &st.best[s as usize];
                (b.batch as usize, b.row as usize)
            })
            .collect();
        let column = |c: usize| -> Result<ArrayRef> {
            let parts: Vec<&dyn Array> = st.kept.iter().map(|k| k[c].as_ref()).collect();
            Ok(interleave(&parts, &indices)?)
        };
        let keys = (0..self.join_keys.len())
            .map(column)
            .collect::<Result<Vec<_>>>()?;
        let features = self
            .feature_cols
            .iter()
            .zip(&self.feature_types)
            .map(|(&c, dt)| {
                let a = column(c)?;
                if a.data_type() == dt {
                    Ok(a)
                } else {
                    Ok(cast(&a, dt)?)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(LatestBatch {
            keys,
            event_ts: slots.iter().map(|&s| st.best[s as usize].ts).collect(),
            created_ts: slots.iter().map(|&s| st.best[s as usize].created).collect(),
            features,
        })
    }
}

/// Where each input column sits in the projected scan.
struct Layout {
    keys: usize,
    ts: usize,
    created: Option<usize>,
    /// Distinct feature source columns, after keys and times.
    copied: Vec<usize>,
    key_types: Vec<DataType>,
    start: i64,
    end: i64,
    source_name: String,
}

impl LatestScan {
    /// A scan over the repository at `root`, using every core.
    pub fn new(root: &Path, catalog: Arc<Catalog>) -> Self {
        Self::with_partitions(root, catalog, default_partitions())
    }

    /// A scan with an explicit degree of parallelism.
    pub fn with_partitions(root: &Path, catalog: Arc<Catalog>, partitions: usize) -> Self {
        Self {
            ctx: session(partitions),
            root: root.to_path_buf(),
            catalog,
        }
    }

    /// The catalog scanned.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The events an aggregation view reads, up to `end_us` (inclusive): record batches of
    /// the join keys, the event time as `Timestamp(µs)` and the aggregated and filter
    /// columns, in that order; rows with null times are dropped.
    pub async fn events(
        &self,
        view: &str,
        end_us: i64,
    ) -> Result<datafusion::physical_plan::SendableRecordBatchStream> {
        let view = self.catalog.view(view)?;
        let source = self.catalog.source_of(view)?;
        let (df, _) = crate::source_scan::open_source(&self.ctx, &self.root, source).await?;
        let keys = self.catalog.join_keys(view);
        let ts = Expr::Column(datafusion::common::Column::new_unqualified(
            &source.timestamp_field,
        ));
        let mut exprs: Vec<Expr> = keys
            .iter()
            .map(|k| Expr::Column(datafusion::common::Column::new_unqualified(k)))
            .collect();
        exprs.push(
            datafusion::logical_expr::cast(
                ts.clone(),
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
            )
            .alias("__ts"),
        );
        for c in self.catalog.aggregation_columns(view) {
            exprs.push(Expr::Column(datafusion::common::Column::new_unqualified(
                &c,
            )));
        }
        let schema = df.schema().inner().clone();
        let ts_type = schema
            .field_with_name(&source.timestamp_field)?
            .data_type()
            .clone();
        let mut df = df;
        if let Some(f) =
            crate::window_join::micros_filter(&source.timestamp_field, &ts_type, i64::MIN, end_us)
        {
            df = df.filter(f)?;
        }
        Ok(df
            .filter(ts.is_not_null())?
            .select(exprs)?
            .execute_stream()
            .await?)
    }

    /// Source rows of a view, when its Parquet footers tell (for progress bars).
    pub fn rows_hint(&self, view: &str) -> Option<u64> {
        let view = self.catalog.view(view).ok()?;
        let source = self.catalog.source_of(view).ok()?;
        parquet_row_count(&source.resolved_path(&self.root))
    }

    /// Scans the view's source and keeps the latest row per entity in the range.
    pub async fn run(
        &self,
        req: &LatestRequest,
        progress: Arc<dyn Progress>,
    ) -> Result<LatestRows> {
        let cat = &self.catalog;
        let view: &FeatureViewDef = cat.view(&req.view)?;
        check_views(&self.ctx, &self.root, cat, &[view])
            .await
            .map_err(Error::Schema)?;
        let source = cat.source_of(view)?;
        let (df, _) = open_source(&self.ctx, &self.root, source).await?;
        let schema = arrow_schema(&df);
        let join_keys = cat.join_keys(view);

        let mut select: Vec<String> = join_keys.clone();
        select.push(source.timestamp_field.clone());
        if let Some(c) = &source.created_timestamp_field {
            select.push(c.clone());
        }
        let first_copied = select.len();
        let mut feature_cols = Vec::new();
        for f in &view.features {
            let col = f.source_column();
            let pos = match select[first_copied..].iter().position(|s| s == col) {
                Some(p) => first_copied + p,
                None => {
                    select.push(col.to_string());
                    select.len() - 1
                }
            };
            // Copied columns are the keys, then the distinct feature columns.
            feature_cols.push(join_keys.len() + pos - first_copied);
        }
        let key_types = join_keys
            .iter()
            .map(|k| {
                let dt = schema.field_with_name(k)?.data_type().clone();
                key_type(&dt).ok_or_else(|| Error::Request {
                    message: format!("join key `{k}` of source `{}` has type {dt}", source.name),
                    hint: "use integer or string join keys".into(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let layout = Arc::new(Layout {
            keys: join_keys.len(),
            ts: join_keys.len(),
            created: source
                .created_timestamp_field
                .as_ref()
                .map(|_| join_keys.len() + 1),
            copied: (first_copied..select.len()).collect(),
            key_types,
            start: req.start_us.unwrap_or(i64::MIN),
            end: req.end_us,
            source_name: source.name.clone(),
        });

        let cols: Vec<&str> = select.iter().map(String::as_str).collect();
        let mut df = df.select_columns(&cols)?;
        let ts_type = schema.field_with_name(&source.timestamp_field)?.data_type();
        if let Some(filter) =
            time_filter(&source.timestamp_field, ts_type, req.start_us, req.end_us)
        {
            df = df.filter(filter)?;
        }
        let streams = df.execute_stream_partitioned().await?;
        let mut tasks = Vec::with_capacity(streams.len());
        for mut stream in streams {
            let (layout, progress) = (layout.clone(), progress.clone());
            tasks.push(tokio::spawn(async move {
                let mut state = LatestState::new(&layout)?;
                let mut scanned = 0u64;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    scanned += batch.num_rows() as u64;
                    progress.advance(batch.num_rows() as u64);
                    state.push(&batch, &layout)?;
                }
                Ok::<_, Error>((state, scanned))
            }));
        }
        let mut merged: Option<LatestState> = None;
        let mut rows_scanned = 0;
        for t in tasks {
            let (state, n) = t
                .await
                .map_err(|e| Error::Internal(format!("latest-row task failed: {e}")))??;
            rows_scanned += n;
            match &mut merged {
                None => merged = Some(state),
                Some(m) => m.merge(state)?,
            }
        }
        let state = match merged {
            Some(s) => s,
            None => LatestState::new(&layout)?,
        };
        Ok(LatestRows {
            view: view.name.clone(),
            join_keys,
            features: view.features.iter().map(|f| f.name.clone()).collect(),
            rows_scanned,
            feature_types: view.features.iter().map(|f| f.dtype.arrow_type()).collect(),
            feature_cols,
            state,
        })
    }
}

/// `start <= ts <= end` in the column's own unit, loose enough never to drop a row whose µs
/// time is in range (rows are checked exactly after conversion); lets Parquet statistics
/// skip row groups. `None` when the column is not a timestamp or a bound does not fit.
fn time_filter(col: &str, dt: &DataType, start: Option<i64>, end: i64) -> Option<Expr> {
    let DataType::Timestamp(unit, tz) = dt else {
        return None;
    };
    let us = TimeUnit::Microsecond;
    let (lo, hi) = {
        let coarse = factor(*unit, us); // µs per source unit (1 when the source is finer)
        let fine = factor(us, *unit); // source units per µs (1 when the source is coarser)
        let lo = start.map(|s| s.div_euclid(coarse).checked_mul(fine));
        let hi = end
            .div_euclid(coarse)
            .checked_mul(fine)?
            .checked_add(fine - 1)?;
        (lo, hi)
    };
    let scalar = |v: i64| match unit {
        TimeUnit::Second => ScalarValue::TimestampSecond(Some(v), tz.clone()),
        TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(v), tz.clone()),
        TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(v), tz.clone()),
        TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(Some(v), tz.clone()),
    };
    let c = Expr::Column(Column::new_unqualified(col));
    let upper = c.clone().lt_eq(lit(scalar(hi)));
    match lo {
        None => Some(upper),
        Some(Some(lo)) => Some(c.gt_eq(lit(scalar(lo))).and(upper)),
        Some(None) => None,
    }
}

/// The best row so far of one key.
#[derive(Clone, Copy)]
struct Best {
    ts: i64,
    created: i64,
    batch: u32,
    row: u32,
}

const NO_BEST: Best = Best {
    ts: i64::MIN,
    created: i64::MIN,
    batch: NONE,
    row: 0,
};

/// Dense slots for the keys seen so far.
enum KeySlots {
    /// One `Int64` key column.
    Int(HashMap<i64, u32>),
    /// Anything else, in Arrow's row format.
    Rows {
        converter: RowConverter,
        map: HashMap<Box<[u8]>, u32>,
    },
}

impl KeySlots {
    fn new(types: &[DataType]) -> Result<Self> {
        if types == [DataType::Int64] {
            return Ok(KeySlots::Int(HashMap::new()));
        }
        Ok(KeySlots::Rows {
            converter: RowConverter::new(types.iter().cloned().map(SortField::new).collect())?,
            map: HashMap::new(),
        })
    }
}

/// One partition's progress: the best row per key and the copied rows they point into.
struct LatestState {
    slots: KeySlots,
    best: Vec<Best>,
    /// Copied rows: per chunk, the normalised key columns then the distinct feature columns.
    kept: Vec<Vec<ArrayRef>>,
    kept_rows: usize,
    live: usize,
}

impl LatestState {
    fn new(layout: &Layout) -> Result<Self> {
        Ok(Self {
            slots: KeySlots::new(&layout.key_types)?,
            best: Vec::new(),
            kept: Vec::new(),
            kept_rows: 0,
            live: 0,
        })
    }

    fn live(&self) -> usize {
        self.live
    }

    /// Offers one candidate for a slot; returns whether it became the best.
    fn offer(&mut self, slot: u32, ts: i64, created: i64, batch: u32, row: u32) -> bool {
        let b = &mut self.best[slot as usize];
        if b.batch == NONE {
            self.live += 1;
        } else if (ts, created) <= (b.ts, b.created) {
            return false;
        }
        *b = Best {
            ts,
            created,
            batch,
            row,
        };
        true
    }

    fn slot_int(&mut self, k: i64) -> u32 {
        let KeySlots::Int(map) = &mut self.slots else {
            return NONE;
        };
        let n = self.best.len() as u32;
        let s = *map.entry(k).or_insert(n);
        if s == n {
            self.best.push(NO_BEST);
        }
        s
    }

    fn slot_bytes(&mut self, k: &[u8]) -> u32 {
        let KeySlots::Rows { map, .. } = &mut self.slots else {
            return NONE;
        };
        let n = self.best.len() as u32;
        let s = match map.get(k) {
            Some(&s) => s,
            None => {
                map.insert(Box::from(k), n);
                n
            }
        };
        if s == n {
            self.best.push(NO_BEST);
        }
        s
    }

    fn push(&mut self, batch: &RecordBatch, layout: &Layout) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let what = |c: &str| format!("{c} time of source `{}`", layout.source_name);
        let us = TimeUnit::Microsecond;
        let (ts, ts_nulls) = to_epoch(batch.column(layout.ts), us, &what("event"))?;
        let created: Option<Vec<i64>> = match layout.created {
            None => None,
            Some(c) => {
                let (mut v, nulls) = to_epoch(batch.column(c), us, &what("created"))?;
                if let Some(nulls) = nulls {
                    for (i, x) in v.iter_mut().enumerate() {
                        if nulls.is_null(i) {
                            *x = i64::MIN;
                        }
                    }
                }
                Some(v)
            }
        };
        let keys: Vec<ArrayRef> = (0..layout.keys)
            .zip(&layout.key_types)
            .map(|(i, t)| Ok(cast(batch.column(i), t)?))
            .collect::<Result<_>>()?;
        let key_null = |i: usize| keys.iter().any(|k| k.is_null(i));
        let any_key_nulls = keys.iter().any(|k| k.null_count() > 0);
        let valid = |i: usize| {
            !ts_nulls.as_ref().is_some_and(|nb| nb.is_null(i))
                && (layout.start..=layout.end).contains(&ts[i])
                && !(any_key_nulls && key_null(i))
        };
        let chunk = self.kept.len() as u32;
        let mut taken: Vec<u32> = Vec::new();
        let created_of = |i: usize| created.as_ref().map_or(i64::MIN, |c| c[i]);
        if matches!(self.slots, KeySlots::Int(_)) {
            let k = keys[0].as_primitive::<Int64Type>().values().clone();
            for i in (0..n).filter(|&i| valid(i)) {
                let slot = self.slot_int(k[i]);
                if self.offer(slot, ts[i], created_of(i), chunk, taken.len() as u32) {
                    taken.push(i as u32);
                }
            }
        } else {
            let rows = match &self.slots {
                KeySlots::Rows { converter, .. } => converter.convert_columns(&keys)?,
                KeySlots::Int(_) => return Err(Error::Internal("key slots changed kind".into())),
            };
            for i in (0..n).filter(|&i| valid(i)) {
                let slot = self.slot_bytes(rows.row(i).as_ref());
                if self.offer(slot, ts[i], created_of(i), chunk, taken.len() as u32) {
                    taken.push(i as u32);
                }
            }
        }
        if taken.is_empty() {
            return Ok(());
        }
        let idx = UInt32Array::from(taken);
        let mut cols = Vec::with_capacity(keys.len() + layout.copied.len());
        for k in &keys {
            cols.push(take(k.as_ref(), &idx, None)?);
        }
        for &c in &layout.copied {
            cols.push(take(batch.column(c).as_ref(), &idx, None)?);
        }
        self.kept_rows += idx.len();
        self.kept.push(cols);
        if self.kept_rows > (2 * self.live).max(MIN_COMPACT_ROWS) {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the copied rows as exactly one row per live key.
    fn compact(&mut self) -> Result<()> {
        let Some(first) = self.kept.first() else {
            return Ok(());
        };
        let ncols = first.len();
        let mut indices = Vec::with_capacity(self.live);
        for b in self.best.iter_mut().filter(|b| b.batch != NONE) {
            indices.push((b.batch as usize, b.row as usize));
            b.batch = 0;
            b.row = indices.len() as u32 - 1;
        }
        let cols = (0..ncols)
            .map(|c| {
                let parts: Vec<&dyn Array> = self.kept.iter().map(|k| k[c].as_ref()).collect();
                Ok(interleave(&parts, &indices)?)
            })
            .collect::<Result<Vec<_>>>()?;
        self.kept = vec![cols];
        self.kept_rows = indices.len();
        Ok(())
    }

    /// Folds another partition's state into this one.
    fn merge(&mut self, other: LatestState) -> Result<()> {
        let offset = self.kept.len() as u32;
        self.kept.extend(other.kept);
        self.kept_rows += other.kept_rows;
        let offer = |me: &mut Self, slot: u32, b: &Best| {
            me.offer(slot, b.ts, b.created, b.batch + offset, b.row);
        };
        match other.slots {
            KeySlots::Int(map) => {
                for (k, s) in map {
                    let b = other.best[s as usize];
                    if b.batch != NONE {
                        let slot = self.slot_int(k);
                        offer(self, slot, &b);
                    }
                }
            }
            KeySlots::Rows { map, .. } => {
                for (k, s) in map {
                    let b = other.best[s as usize];
                    if b.batch != NONE {
                        let slot = self.slot_bytes(&k);
                        offer(self, slot, &b);
                    }
                }
            }
        }
        if self.kept_rows > (2 * self.live).max(MIN_COMPACT_ROWS) {
            self.compact()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_filter_covers_the_range_in_the_source_unit() {
        let dt = DataType::Timestamp(TimeUnit::Nanosecond, None);
        let f = time_filter("t", &dt, Some(5), 7).unwrap().to_string();
        assert!(f.contains("5000") && f.contains("7999"), "{f}");
        let dt = DataType::Timestamp(TimeUnit::Second, None);
        let f = time_filter("t", &dt, Some(-1), 1_500_000)
            .unwrap()
            .to_string();
        assert!(f.contains("-1") && f.contains("TimestampSecond(1"), "{f}");
        assert!(time_filter("t", &DataType::Utf8, None, 0).is_none());
        let ns = DataType::Timestamp(TimeUnit::Nanosecond, None);
        assert!(time_filter("t", &ns, None, i64::MAX).is_none());
    }
}
