//! What the offline execution plans share: folding every input partition on its own task,
//! the output stream, and carrying this crate's errors through DataFusion.
//!
//! The partition tasks live in a [`JoinSet`] owned by the plan's output stream: dropping
//! the stream aborts them, so no work outlives the caller's interest.

use std::future::Future;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::common::runtime::JoinSet;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use futures::{stream, StreamExt, TryStreamExt};

use crate::error::Error;

/// Folds each partition of `input` with `fold` on its own task; results in partition order.
/// Each fold gets its partition's stream and a memory reservation (named
/// `{name}[partition]`) in the session's pool for what it buffers; it returns the
/// reservation with its result so the memory stays accounted until the result is dropped.
pub(crate) async fn fold_partitions<S, F, Fut>(
    input: &Arc<dyn ExecutionPlan>,
    ctx: &Arc<TaskContext>,
    name: &str,
    fold: F,
) -> DfResult<Vec<S>>
where
    F: Fn(SendableRecordBatchStream, MemoryReservation) -> Fut,
    Fut: Future<Output = DfResult<S>> + Send + 'static,
    S: Send + 'static,
{
    let n = input.output_partitioning().partition_count();
    let mut tasks = JoinSet::new();
    for p in 0..n {
        let stream = input.execute(p, Arc::clone(ctx))?;
        let reservation = MemoryConsumer::new(format!("{name}[{p}]")).register(ctx.memory_pool());
        let work = fold(stream, reservation);
        tasks.spawn(async move { (p, work.await) });
    }
    let mut out: Vec<Option<S>> = (0..n).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (p, result) = done.map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))?;
        out[p] = Some(result?);
    }
    out.into_iter()
        .map(|s| {
            s.ok_or_else(|| {
                DataFusionError::Internal(format!("{name}: a partition gave no result"))
            })
        })
        .collect()
}

/// A stream that runs `work` when first polled and then yields its batches, holding
/// `reservation` (the output's memory) until the stream is dropped.
pub(crate) fn output_stream<Fut>(schema: SchemaRef, work: Fut) -> SendableRecordBatchStream
where
    Fut: Future<Output = DfResult<(Vec<RecordBatch>, MemoryReservation)>> + Send + 'static,
{
    let batches = stream::once(work)
        .map_ok(|(batches, reservation)| {
            stream::iter(batches).map(move |b| {
                let _held = &reservation;
                Ok(b)
            })
        })
        .try_flatten();
    Box::pin(RecordBatchStreamAdapter::new(schema, batches))
}

/// Splits columns of `rows` rows into batches of at most `batch_size` rows (zero-copy).
pub(crate) fn slice_batches(batch: RecordBatch, batch_size: usize) -> Vec<RecordBatch> {
    let rows = batch.num_rows();
    let size = batch_size.max(1);
    if rows <= size {
        return vec![batch];
    }
    (0..rows)
        .step_by(size)
        .map(|start| batch.slice(start, size.min(rows - start)))
        .collect()
}

/// This crate's error, carried through DataFusion.
pub(crate) fn to_df(e: Error) -> DataFusionError {
    match e {
        Error::DataFusion(e) => e,
        other => DataFusionError::External(Box::new(other)),
    }
}

/// A DataFusion error as this crate's error: one of ours carried through DataFusion comes
/// back as itself, so its message and hint are not buried under the engine's wrapping.
pub(crate) fn from_df(e: DataFusionError) -> Error {
    match e {
        DataFusionError::External(inner) => match inner.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => Error::DataFusion(DataFusionError::External(other)),
        },
        DataFusionError::Context(ctx, inner) => match from_df(*inner) {
            Error::DataFusion(inner) => {
                Error::DataFusion(DataFusionError::Context(ctx, Box::new(inner)))
            }
            ours => ours,
        },
        DataFusionError::Shared(shared) => match Arc::try_unwrap(shared) {
            Ok(inner) => from_df(inner),
            Err(shared) => Error::DataFusion(DataFusionError::Shared(shared)),
        },
        other => Error::DataFusion(other),
    }
}
