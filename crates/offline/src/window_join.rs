//! Window aggregations as of each spine row: the batch backfill of aggregation views.
//!
//! For spine row `(key, T)` and feature (aggregation `A`, window `W`) the value is `A` over
//! the source events of `key` with `W.start_at(T) <= ts <= T` — the definition the stream
//! engine serves (see `tessera_aggregate`). The work:
//!
//! 1. spine keys get dense ids; spine times are read as µs;
//! 2. the source is scanned (keys, time, the aggregated and filter columns) within
//!    `[min window start, max T]`; events of keys not in the spine are dropped at once;
//! 3. the events are grouped by key and sorted by time, and each key's spine times are
//!    folded with `tessera_aggregate::window_values` — the same tiles and monoid states as
//!    the stream path, so the values are identical — on every core (`window_fold`).
//!
//! Memory is the kept events (time, key, the read columns) plus the spine; time is
//! `O(E + spine × features)` plus the per-key time sorts, with small constants for the
//! tile walk, divided over the cores.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, UInt32Array};
use arrow::compute::{concat, take};
use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::Column;
use datafusion::logical_expr::{lit, Expr};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use tessera_core::aggregate::{Value, ViewSpec};
use tessera_core::{run_parts, threads_for, ArrowValues, Catalog, FeatureRef, FeatureViewDef};

use crate::entity_keys::{KeyIndex, NO_KEY};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::timestamps::{factor, to_epoch};
use crate::value_column::ValueColumn;
use crate::window_fold::{
    group_by_key, split_keys, Events, FoldPlan, KeyFold, ScanRow, MIN_KEYS_PER_THREAD,
};

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
    /// Computes the requested features for every spine row, as Arrow columns in spine order.
    pub(crate) async fn run(
        self,
        progress: Arc<dyn Progress>,
    ) -> Result<(Vec<ArrayRef>, u64, usize)> {
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
        let plan = FoldPlan::new(&spec, &positions);
        let names = plan.read_columns();
        let mut events = Events {
            key: Vec::new(),
            ts: Vec::new(),
            columns: (0..plan.columns.len())
                .map(|_| ValueColumn::default())
                .collect(),
            passes: vec![Vec::new(); plan.filters.len()],
        };
        let mut scanned = 0u64;
        if lo <= hi {
            let mut select: Vec<String> = self.keys.to_vec();
            select.push(self.ts_col.to_string());
            select.extend(names.iter().cloned());
            let cols: Vec<&str> = select.iter().map(String::as_str).collect();
            let mut df = self.df.clone().select_columns(&cols)?;
            let schema = df.schema().inner().clone();
            let ts_type = schema.field_with_name(self.ts_col)?.data_type().clone();
            if let Some(f) = micros_filter(self.ts_col, &ts_type, lo, hi) {
                df = df.filter(f)?;
            }
            let mut stream = df.execute_stream().await?;
            let nk = self.keys.len();
            let mut buf = Vec::new();
            let what = format!("source `{}` event time", self.source_name);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                scanned += batch.num_rows() as u64;
                progress.advance(batch.num_rows() as u64);
                let kc: Vec<ArrayRef> = (0..nk).map(|i| batch.column(i).clone()).collect();
                key_index.lookup(&kc, &mut buf)?;
                let (ts, ts_nulls) = to_epoch(batch.column(nk), TimeUnit::Microsecond, &what)?;
                let mut datums = (0..names.len())
                    .map(|i| {
                        let r = ArrowValues::new(batch.column(nk + 1 + i))?;
                        Ok((0..batch.num_rows()).map(|row| r.get(row)).collect())
                    })
                    .collect::<Result<Vec<Vec<Value>>>>()?;
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
                        names: &names,
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
            }
        }
        let by_key = group_by_key(&events, nkeys)?;
        let threads = threads_for(nkeys, MIN_KEYS_PER_THREAD);
        let ranges = split_keys(&queries, &by_key, threads);
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
        let fold = KeyFold {
            groups: &plan.groups,
            events: &events,
            by_key: &by_key,
            queries: &queries,
            dtypes: &dtypes,
        };
        let parts = run_parts(ranges, |r| fold.run(r))
            .into_iter()
            .map(|p| {
                let p = p.unwrap_or_else(|_| {
                    Err(Error::Internal("a window-join worker panicked".into()))
                });
                p.map_err(|e| match e {
                    Error::Internal(m) => {
                        Error::Internal(format!("aggregating {}: {m}", self.view.name))
                    }
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        drop(events);
        // The parts' rows, concatenated, are a permutation of the answered spine rows:
        // each slot's arrays are concatenated, then taken into spine order (null for rows
        // with no key or no time).
        let n = spine_ts.len();
        let mut at: Vec<Option<u32>> = vec![None; n];
        let mut matched = 0usize;
        let mut pos = 0u32;
        for p in &parts {
            matched += p.matched;
            for &row in &p.rows {
                at[row as usize] = Some(pos);
                pos += 1;
            }
        }
        let indices = UInt32Array::from(at);
        let arrays = (0..dtypes.len())
            .map(|slot| {
                let pieces: Vec<&dyn Array> =
                    parts.iter().map(|p| p.values[slot].as_ref()).collect();
                into_spine_order(&pieces, &indices)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok((arrays, scanned, matched))
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

/// `lo <= col <= hi` (µs) for a timestamp column, so Parquet statistics skip row groups.
pub(crate) fn micros_filter(col: &str, dt: &DataType, lo: i64, hi: i64) -> Option<Expr> {
    let DataType::Timestamp(src_unit, tz) = dt else {
        return None;
    };
    let f = factor(*src_unit, TimeUnit::Microsecond).max(1);
    let down = factor(TimeUnit::Microsecond, *src_unit).max(1);
    let conv = |v: i64, up: bool| -> i64 {
        if f > 1 {
            // µs → coarser unit: floor for the lower bound, ceil for the upper.
            let q = v.div_euclid(f);
            if up && v.rem_euclid(f) != 0 {
                q.saturating_add(1)
            } else {
                q
            }
        } else {
            v.saturating_mul(down)
        }
    };
    let scalar = |v: i64| match src_unit {
        TimeUnit::Second => ScalarValue::TimestampSecond(Some(v), tz.clone()),
        TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(v), tz.clone()),
        TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(v), tz.clone()),
        TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(Some(v), tz.clone()),
    };
    let c = Expr::Column(Column::new_unqualified(col));
    let upper = c.clone().lt_eq(lit(scalar(conv(hi, true))));
    if lo == i64::MIN {
        Some(upper)
    } else {
        Some(c.gt_eq(lit(scalar(conv(lo, false)))).and(upper))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

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
