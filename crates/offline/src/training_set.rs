//! Point-in-time-correct training sets: a spine in, the spine plus feature columns out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion::common::Column;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{lit, Expr, SessionContext};
use tessera_core::{Catalog, FeatureRef, FeatureViewDef};

use crate::candidate_filter::CandidateFilter;
use crate::entity_keys::{key_type, KeyIndex};
use crate::error::{Error, Result};
use crate::explain::metric;
use crate::on_demand_columns::OnDemandPlan;
use crate::partition_fold::from_df;
use crate::plan_node::{OfflineNode, OfflineOp, Shared};
use crate::point_in_time::{PointInTimeParams, SpineIndex, CHUNK_ROWS};
use crate::point_in_time_exec::PitSide;
use crate::progress::Progress;
use crate::schema_check::check_views;
use crate::source_scan::{
    arrow_schema, default_partitions, open_source, parquet_row_count, session,
    session_with_memory_limit,
};
use crate::spine::read_spine;
use crate::time_filter::time_filter;
use crate::timestamps::{duration_in, finer, to_epoch, unit_of};

/// What to build.
#[derive(Debug, Clone)]
pub struct TrainingSetRequest {
    /// The spine file (Parquet or CSV).
    pub spine: PathBuf,
    /// The features, in output order (`view:*` is expanded).
    pub features: Vec<FeatureRef>,
    /// The spine's timestamp column.
    pub timestamp_column: String,
    /// Name output columns `feature` instead of `view__feature`.
    pub short_names: bool,
}

/// Per-view figures from one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewStats {
    /// The view.
    pub view: String,
    /// Source rows read.
    pub rows_scanned: u64,
    /// Spine rows that found a feature row.
    pub matched: usize,
}

/// The result: the spine's columns, then one column per feature, in spine order.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    /// The rows.
    pub batch: RecordBatch,
    /// Per-view figures.
    pub views: Vec<ViewStats>,
    /// The executed physical plan of each view's join, with its metrics
    /// ([`display_plan`](crate::display_plan) with `metrics: true` shows them).
    pub plans: Vec<Arc<dyn ExecutionPlan>>,
}

/// A checked request, ready to run: every input problem has been found before this exists.
pub struct PreparedTrainingSet {
    spine: RecordBatch,
    spine_ts: usize,
    views: Vec<ViewPlan>,
    /// Output column name of each requested feature, in request order.
    pub columns: Vec<(FeatureRef, String)>,
    /// The on-demand features, evaluated after the joins.
    on_demand: Vec<OnDemandPlan>,
}

impl PreparedTrainingSet {
    /// Number of spine rows.
    pub fn spine_rows(&self) -> usize {
        self.spine.num_rows()
    }

    /// Total source rows to scan, when the sources' footers tell.
    pub fn rows_to_scan(&self) -> Option<u64> {
        self.views.iter().map(|v| v.rows_hint).sum()
    }
}

struct ViewPlan {
    view: FeatureViewDef,
    source_name: String,
    df: DataFrame,
    keys: Vec<String>,
    ts_col: String,
    created_col: Option<String>,
    /// (feature ref, source column, output type)
    features: Vec<(FeatureRef, String, DataType)>,
    rows_hint: Option<u64>,
}

/// Runs offline work for one feature repository.
pub struct OfflineEngine {
    ctx: SessionContext,
    root: PathBuf,
    catalog: Arc<Catalog>,
    chunk_rows: usize,
    candidate_filter: bool,
}

impl OfflineEngine {
    /// An engine over the repository at `root`, using every core.
    pub fn new(root: &Path, catalog: Arc<Catalog>) -> Self {
        Self::with_partitions(root, catalog, default_partitions())
    }

    /// An engine with an explicit degree of parallelism.
    pub fn with_partitions(root: &Path, catalog: Arc<Catalog>, partitions: usize) -> Self {
        Self {
            ctx: session(partitions),
            root: root.to_path_buf(),
            catalog,
            chunk_rows: CHUNK_ROWS,
            candidate_filter: true,
        }
    }

