//! Showing the offline plans: the physical plan with the Tessera operators, and after a
//! run the same plan with each operator's metrics (`EXPLAIN ANALYZE`).

use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::metrics::MetricValue;
use datafusion::physical_plan::ExecutionPlan;

/// The plan as an indented tree, one operator a line; with `metrics`, each operator's
/// metrics (rows, time, the operators' own counts) as gathered so far, summed over
/// partitions.
pub fn display_plan(plan: &dyn ExecutionPlan, metrics: bool) -> String {
    let shown = if metrics {
        DisplayableExecutionPlan::with_metrics(plan)
    } else {
        DisplayableExecutionPlan::new(plan)
    };
    shown.indent(false).to_string()
}

/// The sum of metric `name` over the partitions of the first operator called `operator`
/// in the plan (depth first); 0 when there is no such operator or metric. `elapsed_compute`
/// is in nanoseconds.
pub fn metric(plan: &dyn ExecutionPlan, operator: &str, name: &str) -> usize {
    let Some(metrics) = find(plan, operator).and_then(|p| p.metrics()) else {
        return 0;
    };
    // The baseline metrics have their own kinds, which `sum_by_name` does not match.
    match name {
        "output_rows" => metrics.output_rows(),
        "elapsed_compute" => metrics.elapsed_compute(),
        _ => metrics.sum_by_name(name).map(|v: MetricValue| v.as_usize()),
    }
    .unwrap_or(0)
}

fn find<'a>(plan: &'a dyn ExecutionPlan, operator: &str) -> Option<&'a dyn ExecutionPlan> {
    if plan.name() == operator {
        return Some(plan);
    }
    plan.children()
        .into_iter()
        .find_map(|c| find(c.as_ref(), operator))
}
