//! Plans [`OfflineNode`]s into their execution plans: the session's query planner is
//! DataFusion's default planner with [`OfflinePlanner`] as an extension planner.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use crate::latest_row_exec::LatestRowExec;
use crate::plan_node::{OfflineNode, OfflineOp};
use crate::point_in_time_exec::PointInTimeJoinExec;
use crate::window_join_exec::WindowJoinExec;

/// DataFusion's planner, knowing the offline operators.
#[derive(Debug, Default)]
pub(crate) struct OfflineQueryPlanner;

#[async_trait]
impl QueryPlanner for OfflineQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(OfflinePlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

/// Turns an [`OfflineNode`] into its execution plan.
#[derive(Debug, Default)]
pub(crate) struct OfflinePlanner;

#[async_trait]
impl ExtensionPlanner for OfflinePlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<OfflineNode>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return Err(DataFusionError::Internal(format!(
                "{} needs exactly one input, got {}",
                node.name(),
                physical_inputs.len()
            )));
        };
        let input = Arc::clone(input);
        let output = node.output.clone();
        let plan: Arc<dyn ExecutionPlan> = match &node.op {
            OfflineOp::PointInTime(params, side) => Arc::new(PointInTimeJoinExec::new(
                params.clone(),
                side.clone(),
                input,
                output,
            )),
            OfflineOp::LatestRow(params, progress) => Arc::new(LatestRowExec::new(
                params.clone(),
                progress.clone(),
                input,
                output,
            )),
            OfflineOp::WindowJoin(params, side) => Arc::new(WindowJoinExec::new(
                params.clone(),
                side.clone(),
                input,
                output,
            )),
        };
        Ok(Some(plan))
    }
}
