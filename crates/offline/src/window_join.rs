//! Window aggregations as of each spine row: the batch backfill of aggregation views.
//!
//! For spine row `(key, T)` and feature (aggregation `A`, window `W`) the value is `A` over
//! the source events of `key` with `W.start_at(T) <= ts <= T` — the definition the stream
//! engine serves (see `tessera_aggregate`). The work:
//!
//! 1. spine keys get dense ids; spine times are read as µs;
//! 2. the source is scanned (keys, time, the aggregated and filter columns) within
//!    `[min window start, max T]`; events of keys not in the spine are dropped at once;
//! 3. events are sorted by (key, time); per key, each requested aggregation filters the
//!    events and calls `tessera_aggregate::window_values` for that key's spine times — the
//!    same tiles and monoid states as the stream path, so the values are identical.
//!
//! Memory is the kept events (time, key, the read columns) plus the spine; time is
//! `O(E log E + spine × features)` with small constants for the tile walk.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::Column;
use datafusion::logical_expr::{lit, Expr};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use tessera_core::aggregate::{window_values, Datum, Row, ViewSpec};
use tessera_core::{datums_to_array, Catalog, DatumColumn, FeatureRef, FeatureViewDef};

use crate::entity_keys::{KeyIndex, NO_KEY};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::timestamps::{factor, to_epoch};

/// The events of one scan, kept for the aggregation.
struct Events {
    key: Vec<u32>,
    ts: Vec<i64>,
    /// One column of values per read column, aligned with `key`/`ts`.
    columns: Vec<Vec<Datum>>,
}

/// One event's columns, for filters.
struct EventRow<'a> {
    names: &'a [String],
    events: &'a Events,
    at: usize,
}

impl Row for EventRow<'_> {
    fn get(&self, column: &str) -> Option<&Datum> {
        let i = self.names.iter().position(|n| n == column)?;
        self.events.columns.get(i).and_then(|c| c.get(self.at))
    }
}

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
        let names: Vec<String> = self.catalog.aggregation_columns(self.view);
        let mut events = Events {
            key: Vec::new(),
            ts: Vec::new(),
            columns: vec![Vec::new(); names.len()],
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
                let readers = (0..names.len())
                    .map(|i| DatumColumn::new(batch.column(nk + 1 + i)))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
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
                    for (c, r) in events.columns.iter_mut().zip(&readers) {
                        c.push(r.get(row));
                    }
                }
            }
        }
        let kept = events.key.len();
        // Sort by (key, time).
        let mut order: Vec<u32> = (0..kept as u32).collect();
        order.sort_unstable_by_key(|&i| (events.key[i as usize], events.ts[i as usize]));

        let n = spine_ts.len();
        let mut out: Vec<Vec<Datum>> = vec![vec![Datum::Null; n]; positions.len()];
        let mut start = 0usize;
        let mut matched = vec![false; n];
        let mut pairs: Vec<(i64, Datum)> = Vec::new();
        let mut qts: Vec<i64> = Vec::new();
        for (k, q) in queries.iter().enumerate() {
            if q.is_empty() {
                continue;
            }
            // This key's events: order[start..end].
            let mut end = start;
            while end < order.len() && events.key[order[end] as usize] < k as u32 {
                end += 1;
            }
            start = end;
            while end < order.len() && events.key[order[end] as usize] == k as u32 {
                end += 1;
            }
            let mine = &order[start..end];
            start = end;
            qts.clear();
            qts.extend(q.iter().map(|(t, _)| *t));
            for (slot, &p) in positions.iter().enumerate() {
                let agg = &spec.aggregations()[p];
                pairs.clear();
                for &e in mine {
                    let e = e as usize;
                    if let Some(f) = agg.filter() {
                        let row = EventRow {
                            names: &names,
                            events: &events,
                            at: e,
                        };
                        if !f.eval(&row) {
                            continue;
                        }
                    }
                    let v = match agg.column() {
                        Some(c) => names
                            .iter()
                            .position(|n| n == c)
                            .map_or(Datum::Null, |i| events.columns[i][e].clone()),
                        None => Datum::Null,
                    };
                    pairs.push((events.ts[e], v));
                }
                let values = window_values(&pairs, &qts, agg.aggregation(), agg.window())
                    .map_err(|e| Error::Internal(format!("aggregating {}: {e}", self.view.name)))?;
                for ((_, row), v) in q.iter().zip(values) {
                    out[slot][*row as usize] = v;
                }
            }
            if !mine.is_empty() {
                for (_, row) in q {
                    matched[*row as usize] = true;
                }
            }
        }
        // Spine rows of keys with no events at all still get the empty aggregate (count 0).
        let empty: BTreeMap<usize, Datum> = positions
            .iter()
            .enumerate()
            .map(|(slot, &p)| {
                let a = &spec.aggregations()[p];
                (slot, a.aggregation().new_state().finish())
            })
            .collect();
        for (row, &k) in ids.iter().enumerate() {
            if k == NO_KEY {
                continue;
            }
            if queries[k as usize].is_empty() {
                continue;
            }
            if !matched[row] {
                for (slot, v) in &empty {
                    if out[*slot][row].is_null() {
                        out[*slot][row] = v.clone();
                    }
                }
            }
        }
        let arrays = self
            .features
            .iter()
            .zip(&out)
            .map(|(r, vals)| {
                let f = self
                    .view
                    .feature(&r.feature)
                    .ok_or_else(|| Error::Internal(format!("no feature {r}")))?;
                Ok(datums_to_array(vals, &f.dtype))
            })
            .collect::<Result<Vec<_>>>()?;
        let matched = matched.iter().filter(|m| **m).count();
        Ok((arrays, scanned, matched))
    }
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