    /// Whether to push the point-in-time candidate filter into the source scan (on by
    /// default; off only to measure what it saves).
    pub fn with_candidate_filter(mut self, on: bool) -> Self {
        self.candidate_filter = on;
        self
    }

    /// Caps the memory the joins may reserve (see [`session_with_memory_limit`]): past it a
    /// run fails with an error naming the operator instead of growing.
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        let partitions = self.ctx.state().config().target_partitions();
        self.ctx = session_with_memory_limit(partitions, Some(bytes));
        self
    }

    /// Sets how many candidate rows each partition gathers before merging them into its
    /// answers: larger chunks sort more at once, smaller ones bound memory tighter.
    pub fn with_chunk_rows(mut self, rows: usize) -> Self {
        self.chunk_rows = rows.max(1);
        self
    }

    /// The DataFusion session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Checks a request against the definitions, the sources and the spine, and reads the
    /// spine. Nothing is computed or written.
    pub async fn prepare(&self, req: &TrainingSetRequest) -> Result<PreparedTrainingSet> {
        let cat = &self.catalog;
        let features = cat.resolve_refs(&req.features)?;
        if features.is_empty() {
            return Err(Error::Request {
                message: "no features requested".into(),
                hint: "pass --features view:feature,... or --service NAME".into(),
            });
        }
        // On-demand features are computed from their inputs (joined like requested
        // features) and request-context fields (spine columns).
        let mut joined: Vec<FeatureRef> = Vec::new();
        let mut on_demand = Vec::new();
        let mut request_cols: Vec<(String, String)> = Vec::new();
        for f in &features {
            let Some(od) = cat.on_demand(&f.view) else {
                if !joined.contains(f) {
                    joined.push(f.clone());
                }
                continue;
            };
            let pos = od
                .view
                .features
                .iter()
                .position(|x| x.name == f.feature)
                .ok_or_else(|| Error::Internal(format!("{f} is not in its on-demand view")))?;
            let (Some(expr), Some(def)) = (od.expressions.get(pos), od.view.features.get(pos))
            else {
                return Err(Error::Internal(format!("{f} has no compiled expression")));
            };
            let used = expr.used_inputs();
            for (s, (name, _)) in od.slots.iter().zip(expr.inputs()) {
                if !used.contains(&name.as_str()) {
                    continue;
                }
                match s {
                    tessera_core::InputSlot::Feature(r) if !joined.contains(r) => {
                        joined.push(r.clone())
                    }
                    tessera_core::InputSlot::Request(name, _) => {
                        request_cols.push((name.clone(), f.to_string()))
                    }
                    _ => {}
                }
            }
            on_demand.push(OnDemandPlan {
                feature: f.clone(),
                expr: expr.clone(),
                slots: od.slots.clone(),
                dtype: def.dtype.clone(),
            });
        }
        // Group by view, keeping first-appearance order.
        let mut by_view: Vec<(String, Vec<FeatureRef>)> = Vec::new();
        for f in &joined {
            match by_view.iter_mut().find(|(v, _)| *v == f.view) {
                Some((_, list)) => list.push(f.clone()),
                None => by_view.push((f.view.clone(), vec![f.clone()])),
            }
        }
        let views: Vec<&FeatureViewDef> = by_view
            .iter()
            .map(|(v, _)| cat.view(v))
            .collect::<Result<_, _>>()?;
        check_views(&self.ctx, &self.root, cat, &views)
            .await
            .map_err(Error::Schema)?;

        let spine = read_spine(&req.spine).await?;
        let spine_schema = spine.schema();
        let spine_err = |message: String, hint: String| Error::Spine {
            path: req.spine.clone(),
            message,
            hint,
        };
        let spine_cols = || {
            spine_schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let spine_ts = spine_schema.index_of(&req.timestamp_column).map_err(|_| {
            spine_err(
                format!("has no timestamp column `{}`", req.timestamp_column),
                format!("name the spine's timestamp column with --timestamp-column; its columns are: {}", spine_cols()),
            )
        })?;
        let ts_type = spine_schema.field(spine_ts).data_type();
        if unit_of(ts_type).is_none() {
            return Err(spine_err(
                format!(
                    "timestamp column `{}` has type {ts_type}",
                    req.timestamp_column
                ),
                "store it as a timestamp, a date or an ISO-8601 string".into(),
            ));
        }
        let (_, nulls) = to_epoch(spine.column(spine_ts), TimeUnit::Second, "spine timestamp")
            .map_err(|e| spine_err(e.to_string(), "fix the spine's timestamps".into()))?;
        if let Some(n) = nulls.filter(|n| n.null_count() > 0) {
            return Err(spine_err(
                format!(
                    "{} rows have no timestamp in `{}`",
                    n.null_count(),
                    req.timestamp_column
                ),
                "drop those rows or give them a timestamp; a training row needs a point in time"
                    .into(),
            ));
        }

        for (name, feature) in &request_cols {
            if spine_schema.field_with_name(name).is_err() {
                return Err(spine_err(
                    format!("has no column `{name}`, the request-context field {feature} reads"),
                    format!(
                        "add `{name}` to the spine (the value the request would carry at that row's time); its columns are: {}",
                        spine_cols()
                    ),
                ));
            }
        }
        let mut plans = Vec::new();
        for (view, (_, refs)) in views.iter().zip(&by_view) {
            let keys = cat.join_keys(view);
            let source = cat.source_of(view)?;
            let (df, path) = open_source(&self.ctx, &self.root, source).await?;
            // A view's own retention may be shorter than its source's.
            let df = crate::retention_filter::keep_retained(
                df,
                &source.timestamp_field,
                tessera_core::retention::of_view(cat, view),
                crate::retention_filter::now_us(),
            )?;
            let src_schema = arrow_schema(&df);
            for k in &keys {
                let Ok(sf) = spine_schema.field_with_name(k) else {
                    return Err(spine_err(
                        format!(
                            "has no column `{k}`, the join key of feature view `{}`",
                            view.name
                        ),
                        format!(
                            "add `{k}` to the spine, or drop `{}`'s features; its columns are: {}",
                            view.name,
                            spine_cols()
                        ),
                    ));
                };
                let src_type = src_schema
                    .field_with_name(k)
                    .map(|f| f.data_type().clone())?;
                let (a, b) = (key_type(sf.data_type()), key_type(&src_type));
                if a.is_none() || a != b {
                    return Err(spine_err(
                        format!("join key `{k}` is {} in the spine but {} in source `{}` (feature view `{}`)", sf.data_type(), src_type, source.name, view.name),
                        format!("write `{k}` into the spine with the source's type ({src_type})"),
                    ));
                }
            }
            let feats = refs
                .iter()
                .map(|r| {
                    let f =
                        view.feature(&r.feature)
                            .ok_or_else(|| tessera_core::Error::Unknown {
                                kind: "feature",
                                name: r.to_string(),
                                hint: String::new(),
                            })?;
                    Ok((
                        r.clone(),
                        f.source_column().to_string(),
                        f.dtype.arrow_type(),
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            plans.push(ViewPlan {
                view: (*view).clone(),
                source_name: source.name.clone(),
                df,
                keys,
                ts_col: source.timestamp_field.clone(),
                created_col: source.created_timestamp_field.clone(),
                features: feats,
                rows_hint: parquet_row_count(&path),
            });
        }

        // Output names: unique, and not clashing with the spine's columns.
        let mut columns = Vec::new();
        let mut taken: BTreeMap<String, String> = spine_schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), "a spine column".to_string()))
            .collect();
        for f in &features {
            let name = if req.short_names {
                f.feature.clone()
            } else {
                f.column_name()
            };
            if let Some(other) = taken.get(&name) {
                return Err(Error::Request {
                    message: format!("output column `{name}` for `{f}` clashes with {other}"),
                    hint: if req.short_names {
                        "drop --short-names so columns are named view__feature".into()
                    } else {
                        "rename the spine column".into()
                    },
                });
            }
            taken.insert(name.clone(), format!("`{f}`"));
            columns.push((f.clone(), name));
        }
        Ok(PreparedTrainingSet {
            spine,
            spine_ts,
            views: plans,
            columns,
            on_demand,
        })
    }

    /// The plan of each view's join, as DataFusion data frames (in the order of the
    /// request's views): a `PointInTimeJoin` or `WindowJoin` node over the source scan.
    /// `df.explain(false, false)` shows them; [`OfflineEngine::explain`] shows the physical
    /// plans. Nothing is read from the sources.
    pub fn plans(&self, prepared: &PreparedTrainingSet) -> Result<Vec<DataFrame>> {
        prepared
            .views
            .iter()
            .map(|plan| {
                let lp = self.plan_view(prepared, plan, Arc::new(crate::progress::NoProgress))?;
                Ok(DataFrame::new(self.ctx.state(), lp))
            })
            .collect()
    }

    /// The physical plan of each view's join, as `EXPLAIN` shows it, one after the other.
    /// Nothing is read from the sources.
    pub async fn explain(&self, prepared: &PreparedTrainingSet) -> Result<String> {
        let mut out = String::new();
        for df in self.plans(prepared)? {
            let plan = df.create_physical_plan().await?;
            out.push_str(&crate::explain::display_plan(plan.as_ref(), false));
        }
        Ok(out)
    }

    /// Builds the training set in memory.
    pub async fn run(
        &self,
        prepared: PreparedTrainingSet,
        progress: Arc<dyn Progress>,
    ) -> Result<TrainingSet> {
        let mut values: BTreeMap<FeatureRef, ArrayRef> = BTreeMap::new();
        let mut stats = Vec::new();
        let mut plans = Vec::new();
        for plan in &prepared.views {
            progress.message(&format!("joining {}", plan.view.name));
            let lp = self.plan_view(&prepared, plan, progress.clone())?;
            let physical = DataFrame::new(self.ctx.state(), lp)
                .create_physical_plan()
                .await?;
            let batches = collect(Arc::clone(&physical), self.ctx.task_ctx())
                .await
                .map_err(from_df)?;
            let out = concat_batches(&physical.schema(), &batches)?;
            drop(batches);
            for ((r, _, _), c) in plan.features.iter().zip(out.columns()) {
                values.insert(r.clone(), Arc::clone(c));
            }
            let operator = if plan.view.aggregations.is_empty() {
                "PointInTimeJoinExec"
            } else {
                "WindowJoinExec"
            };
            stats.push(ViewStats {
                view: plan.view.name.clone(),
                rows_scanned: metric(physical.as_ref(), operator, "input_rows") as u64,
                matched: metric(physical.as_ref(), operator, "matched_rows"),
            });
            plans.push(physical);
        }
        let spine = &prepared.spine;
        let mut computed = Vec::with_capacity(prepared.on_demand.len());
        for od in &prepared.on_demand {
            computed.push((od.feature.clone(), od.evaluate(&values, spine)?));
        }
        values.extend(computed);
        let mut fields: Vec<Arc<Field>> = spine.schema().fields().iter().cloned().collect();
        let mut arrays: Vec<ArrayRef> = spine.columns().to_vec();
        for (r, name) in &prepared.columns {
            let a = values
                .remove(r)
                .ok_or_else(|| Error::Internal(format!("no values computed for {r}")))?;
            fields.push(Arc::new(Field::new(name, a.data_type().clone(), true)));
            arrays.push(a);
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
        Ok(TrainingSet {
            batch,
            views: stats,
            plans,
        })
    }

    /// One view's join as a logical plan over its source scan.
    fn plan_view(
        &self,
        prepared: &PreparedTrainingSet,
        plan: &ViewPlan,
        progress: Arc<dyn Progress>,
    ) -> Result<LogicalPlan> {
        let spine = &prepared.spine;
        if !plan.view.aggregations.is_empty() {
            let spine_keys: Vec<ArrayRef> = plan
                .keys
                .iter()
                .map(|k| spine.schema().index_of(k).map(|i| spine.column(i).clone()))
                .collect::<Result<_, _>>()?;
            let refs: Vec<FeatureRef> = plan.features.iter().map(|(r, _, _)| r.clone()).collect();
            return crate::window_join::WindowJoin {
                catalog: &self.catalog,
                view: &plan.view,
                df: plan.df.clone(),
                keys: &plan.keys,
                ts_col: &plan.ts_col,
                features: &refs,
                spine_keys,
                spine_ts: spine.column(prepared.spine_ts),
                source_name: &plan.source_name,
            }
            .plan(progress);
        }
        let src_schema = arrow_schema(&plan.df);
        let field_type = |c: &str| src_schema.field_with_name(c).map(|f| f.data_type().clone());
        let ts_type = field_type(&plan.ts_col)?;
        let spine_type = spine.schema().field(prepared.spine_ts).data_type().clone();
        let mut unit = finer(
            unit_of(&spine_type).unwrap_or(TimeUnit::Microsecond),
            unit_of(&ts_type).unwrap_or(TimeUnit::Microsecond),
        );
        if let Some(c) = &plan.created_col {
            // An integer `created` is a version number: it has no unit.
            if let Some(u) = unit_of(&field_type(c)?) {
                unit = finer(unit, u);
            }
        }
        let (spine_ts, _) = to_epoch(spine.column(prepared.spine_ts), unit, "spine timestamp")?;
        let key_cols: Vec<ArrayRef> = plan
            .keys
            .iter()
            .map(|k| spine.schema().index_of(k).map(|i| spine.column(i).clone()))
            .collect::<Result<_, _>>()?;
        let (key_index, ids, nkeys) = KeyIndex::build(&key_cols)?;
        let ttl = plan.view.ttl.duration().map(|d| duration_in(d, unit));
        let index = Arc::new(SpineIndex::new(&ids, nkeys, spine_ts, ttl));
        let key_index = Arc::new(key_index);

        // Columns to read: keys, event time, created time, then each distinct feature column.
        let mut select: Vec<String> = plan.keys.clone();
        select.push(plan.ts_col.clone());
        if let Some(c) = &plan.created_col {
            select.push(c.clone());
        }
        let mut feature_pos = Vec::new();
        for (_, col, _) in &plan.features {
            let pos = match select.iter().position(|s| s == col) {
                Some(p) if p >= plan.keys.len() + 1 + usize::from(plan.created_col.is_some()) => p,
                _ => {
                    select.push(col.clone());
                    select.len() - 1
                }
            };
            feature_pos.push(pos);
        }
        let params = PointInTimeParams {
            view: plan.view.name.clone(),
            source_name: plan.source_name.clone(),
            keys: (0..plan.keys.len()).collect(),
            ts: plan.keys.len(),
            created: plan.created_col.as_ref().map(|_| plan.keys.len() + 1),
            features: feature_pos,
            unit,
            ttl,
            chunk_rows: self.chunk_rows,
        };
        let cols: Vec<&str> = select.iter().map(String::as_str).collect();
        let mut df = plan.df.clone().select_columns(&cols)?;
        match index.time_bounds() {
            // No spine row has a key: nothing to read, every value is null.
            None => df = df.filter(lit(false))?,
            Some((lo, hi)) => {
                let lower = (lo != i64::MIN).then_some(lo);
                if let Some(filter) = time_filter(&plan.ts_col, &ts_type, unit, lower, hi) {
                    df = df.filter(filter)?;
                }
                if self.candidate_filter {
                    let args: Vec<Expr> = plan
                        .keys
                        .iter()
                        .chain(std::iter::once(&plan.ts_col))
                        .map(|c| Expr::Column(Column::new_unqualified(c)))
                        .collect();
                    df = df.filter(CandidateFilter::expr(
                        index.clone(),
                        key_index.clone(),
                        unit,
                        args,
                    ))?;
                }
            }
        }
        let output = Arc::new(Schema::new(
            plan.features
                .iter()
                .map(|(r, _, dt)| Field::new(r.column_name(), dt.clone(), true))
                .collect::<Vec<_>>(),
        ));
        let side = PitSide {
            spine: index,
            keys: key_index,
            progress,
        };
        Ok(OfflineNode::plan(
            OfflineOp::PointInTime(params, Shared(Arc::new(side))),
            df.into_unoptimized_plan(),
            output,
        )?)
    }
}
