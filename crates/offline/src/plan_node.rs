//! The offline operators as logical plan nodes: one DataFusion extension node
//! ([`OfflineNode`]) over the source scan, carrying one operator's parameters.
//!
//! Each operator's parameters are a plain struct ([`PointInTimeParams`], [`LatestRowParams`],
//! [`WindowJoinParams`]) a distributed engine can serialise; the spine-derived data an
//! operator reads (the indexed spine, the key table) travels beside them as shared,
//! read-only state ([`Shared`]). `OfflineQueryPlanner` (in `query_planner.rs`) turns the
//! node into the matching `ExecutionPlan`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::{DFSchema, DFSchemaRef, Result as DfResult};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};

use crate::latest_row_exec::LatestRowParams;
use crate::point_in_time::PointInTimeParams;
use crate::point_in_time_exec::PitSide;
use crate::progress::Progress;
use crate::window_join_exec::{WindowJoinParams, WindowSide};

/// Read-only state shared by a plan node and its execution plan, compared by identity.
pub(crate) struct Shared<T: ?Sized>(pub(crate) Arc<T>);

impl<T: ?Sized> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared({:p})", Arc::as_ptr(&self.0))
    }
}

impl<T: ?Sized> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T: ?Sized> Eq for Shared<T> {}

impl<T: ?Sized> Hash for Shared<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as *const () as usize).hash(state);
    }
}

impl<T: ?Sized> PartialOrd for Shared<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

/// Which operator a node runs, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub(crate) enum OfflineOp {
    /// The point-in-time join of a spine with a feature view.
    PointInTime(PointInTimeParams, Shared<PitSide>),
    /// The latest row per entity in a time range.
    LatestRow(LatestRowParams, Shared<dyn Progress>),
    /// Window aggregations as of each spine row.
    WindowJoin(WindowJoinParams, Shared<WindowSide>),
}

impl OfflineOp {
    fn name(&self) -> &'static str {
        match self {
            OfflineOp::PointInTime(..) => "PointInTimeJoin",
            OfflineOp::LatestRow(..) => "LatestRowScan",
            OfflineOp::WindowJoin(..) => "WindowJoin",
        }
    }
}

/// An offline operator over its input (the projected, filtered source scan).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct OfflineNode {
    pub(crate) op: OfflineOp,
    pub(crate) input: LogicalPlan,
    /// The output schema (also kept as Arrow for the physical plan).
    pub(crate) output: SchemaRef,
    schema: DFSchemaRef,
}

impl PartialOrd for OfflineNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.op.partial_cmp(&other.op) {
            Some(Ordering::Equal) => self.input.partial_cmp(&other.input),
            o => o,
        }
    }
}

impl OfflineNode {
    /// The node as a logical plan.
    pub(crate) fn plan(
        op: OfflineOp,
        input: LogicalPlan,
        output: SchemaRef,
    ) -> DfResult<LogicalPlan> {
        let schema = Arc::new(DFSchema::try_from(output.as_ref().clone())?);
        let node = OfflineNode {
            op,
            input,
            output,
            schema,
        };
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        }))
    }
}

impl UserDefinedLogicalNodeCore for OfflineNode {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: ", self.op.name())?;
        match &self.op {
            OfflineOp::PointInTime(p, _) => crate::point_in_time_exec::fmt_params(p, f),
            OfflineOp::LatestRow(p, _) => crate::latest_row_exec::fmt_params(p, f),
            OfflineOp::WindowJoin(p, _) => crate::window_join_exec::fmt_params(p, f),
        }
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> DfResult<Self> {
        let input = inputs.pop().ok_or_else(|| {
            datafusion::common::DataFusionError::Internal(format!(
                "{} needs exactly one input",
                self.op.name()
            ))
        })?;
        Ok(Self {
            op: self.op.clone(),
            input,
            output: self.output.clone(),
            schema: self.schema.clone(),
        })
    }
}
