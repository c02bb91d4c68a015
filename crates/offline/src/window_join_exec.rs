//! `WindowJoinExec`: window aggregations as of each spine row (see
//! [`window_join`](crate)) as a DataFusion execution plan.
//!
//! Input: the source scan (keys, event time as read, then the aggregated and filter
//! columns), merged into one stream. Output: one partition, one column per requested
//! feature, one row per spine row, in spine order. The kept events are reserved in the
//! session's memory pool as `WindowJoinExec[0]`. Metrics: `output_rows`, `elapsed_compute`
//! (keeping the events and the folds), `input_rows` (source rows read) and `matched_rows`
//! (spine rows answered).

use std::fmt;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, UInt32Array};
use arrow::compute::{concat, take};
use arrow::datatypes::{SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Result as DfResult;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, Distribution, ExecutionPlan,
    ExecutionPlanProperties, PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;
use tessera_core::aggregate::{Value, ViewSpec};
use tessera_core::{run_parts, threads_for, ArrowValues, FeatureType};

use crate::entity_keys::{KeyIndex, NO_KEY};
use crate::error::{Error, Result};
use crate::partition_fold::{output_stream, slice_batches, to_df};
use crate::plan_node::Shared;
use crate::point_in_time_exec::{cast_to, one_child, only_partition_zero, single_partition};
use crate::progress::Progress;
use crate::timestamps::to_epoch;
use crate::value_column::ValueColumn;
use crate::window_fold::{
    group_by_key, split_keys, Events, FoldPlan, KeyFold, ScanRow, MIN_KEYS_PER_THREAD,
};

/// The parameters of one window join (plain data, so a distributed engine can ship them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct WindowJoinParams {
    /// The aggregation view (for display and error messages).
    pub view: String,
    /// Its source (for error messages).
    pub source_name: String,
    /// The requested aggregation features, in output order.
    pub features: Vec<String>,
    /// The number of key columns; they come first in the input, then the event time, then
    /// `read_columns`.
    pub keys: usize,
    /// The aggregated and filter columns read.
    pub read_columns: Vec<String>,
    /// The earliest event time any requested window needs, µs (`i64::MIN`: unbounded).
    pub lo_us: i64,
    /// The latest spine time, µs.
    pub hi_us: i64,
}

/// What the join reads besides its input: the view's aggregations and the spine's times
/// per key (built once from the spine, shared read-only), and where to report progress.
pub(crate) struct WindowSide {
    pub(crate) spec: ViewSpec,
    /// The spec index of each requested feature.
    pub(crate) positions: Vec<usize>,
    /// Per spine key id: (T, spine row), sorted by T.
    pub(crate) queries: Vec<Vec<(i64, u32)>>,
    pub(crate) key_index: KeyIndex,
    pub(crate) dtypes: Vec<FeatureType>,
    pub(crate) spine_rows: usize,
    pub(crate) progress: Arc<dyn Progress>,
}

/// Window aggregations of one view as of each spine row.
#[derive(Debug)]
pub struct WindowJoinExec {
    params: WindowJoinParams,
    side: Shared<WindowSide>,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl WindowJoinExec {
    pub(crate) fn new(
        params: WindowJoinParams,
        side: Shared<WindowSide>,
        input: Arc<dyn ExecutionPlan>,
        output: SchemaRef,
    ) -> Self {
        Self {
            params,
            side,
            input,
            properties: Arc::new(single_partition(output)),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The join's parameters.
    pub fn params(&self) -> &WindowJoinParams {
        &self.params
    }
}

/// The parameters as `EXPLAIN` shows them.
pub(crate) fn fmt_params(p: &WindowJoinParams, f: &mut fmt::Formatter) -> fmt::Result {
    write!(
        f,
        "view={}, source={}, features={:?}, keys={}, read={:?}, events_us=[{}, {}]",
        p.view, p.source_name, p.features, p.keys, p.read_columns, p.lo_us, p.hi_us
    )
}

impl DisplayAs for WindowJoinExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "WindowJoinExec: ")?;
        fmt_params(&self.params, f)?;
        write!(f, ", spine_rows={}", self.side.0.spine_rows)
    }
}

