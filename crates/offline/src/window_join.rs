//! Window aggregations as of each spine row: the batch backfill of aggregation views.
//!
//! For spine row `(key, T)` and feature (aggregation `A`, window `W`) the value is `A` over
//! the source events of `key` with `W.start_at(T) <= ts <= T` — the definition the stream
//! engine serves (see `tessera_aggregate`). The work:
//!
//! 1. spine keys get dense ids; spine times are read as µs (here, when planning);
//! 2. the source is scanned (keys, time, the aggregated and filter columns) within
//!    `[min window start, max T]`; events of keys not in the spine are dropped at once;
//! 3. the events are grouped by key and sorted by time, and each key's spine times are
//!    folded with `tessera_aggregate::window_values` — the same tiles and monoid states as
//!    the stream path, so the values are identical — on every core (`window_fold`).
//!
//! Steps 2 and 3 run in `WindowJoinExec` (`window_join_exec.rs`), planned here as an
//! [`OfflineNode`] over the source scan.
//!
//! Memory is the kept events (time, key, the read columns) plus the spine; time is
//! `O(E + spine × features)` plus the per-key time sorts, with small constants for the
//! tile walk, divided over the cores.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{Field, Schema, TimeUnit};
use datafusion::logical_expr::{lit, LogicalPlan};
use tessera_core::aggregate::ViewSpec;
use tessera_core::{Catalog, FeatureRef, FeatureViewDef};

use crate::entity_keys::{KeyIndex, NO_KEY};
use crate::error::{Error, Result};
use crate::plan_node::{OfflineNode, OfflineOp, Shared};
use crate::progress::Progress;
use crate::time_filter::time_filter;
use crate::timestamps::to_epoch;
use crate::window_fold::FoldPlan;
use crate::window_join_exec::{WindowJoinParams, WindowSide};

/// Inputs of one aggregation view's backfill.
pub(crate) struct WindowJoin<'a> {
    pub catalog: &'a Catalog,
    pub view: &'a FeatureViewDef,
    pub df: datafusion::dataframe::DataFrame,
    pub keys: &'a [String],
    pub ts_col: &'a str,
    pub features: &'a [FeatureRef],
    pub spine_keys: Vec<ArrayRef>,
    pub spine_ts: &'a ArrayRef,
    pub source_name: &'a str,
}

/// The spec index of each requested feature.
fn spec_positions(view: &FeatureViewDef, features: &[FeatureRef]) -> Result<Vec<usize>> {
    let derived: Vec<&str> = view
        .features
        .iter()
        .filter(|f| f.derived.is_some())
        .map(|f| f.name.as_str())
        .collect();
    features
        .iter()
        .map(|r| {
            derived
                .iter()
                .position(|n| *n == r.feature)
                .ok_or_else(|| Error::Internal(format!("{r} is not an aggregation feature")))
        })
        .collect()
}

impl WindowJoin<'_> {
    /// The backfill as a logical plan: a `WindowJoin` node over the source scan, giving
    /// the requested features for every spine row, in spine order.
    pub(crate) fn plan(self, progress: Arc<dyn Progress>) -> Result<LogicalPlan> {
        let spec: ViewSpec = self
            .catalog
            .view_spec(self.view)?
            .ok_or_else(|| Error::Internal(format!("`{}` has no aggregations", self.view.name)))?;
        let positions = spec_positions(self.view, self.features)?;
        let (spine_ts, spine_nulls) =
            to_epoch(self.spine_ts, TimeUnit::Microsecond, "spine timestamp")?;
        let (key_index, ids, nkeys) = KeyIndex::build(&self.spine_keys)?;
        // Per key: (T, spine row), sorted by T.
        let mut queries: Vec<Vec<(i64, u32)>> = vec![Vec::new(); nkeys];
        for (row, (&k, &t)) in ids.iter().zip(&spine_ts).enumerate() {
            if k != NO_KEY && !spine_nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                queries[k as usize].push((t, row as u32));
            }
        }
        for q in &mut queries {
            q.sort_unstable();
        }
        // The earliest event any requested window can need, and the latest spine time.
        let needed: Vec<_> = positions.iter().map(|&p| &spec.aggregations()[p]).collect();
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for q in queries.iter().filter(|q| !q.is_empty()) {
            let (first, last) = (q[0].0, q[q.len() - 1].0);
            hi = hi.max(last);
            for a in &needed {
                lo = lo.min(a.window().start_at(first).unwrap_or(i64::MIN));
            }
        }
        let read_columns = FoldPlan::new(&spec, &positions).read_columns();
        let mut select: Vec<String> = self.keys.to_vec();
        select.push(self.ts_col.to_string());
        select.extend(read_columns.iter().cloned());
        let cols: Vec<&str> = select.iter().map(String::as_str).collect();
        let mut df = self.df.select_columns(&cols)?;
        if lo > hi {
            // No spine row has a key and a time: nothing to read, every value is null.
            df = df.filter(lit(false))?;
        } else {
            let ts_type = df
                .schema()
                .field_with_unqualified_name(self.ts_col)?
                .data_type()
                .clone();
            let lower = (lo != i64::MIN).then_some(lo);
            if let Some(f) = time_filter(self.ts_col, &ts_type, TimeUnit::Microsecond, lower, hi) {
                df = df.filter(f)?;
            }
        }
        let dtypes = self
            .features
            .iter()
            .map(|r| {
                self.view
                    .feature(&r.feature)
                    .map(|f| f.dtype.clone())
                    .ok_or_else(|| Error::Internal(format!("no feature {r}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let output = Arc::new(Schema::new(
            self.features
                .iter()
                .zip(&dtypes)
                .map(|(r, dt)| Field::new(r.column_name(), dt.arrow_type(), true))
                .collect::<Vec<_>>(),
        ));
        let params = WindowJoinParams {
            view: self.view.name.clone(),
            source_name: self.source_name.to_string(),
            features: self.features.iter().map(|r| r.feature.clone()).collect(),
            keys: self.keys.len(),
            read_columns,
            lo_us: lo,
            hi_us: hi,
        };
        let side = WindowSide {
            spec,
            positions,
            queries,
            key_index,
            dtypes,
            spine_rows: spine_ts.len(),
            progress,
        };
        let input = df.into_unoptimized_plan();
        Ok(OfflineNode::plan(
            OfflineOp::WindowJoin(params, Shared(Arc::new(side))),
            input,
            output,
        )?)
    }
}
