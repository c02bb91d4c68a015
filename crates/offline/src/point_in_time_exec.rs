//! `PointInTimeJoinExec`: the point-in-time join (see [`point_in_time`](crate)) as a
//! DataFusion execution plan.
//!
//! Input: the source scan (keys, event time, created time, feature columns), any number of
//! partitions. Output: one partition, one column per feature, one row per spine row, in
//! spine order. Each input partition is joined on its own task into its own best-so-far
//! answers (memory reserved in the session's pool as `PointInTimeJoinExec[p]`); the answers
//! are merged in partition order when every partition is done. Metrics: `output_rows`,
//! `elapsed_compute` (the join's own work, not the scan's), `input_rows` (source rows read)
//! and `matched_rows` (spine rows that found a feature row).

use std::fmt;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::datatypes::{SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::MemoryReservation;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;

use crate::entity_keys::KeyIndex;
use crate::partition_fold::{fold_partitions, output_stream, slice_batches, to_df};
use crate::plan_node::Shared;
use crate::point_in_time::{PitJoiner, PitState, PointInTimeParams, SpineIndex};
use crate::progress::Progress;
use crate::timestamps::factor;

/// What the join reads besides its input: the indexed spine and its key table (built once
/// from the spine, shared read-only), and where to report progress.
pub(crate) struct PitSide {
    pub(crate) spine: Arc<SpineIndex>,
    pub(crate) keys: Arc<KeyIndex>,
    pub(crate) progress: Arc<dyn Progress>,
}

/// The point-in-time join of a spine with one feature view's source.
#[derive(Debug)]
pub struct PointInTimeJoinExec {
    params: PointInTimeParams,
    side: Shared<PitSide>,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl PointInTimeJoinExec {
    pub(crate) fn new(
        params: PointInTimeParams,
        side: Shared<PitSide>,
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
    pub fn params(&self) -> &PointInTimeParams {
        &self.params
    }
}

/// Plan properties of an operator that emits its whole answer, once, in one partition.
pub(crate) fn single_partition(schema: SchemaRef) -> PlanProperties {
    PlanProperties::new(
        EquivalenceProperties::new(schema),
        Partitioning::UnknownPartitioning(1),
        EmissionType::Final,
        Boundedness::Bounded,
    )
}

/// `7d`, `36h`, `90s` … for a duration of `n` `unit`s.
pub(crate) fn fmt_duration(n: i64, unit: TimeUnit) -> String {
    let per_second = factor(TimeUnit::Second, unit);
    if n % per_second != 0 {
        let suffix = match unit {
            TimeUnit::Second => "s",
            TimeUnit::Millisecond => "ms",
            TimeUnit::Microsecond => "us",
            TimeUnit::Nanosecond => "ns",
        };
        return format!("{n}{suffix}");
    }
    let s = n / per_second;
    for (size, suffix) in [(86_400, "d"), (3_600, "h"), (60, "m")] {
        if s != 0 && s % size == 0 {
            return format!("{}{suffix}", s / size);
        }
    }
    format!("{s}s")
}

/// The parameters as `EXPLAIN` shows them.
pub(crate) fn fmt_params(p: &PointInTimeParams, f: &mut fmt::Formatter) -> fmt::Result {
    let ttl = p
        .ttl
        .map_or("none".to_string(), |t| fmt_duration(t, p.unit));
    write!(
        f,
        "view={}, source={}, ttl={ttl}, keys={:?}, event_ts={}, created_ts={:?}, features={:?}, unit={:?}, chunk_rows={}",
        p.view, p.source_name, p.keys, p.ts, p.created, p.features, p.unit, p.chunk_rows
    )
}

impl DisplayAs for PointInTimeJoinExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PointInTimeJoinExec: ")?;
        fmt_params(&self.params, f)?;
        write!(f, ", spine_rows={}", self.side.0.spine.rows)
    }
}

impl ExecutionPlan for PointInTimeJoinExec {
    fn name(&self) -> &str {
        "PointInTimeJoinExec"
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
        let run = PitRun {
            params: Arc::new(self.params.clone()),
            side: Arc::clone(&self.side.0),
            input: Arc::clone(&self.input),
            schema: self.schema(),
            baseline: BaselineMetrics::new(&self.metrics, partition),
            input_rows: MetricBuilder::new(&self.metrics).counter("input_rows", partition),
            matched: MetricBuilder::new(&self.metrics).counter("matched_rows", partition),
        };
        Ok(output_stream(self.schema(), run.run(context)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The single child of a unary operator.
pub(crate) fn one_child(
    children: &mut Vec<Arc<dyn ExecutionPlan>>,
    name: &str,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    match (children.pop(), children.is_empty()) {
        (Some(c), true) => Ok(c),
        _ => Err(DataFusionError::Internal(format!(
            "{name} takes exactly one input"
        ))),
    }
}

/// Refuses any partition but 0: the operators emit one partition.
pub(crate) fn only_partition_zero(partition: usize, name: &str) -> DfResult<()> {
    if partition == 0 {
        Ok(())
    } else {
        Err(DataFusionError::Internal(format!(
            "{name} has one output partition, asked for partition {partition}"
        )))
    }
}

/// One execution of the join.
struct PitRun {
    params: Arc<PointInTimeParams>,
    side: Arc<PitSide>,
    input: Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
    baseline: BaselineMetrics,
    input_rows: Count,
    matched: Count,
}

impl PitRun {
    async fn run(self, ctx: Arc<TaskContext>) -> DfResult<(Vec<RecordBatch>, MemoryReservation)> {
        let elapsed = self.baseline.elapsed_compute().clone();
        let parts = fold_partitions(&self.input, &ctx, "PointInTimeJoinExec", |stream, res| {
            join_partition(
                stream,
                res,
                Arc::clone(&self.params),
                Arc::clone(&self.side),
                self.input_rows.clone(),
                elapsed.clone(),
            )
        })
        .await?;
        let timer = elapsed.timer();
        let mut merged: Option<(PitState, MemoryReservation)> = None;
        for (state, res) in parts {
            match &mut merged {
                None => merged = Some((state, res)),
                Some((m, _)) => m.merge(state),
            }
        }
        let (state, reservation) = match merged {
            Some(m) => m,
            None => {
                let empty = PitJoiner::new(&self.side.spine, &self.side.keys, &self.params);
                let res = datafusion::execution::memory_pool::MemoryConsumer::new(
                    "PointInTimeJoinExec[output]",
                )
                .register(ctx.memory_pool());
                (empty.finish().map_err(to_df)?, res)
            }
        };
        reservation.try_resize(state.memory_size())?;
        self.matched.add(state.matched());
        let input_schema = self.input.schema();
        let raw_types: Vec<_> = self
            .params
            .features
            .iter()
            .map(|&i| input_schema.field(i).data_type().clone())
            .collect();
        let columns = state.finish(&raw_types).map_err(to_df)?;
        drop(state);
        let columns = columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(c, f)| cast_to(c, f.data_type()))
            .collect::<DfResult<Vec<_>>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        reservation.try_resize(batch.get_array_memory_size())?;
        self.baseline.record_output(batch.num_rows());
        let batches = slice_batches(batch, ctx.session_config().batch_size());
        drop(timer);
        self.baseline.done();
        Ok((batches, reservation))
    }
}

/// A column cast to `dt` (unchanged when it already has that type).
pub(crate) fn cast_to(c: ArrayRef, dt: &arrow::datatypes::DataType) -> DfResult<ArrayRef> {
    if c.data_type() == dt {
        Ok(c)
    } else {
        Ok(cast(&c, dt)?)
    }
}

/// Joins one input partition into its best-so-far answers.
async fn join_partition(
    mut stream: SendableRecordBatchStream,
    reservation: MemoryReservation,
    params: Arc<PointInTimeParams>,
    side: Arc<PitSide>,
    input_rows: Count,
    elapsed: Time,
) -> DfResult<(PitState, MemoryReservation)> {
    let mut joiner = PitJoiner::new(&side.spine, &side.keys, &params);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        input_rows.add(batch.num_rows());
        side.progress.advance(batch.num_rows() as u64);
        let timer = elapsed.timer();
        joiner.push(&batch).map_err(to_df)?;
        drop(timer);
        reservation.try_resize(joiner.memory_size())?;
    }
    let timer = elapsed.timer();
    let state = joiner.finish().map_err(to_df)?;
    drop(timer);
    reservation.try_resize(state.memory_size())?;
    Ok((state, reservation))
}
