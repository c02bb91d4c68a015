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
//! [`LatestScan::run`] plans a `LatestRowScan` node over the source scan (projected to the
//! keys, the two times and the feature columns; row groups outside the range pruned by
//! statistics) and executes it as `LatestRowExec` (`latest_row_exec.rs`): each scan
//! partition, in parallel, keeps per key its best `(event_ts, created_ts)` and the copied
//! row (`latest_row_state.rs`); partitions are merged at the end. Memory is bounded by the
//! number of distinct keys (about three rows per key at worst) plus one input batch per
//! partition, reserved in the session's memory pool; it does not grow with the number of
//! source rows. [`LatestScan::plan`] gives the plan without running it (for `EXPLAIN`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{Expr, SessionContext};
use tessera_core::{Catalog, FeatureViewDef};

use crate::entity_keys::key_type;
use crate::error::{Error, Result};
use crate::latest_row_exec::LatestRowParams;
use crate::partition_fold::from_df;
use crate::plan_node::{OfflineNode, OfflineOp, Shared};
use crate::progress::Progress;
use crate::schema_check::check_views;
use crate::source_scan::{
    arrow_schema, default_partitions, open_source, parquet_row_count, session,
};
use crate::time_filter::time_filter;

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
    /// The executed plan, with its metrics (see [`crate::display_plan`]).
    pub plan: Arc<dyn ExecutionPlan>,
    /// The rows: the key columns, event and created time (µs), then the features.
    rows: RecordBatch,
}

impl LatestRows {
    /// Number of entities.
    pub fn num_rows(&self) -> usize {
        self.rows.num_rows()
    }

    /// The rows in chunks of at most `rows` entities (in no particular order).
    pub fn batches(&self, rows: usize) -> impl Iterator<Item = Result<LatestBatch>> + '_ {
        let size = rows.max(1);
        (0..self.rows.num_rows())
            .step_by(size)
            .map(move |start| self.chunk(start, size.min(self.rows.num_rows() - start)))
    }

    fn chunk(&self, start: usize, len: usize) -> Result<LatestBatch> {
        let part = self.rows.slice(start, len);
        let nkeys = self.join_keys.len();
        let times =
            |i: usize| -> Vec<i64> { part.column(i).as_primitive::<Int64Type>().values().to_vec() };
        Ok(LatestBatch {
            keys: part.columns()[..nkeys].to_vec(),
            event_ts: times(nkeys),
            created_ts: times(nkeys + 1),
            features: part.columns()[nkeys + 2..].to_vec(),
        })
    }
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
        if let Some(f) = time_filter(
            &source.timestamp_field,
            &ts_type,
            TimeUnit::Microsecond,
            None,
            end_us,
        ) {
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

    /// The scan as a DataFusion data frame: a `LatestRowScan` node over the source, whose
    /// physical plan is `LatestRowExec` (`df.explain(false, false)` shows it). Checks the
    /// view against its source first.
    pub async fn plan(
        &self,
        req: &LatestRequest,
        progress: Arc<dyn Progress>,
    ) -> Result<DataFrame> {
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
        let mut fields: Vec<Field> = join_keys
            .iter()
            .zip(&key_types)
            .map(|(k, t)| Field::new(k, t.clone(), true))
            .collect();
        fields.push(Field::new("__event_ts", DataType::Int64, false));
        fields.push(Field::new("__created_ts", DataType::Int64, false));
        for f in &view.features {
            fields.push(Field::new(
                format!("{}__{}", view.name, f.name),
                f.dtype.arrow_type(),
                true,
            ));
        }
        let params = LatestRowParams {
            view: view.name.clone(),
            source_name: source.name.clone(),
            keys: join_keys.len(),
            ts: join_keys.len(),
            created: source
                .created_timestamp_field
                .as_ref()
                .map(|_| join_keys.len() + 1),
            copied: (first_copied..select.len()).collect(),
            key_types,
            feature_cols,
            start_us: req.start_us.unwrap_or(i64::MIN),
            end_us: req.end_us,
        };

        let cols: Vec<&str> = select.iter().map(String::as_str).collect();
        let mut df = df.select_columns(&cols)?;
        let ts_type = schema.field_with_name(&source.timestamp_field)?.data_type();
        let us = TimeUnit::Microsecond;
        if let Some(filter) = time_filter(
            &source.timestamp_field,
            ts_type,
            us,
            req.start_us,
            req.end_us,
        ) {
            df = df.filter(filter)?;
        }
        let plan = OfflineNode::plan(
            OfflineOp::LatestRow(params, Shared(progress)),
            df.into_unoptimized_plan(),
            Arc::new(Schema::new(fields)),
        )?;
        Ok(DataFrame::new(self.ctx.state(), plan))
    }

    /// Scans the view's source and keeps the latest row per entity in the range.
    pub async fn run(
        &self,
        req: &LatestRequest,
        progress: Arc<dyn Progress>,
    ) -> Result<LatestRows> {
        let view: &FeatureViewDef = self.catalog.view(&req.view)?;
        let df = self.plan(req, progress).await?;
        let plan = df.create_physical_plan().await?;
        let batches = collect(Arc::clone(&plan), self.ctx.task_ctx())
            .await
            .map_err(from_df)?;
        let rows = concat_batches(&plan.schema(), &batches)?;
        let rows_scanned = crate::explain::metric(plan.as_ref(), "LatestRowExec", "input_rows");
        Ok(LatestRows {
            view: view.name.clone(),
            join_keys: self.catalog.join_keys(view),
            features: view.features.iter().map(|f| f.name.clone()).collect(),
            rows_scanned: rows_scanned as u64,
            plan,
            rows,
        })
    }
}
