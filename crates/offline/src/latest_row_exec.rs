//! `LatestRowExec`: the latest row per entity in a time range (see
//! [`latest_row_scan`](crate)) as a DataFusion execution plan.
//!
//! Input: the source scan (keys, event time, created time, the distinct feature columns),
//! any number of partitions. Output: one partition, one row per entity found, in no
//! particular order: the key columns (normalised), `__event_ts` and `__created_ts` (µs,
//! `Int64`; `i64::MIN` for no created time), then one column per feature. Each input
//! partition keeps its own per-key state on its own task (memory reserved in the session's
//! pool as `LatestRowExec[p]`); the states are merged in partition order. Metrics:
//! `output_rows`, `elapsed_compute`, `input_rows` (source rows read).

pub use crate::latest_row_state::LatestRowParams;

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Result as DfResult;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties,
    ReplaceChildrenOptions,
};
use futures::StreamExt;

use crate::latest_row_state::LatestState;
use crate::partition_fold::{fold_partitions, output_stream, to_df};
use crate::plan_node::Shared;
use crate::point_in_time_exec::{one_child, only_partition_zero, single_partition};
use crate::progress::Progress;

/// The latest row per entity of one feature view's source.
#[derive(Debug)]
pub struct LatestRowExec {
    params: LatestRowParams,
    progress: Shared<dyn Progress>,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl LatestRowExec {
    pub(crate) fn new(
        params: LatestRowParams,
        progress: Shared<dyn Progress>,
        input: Arc<dyn ExecutionPlan>,
        output: SchemaRef,
    ) -> Self {
        Self {
            params,
            progress,
            input,
            properties: Arc::new(single_partition(output)),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The scan's parameters.
    pub fn params(&self) -> &LatestRowParams {
        &self.params
    }
}

/// The parameters as `EXPLAIN` shows them.
pub(crate) fn fmt_params(p: &LatestRowParams, f: &mut fmt::Formatter) -> fmt::Result {
    let start = if p.start_us == i64::MIN {
        "none".to_string()
    } else {
        p.start_us.to_string()
    };
    write!(
        f,
        "view={}, source={}, start_us={start}, end_us={}, keys={}, event_ts={}, created_ts={:?}, copied={:?}",
        p.view, p.source_name, p.end_us, p.keys, p.ts, p.created, p.copied
    )
}

impl DisplayAs for LatestRowExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LatestRowExec: ")?;
        fmt_params(&self.params, f)
    }
}

impl ExecutionPlan for LatestRowExec {
    fn name(&self) -> &str {
        "LatestRowExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
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
            self.progress.clone(),
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
        let run = LatestRun {
            params: Arc::new(self.params.clone()),
            progress: Arc::clone(&self.progress.0),
            input: Arc::clone(&self.input),
            schema: self.schema(),
            baseline: BaselineMetrics::new(&self.metrics, partition),
            input_rows: MetricBuilder::new(&self.metrics).counter("input_rows", partition),
        };
        Ok(output_stream(self.schema(), run.run(context)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// One execution of the scan.
struct LatestRun {
    params: Arc<LatestRowParams>,
    progress: Arc<dyn Progress>,
    input: Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
    baseline: BaselineMetrics,
    input_rows: Count,
}

impl LatestRun {
    async fn run(self, ctx: Arc<TaskContext>) -> DfResult<(Vec<RecordBatch>, MemoryReservation)> {
        let elapsed = self.baseline.elapsed_compute().clone();
        let parts = fold_partitions(&self.input, &ctx, "LatestRowExec", |stream, res| {
            latest_of_partition(
                stream,
                res,
                Arc::clone(&self.params),
                Arc::clone(&self.progress),
                self.input_rows.clone(),
                elapsed.clone(),
            )
        })
        .await?;
        let timer = elapsed.timer();
        let mut merged: Option<(LatestState, MemoryReservation)> = None;
        for (state, res) in parts {
            match &mut merged {
                None => merged = Some((state, res)),
                Some((m, _)) => m.merge(state).map_err(to_df)?,
            }
        }
        let (state, reservation) = match merged {
            Some(m) => m,
            None => (
                LatestState::new(&self.params).map_err(to_df)?,
                MemoryConsumer::new("LatestRowExec[output]").register(ctx.memory_pool()),
            ),
        };
        reservation.try_resize(state.memory_size())?;
        let batches = state
            .output(
                &self.params,
                &self.schema,
                ctx.session_config().batch_size(),
            )
            .map_err(to_df)?;
        drop(state);
        let bytes = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        reservation.try_resize(bytes)?;
        for b in &batches {
            self.baseline.record_output(b.num_rows());
        }
        drop(timer);
        self.baseline.done();
        Ok((batches, reservation))
    }
}

/// Keeps the latest row per entity of one input partition.
async fn latest_of_partition(
    mut stream: SendableRecordBatchStream,
    reservation: MemoryReservation,
    params: Arc<LatestRowParams>,
    progress: Arc<dyn Progress>,
    input_rows: Count,
    elapsed: Time,
) -> DfResult<(LatestState, MemoryReservation)> {
    let mut state = LatestState::new(&params).map_err(to_df)?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        input_rows.add(batch.num_rows());
        progress.advance(batch.num_rows() as u64);
        let timer = elapsed.timer();
        state.push(&batch, &params).map_err(to_df)?;
        drop(timer);
        reservation.try_resize(state.memory_size())?;
    }
    Ok((state, reservation))
}