impl ExecutionPlan for WindowJoinExec {
    fn name(&self) -> &str {
        "WindowJoinExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = one_child(&mut children, self.name())?;
        Ok(Arc::new(Self::new(
            self.params.clone(),
            self.side.clone(),
            input,
            self.schema(),
        )))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        only_partition_zero(partition, self.name())?;
        // The planner gives one input partition (`required_input_distribution`); merge
        // any more here, so the operator stands on its own.
        let input = if self.input.output_partitioning().partition_count() == 1 {
            Arc::clone(&self.input)
        } else {
            Arc::new(CoalescePartitionsExec::new(Arc::clone(&self.input)))
        };
        let stream = input.execute(0, Arc::clone(&context))?;
        let reservation = MemoryConsumer::new("WindowJoinExec[0]").register(context.memory_pool());
        let run = WindowRun {
            params: self.params.clone(),
            side: Arc::clone(&self.side.0),
            schema: self.schema(),
            baseline: BaselineMetrics::new(&self.metrics, partition),
            input_rows: MetricBuilder::new(&self.metrics).counter("input_rows", partition),
            matched: MetricBuilder::new(&self.metrics).counter("matched_rows", partition),
            batch_size: context.session_config().batch_size(),
        };
        Ok(output_stream(self.schema(), run.run(stream, reservation)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// One execution of the join.
struct WindowRun {
    params: WindowJoinParams,
    side: Arc<WindowSide>,
    schema: SchemaRef,
    baseline: BaselineMetrics,
    input_rows: Count,
    matched: Count,
    batch_size: usize,
}

impl WindowRun {
    async fn run(
        self,
        stream: SendableRecordBatchStream,
        reservation: MemoryReservation,
    ) -> DfResult<(Vec<RecordBatch>, MemoryReservation)> {
        let plan = FoldPlan::new(&self.side.spec, &self.side.positions);
        let events = self.keep_events(stream, &plan, &reservation).await?;
        let timer = self.baseline.elapsed_compute().timer();
        let columns = self.fold(&plan, &events).map_err(to_df)?;
        drop(events);
        let columns = columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(c, f)| cast_to(c, f.data_type()))
            .collect::<DfResult<Vec<_>>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        reservation.try_resize(batch.get_array_memory_size())?;
        self.baseline.record_output(batch.num_rows());
        let batches = slice_batches(batch, self.batch_size);
        drop(timer);
        self.baseline.done();
        Ok((batches, reservation))
    }

    /// Reads the scan, keeping the events of spine keys within `[lo, hi]`.
    async fn keep_events(
        &self,
        mut stream: SendableRecordBatchStream,
        plan: &FoldPlan<'_>,
        reservation: &MemoryReservation,
    ) -> DfResult<Events> {
        let names = &self.params.read_columns;
        let (lo, hi) = (self.params.lo_us, self.params.hi_us);
        let mut events = Events {
            key: Vec::new(),
            ts: Vec::new(),
            columns: (0..plan.columns.len())
                .map(|_| ValueColumn::default())
                .collect(),
            passes: vec![Vec::new(); plan.filters.len()],
        };
        let nk = self.params.keys;
        let mut buf = Vec::new();
        let what = format!("source `{}` event time", self.params.source_name);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            self.input_rows.add(batch.num_rows());
            self.side.progress.advance(batch.num_rows() as u64);
            let timer = self.baseline.elapsed_compute().timer();
            let kc: Vec<ArrayRef> = (0..nk).map(|i| batch.column(i).clone()).collect();
            self.side.key_index.lookup(&kc, &mut buf).map_err(to_df)?;
            let (ts, ts_nulls) =
                to_epoch(batch.column(nk), TimeUnit::Microsecond, &what).map_err(to_df)?;
            let mut datums = (0..names.len())
                .map(|i| {
                    let r = ArrowValues::new(batch.column(nk + 1 + i))?;
                    Ok((0..batch.num_rows()).map(|row| r.get(row)).collect())
                })
                .collect::<Result<Vec<Vec<Value>>>>()
                .map_err(to_df)?;
            for (row, (&k, &t)) in buf.iter().zip(&ts).enumerate() {
                if k == NO_KEY
                    || ts_nulls.as_ref().is_some_and(|n| n.is_null(row))
                    || t < lo
                    || t > hi
                {
                    continue;
                }
                events.key.push(k);
                events.ts.push(t);
                let scan_row = ScanRow {
                    names,
                    columns: &datums,
                    row,
                };
                for (mask, f) in events.passes.iter_mut().zip(&plan.filters) {
                    mask.push(f.eval(&scan_row));
                }
                // The aggregated columns come first in `names`: moved, not copied.
                for (c, col) in events.columns.iter_mut().zip(datums.iter_mut()) {
                    c.push(std::mem::replace(&mut col[row], Value::Null));
                }
            }
            drop(timer);
            reservation.try_resize(events.memory_size())?;
        }
        Ok(events)
    }

    /// Folds every key's spine times over its events, on every core; the feature columns
    /// in spine order.
    fn fold(&self, plan: &FoldPlan<'_>, events: &Events) -> Result<Vec<ArrayRef>> {
        let side = &self.side;
        let nkeys = side.queries.len();
        let by_key = group_by_key(events, nkeys)?;
        let threads = threads_for(nkeys, MIN_KEYS_PER_THREAD);
        let ranges = split_keys(&side.queries, &by_key, threads);
        let fold = KeyFold {
            groups: &plan.groups,
            events,
            by_key: &by_key,
            queries: &side.queries,
            dtypes: &side.dtypes,
        };
        let parts = run_parts(ranges, |r| fold.run(r))
            .into_iter()
            .map(|p| {
                let p = p.unwrap_or_else(|_| {
                    Err(Error::Internal("a window-join worker panicked".into()))
                });
                p.map_err(|e| match e {
                    Error::Internal(m) => {
                        Error::Internal(format!("aggregating {}: {m}", self.params.view))
                    }
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // The parts' rows, concatenated, are a permutation of the answered spine rows:
        // each slot's arrays are concatenated, then taken into spine order (null for rows
        // with no key or no time).
        let mut at: Vec<Option<u32>> = vec![None; side.spine_rows];
        let mut matched = 0usize;
        let mut pos = 0u32;
        for p in &parts {
            matched += p.matched;
            for &row in &p.rows {
                at[row as usize] = Some(pos);
                pos += 1;
            }
        }
        self.matched.add(matched);
        let indices = UInt32Array::from(at);
        (0..side.dtypes.len())
            .map(|slot| {
                let pieces: Vec<&dyn Array> =
                    parts.iter().map(|p| p.values[slot].as_ref()).collect();
                into_spine_order(&pieces, &indices)
            })
            .collect()
    }
}

/// The pieces' values, concatenated, taken into spine order: `indices[row]` is the position
/// of spine row `row` in the concatenation, null for rows no piece answers (no key, no
/// time). With no value at all every row is null.
fn into_spine_order(pieces: &[&dyn Array], indices: &UInt32Array) -> Result<ArrayRef> {
    let all = match pieces {
        [] => {
            return Err(Error::Internal(
                "a window join without output pieces".into(),
            ))
        }
        [one] => one.slice(0, one.len()),
        many => concat(many)?,
    };
    if all.is_empty() {
        return Ok(new_null_array(all.data_type(), indices.len()));
    }
    Ok(take(all.as_ref(), indices, None)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::DataType;

    #[test]
    fn pieces_are_taken_into_spine_order() {
        let a = Int64Array::from(vec![10, 11]);
        let b = Int64Array::from(vec![Some(20), None]);
        let idx = UInt32Array::from(vec![Some(3), None, Some(0), Some(2), Some(1)]);
        let got = into_spine_order(&[&a, &b], &idx).unwrap();
        let want = Int64Array::from(vec![None, None, Some(10), Some(20), Some(11)]);
        assert_eq!(got.as_ref(), &want as &dyn Array);
        // Nothing answered (no spine row has a key or a time): all null, of the right type.
        let empty = Int64Array::from(Vec::<i64>::new());
        let idx = UInt32Array::from(vec![None, None]);
        let got = into_spine_order(&[&empty, &empty], &idx).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got.null_count(), 2);
        assert_eq!(got.data_type(), &DataType::Int64);
    }
}
