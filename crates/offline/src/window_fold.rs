//! The aggregation half of the window join: the kept events grouped by spine key, and the
//! per-key folds (`tessera_aggregate::window_values`) run on every core.
//!
//! Events are bucketed by dense key id with a counting sort (`O(E)`), then each key's few
//! events are sorted by time. Aggregations that read the same column through the same
//! filter share one filtered `(ts, value)` list per key (the three windows of one
//! aggregation filter once). Keys are split into contiguous ranges of about equal work
//! (events + queries), one per core; each range folds on its own thread into its own
//! rows, which the caller scatters into spine order. No state is shared between threads,
//! so the values are the same whatever the thread count.

use std::ops::Range;

use arrow::array::ArrayRef;
use tessera_core::aggregate::{
    window_values, FilterExpr, MinContributors, Row, Value, ViewAggregation, ViewSpec,
};
use tessera_core::{values_to_array, DenseGroups, FeatureType};

use crate::error::{Error, Result};
use crate::value_column::ValueColumn;

/// Keys per thread below which another thread is not worth starting.
pub(crate) const MIN_KEYS_PER_THREAD: usize = 2_048;

/// The events of one scan, kept for the aggregation.
pub(crate) struct Events {
    pub key: Vec<u32>,
    pub ts: Vec<i64>,
    /// One column of values per aggregated column ([`FoldPlan::columns`]), aligned with
    /// `key`/`ts`.
    pub columns: Vec<ValueColumn>,
    /// Per filter ([`FoldPlan::filters`]): whether each event passes, evaluated at the scan
    /// (columns read only by filters are not kept).
    pub passes: Vec<Vec<bool>>,
}

impl Events {
    /// Bytes held.
    pub(crate) fn memory_size(&self) -> usize {
        self.key.capacity() * 4
            + self.ts.capacity() * 8
            + self
                .columns
                .iter()
                .map(ValueColumn::memory_size)
                .sum::<usize>()
            + self.passes.iter().map(Vec::capacity).sum::<usize>()
    }
}

/// One scanned row's columns (the read columns of a batch, as datums), for filters.
pub(crate) struct ScanRow<'a> {
    pub names: &'a [String],
    pub columns: &'a [Vec<Value>],
    pub row: usize,
}

impl Row for ScanRow<'_> {
    fn get(&self, column: &str) -> Option<&Value> {
        let i = self.names.iter().position(|n| n == column)?;
        self.columns.get(i).and_then(|c| c.get(self.row))
    }
}

/// Event indices grouped by key id (`< nkeys`), each key's sorted by time.
pub(crate) fn group_by_key(events: &Events, nkeys: usize) -> Result<DenseGroups> {
    if u32::try_from(events.key.len()).is_err() {
        return Err(Error::Internal(format!(
            "{} events kept for one window join; at most {} fit: narrow the spine's time range or split the spine",
            events.key.len(),
            u32::MAX
        )));
    }
    let mut groups = DenseGroups::new(&events.key, nkeys, u32::MAX);
    for k in 0..nkeys {
        groups.rows_mut(k).sort_by_key(|&i| events.ts[i as usize]);
    }
    Ok(groups)
}

/// Requested aggregations that read the same column through the same filter.
pub(crate) struct Group<'a> {
    /// Index into [`FoldPlan::columns`].
    column: Option<usize>,
    /// Index into [`FoldPlan::filters`].
    filter: Option<usize>,
    /// `(output slot, aggregation, index into [`FoldPlan::columns`] of its k-threshold's
    /// contributor column)`.
    members: Vec<(usize, &'a ViewAggregation, Option<usize>)>,
}

/// The requested aggregations grouped by column and filter, with the columns the fold
/// needs kept and the distinct filters to evaluate at the scan.
pub(crate) struct FoldPlan<'a> {
    pub groups: Vec<Group<'a>>,
    /// Aggregated columns, in `Events::columns` order.
    pub columns: Vec<String>,
    /// Distinct filters, in `Events::passes` order.
    pub filters: Vec<&'a FilterExpr>,
}

impl<'a> FoldPlan<'a> {
    /// Groups the requested aggregations (`positions[slot]` indexes `spec`).
    pub(crate) fn new(spec: &'a ViewSpec, positions: &[usize]) -> Self {
        let mut plan = FoldPlan {
            groups: Vec::new(),
            columns: Vec::new(),
            filters: Vec::new(),
        };
        for (slot, &p) in positions.iter().enumerate() {
            let a = &spec.aggregations()[p];
            let column = a.column().map(|c| plan.column_index(c));
            let by = a.min_contributors().map(|m| plan.column_index(m.by()));
            let filter = a.filter().map(|f| {
                plan.filters
                    .iter()
                    .position(|g| *g == f)
                    .unwrap_or_else(|| {
                        plan.filters.push(f);
                        plan.filters.len() - 1
                    })
            });
            match plan
                .groups
                .iter_mut()
                .find(|g| g.column == column && g.filter == filter)
            {
                Some(g) => g.members.push((slot, a, by)),
                None => plan.groups.push(Group {
                    column,
                    filter,
                    members: vec![(slot, a, by)],
                }),
            }
        }
        plan
    }

    /// The index of `column` in [`FoldPlan::columns`], added if new.
    fn column_index(&mut self, column: &str) -> usize {
        self.columns
            .iter()
            .position(|n| n == column)
            .unwrap_or_else(|| {
                self.columns.push(column.to_string());
                self.columns.len() - 1
            })
    }

    /// Every column to read: the aggregated ones, then those only filters read.
    pub(crate) fn read_columns(&self) -> Vec<String> {
        let mut names = self.columns.clone();
        for f in &self.filters {
            for c in f.columns() {
                if !names.iter().any(|n| n == c) {
                    names.push(c.to_string());
                }
            }
        }
        names
    }
}

/// Splits the keys into at most `parts` contiguous ranges of about equal work.
pub(crate) fn split_keys(
    queries: &[Vec<(i64, u32)>],
    by_key: &DenseGroups,
    parts: usize,
) -> Vec<Range<usize>> {
    let nkeys = queries.len();
    let weight = |k: usize| {
        if queries[k].is_empty() {
            0
        } else {
            queries[k].len() + by_key.rows(k).len()
        }
    };
    let total: usize = (0..nkeys).map(weight).sum();
    let parts = parts.max(1);
    let per = total.div_ceil(parts).max(1);
    let mut ranges = Vec::with_capacity(parts);
    let (mut start, mut acc) = (0usize, 0usize);
    for k in 0..nkeys {
        acc += weight(k);
        if acc >= per && ranges.len() + 1 < parts {
            ranges.push(start..k + 1);
            start = k + 1;
            acc = 0;
        }
    }
    ranges.push(start..nkeys);
    ranges
}

/// What one range of keys folds to: its spine rows and, per output slot, their values as
/// an Arrow array aligned with `rows`.
pub(crate) struct FoldedRows {
    pub rows: Vec<u32>,
    pub values: Vec<ArrayRef>,
    /// Spine rows whose key has at least one event.
    pub matched: usize,
}

/// Everything a fold reads; shared by reference between the threads.
pub(crate) struct KeyFold<'a> {
    pub groups: &'a [Group<'a>],
    pub events: &'a Events,
    pub by_key: &'a DenseGroups,
    /// Per key: `(T, spine row)`, sorted by `T`.
    pub queries: &'a [Vec<(i64, u32)>],
    /// The type of each output slot.
    pub dtypes: &'a [FeatureType],
}

impl KeyFold<'_> {
    /// Nulls the values built from fewer contributors than `m.k`: the contributor count
    /// is the same distinct-count state the stream path keeps beside the aggregate,
    /// folded over the same events (`mine`, through the same filter) and windows.
    #[allow(clippy::too_many_arguments)]
    fn suppress(
        &self,
        values: &mut [Value],
        m: &MinContributors,
        filter: Option<usize>,
        by: usize,
        mine: &[u32],
        qts: &[i64],
        a: &ViewAggregation,
    ) -> Result<()> {
        let contributors: Vec<(i64, Value)> = mine
            .iter()
            .map(|&e| e as usize)
            .filter(|&e| filter.is_none_or(|f| self.events.passes[f][e]))
            .map(|e| (self.events.ts[e], self.events.columns[by].get(e)))
            .collect();
        let counts = window_values(
            &contributors,
            qts,
            &MinContributors::contributor_aggregation(),
            a.window(),
        )
        .map_err(|e| Error::Internal(e.to_string()))?;
        for (v, count) in values.iter_mut().zip(&counts) {
            if !m.admits(count) {
                *v = Value::Null;
            }
        }
        Ok(())
    }

    /// Folds the keys in `range`.
    pub(crate) fn run(&self, range: Range<usize>) -> Result<FoldedRows> {
        let mut rows = Vec::new();
        let mut matched = 0;
        let mut slot_values: Vec<Vec<Value>> = vec![Vec::new(); self.dtypes.len()];
        let mut pairs: Vec<(i64, Value)> = Vec::new();
        let mut qts: Vec<i64> = Vec::new();
        for k in range {
            let q = &self.queries[k];
            if q.is_empty() {
                continue;
            }
            let mine = self.by_key.rows(k);
            rows.extend(q.iter().map(|(_, row)| *row));
            if !mine.is_empty() {
                matched += q.len();
            }
            qts.clear();
            qts.extend(q.iter().map(|(t, _)| *t));
            for g in self.groups {
                pairs.clear();
                for &e in mine {
                    let e = e as usize;
                    if g.filter.is_some_and(|f| !self.events.passes[f][e]) {
                        continue;
                    }
                    let v = g
                        .column
                        .map_or(Value::Null, |c| self.events.columns[c].get(e));
                    pairs.push((self.events.ts[e], v));
                }
                for (slot, a, by) in &g.members {
                    let mut got = if pairs.is_empty() {
                        let empty = a.aggregation().new_state().finish();
                        vec![empty; q.len()]
                    } else {
                        window_values(&pairs, &qts, a.aggregation(), a.window())
                            .map_err(|e| Error::Internal(e.to_string()))?
                    };
                    if let (Some(m), Some(by)) = (a.min_contributors(), by) {
                        self.suppress(&mut got, m, g.filter, *by, mine, &qts, a)?;
                    }
                    slot_values[*slot].extend(got);
                }
            }
        }
        let values = slot_values
            .iter()
            .zip(self.dtypes)
            .map(|(v, t)| values_to_array(v, t))
            .collect();
        Ok(FoldedRows {
            rows,
            values,
            matched,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::aggregate::{AggFunction, Aggregation, InputType, Window, HOUR, MINUTE};
    use tessera_core::ArrowValues;

    fn spec() -> ViewSpec {
        let play = FilterExpr::parse("action = 'play'").unwrap();
        let sum = Aggregation::new(AggFunction::Sum, Some(InputType::Int64)).unwrap();
        let distinct =
            Aggregation::new(AggFunction::CountDistinct, Some(InputType::Int64)).unwrap();
        let mut aggs = Vec::new();
        for w in ["1h", "1d", "lifetime"] {
            let w = Window::parse(w).unwrap();
            aggs.push(
                ViewAggregation::new(None, Aggregation::count_events(), w)
                    .unwrap()
                    .with_filter(play.clone()),
            );
            aggs.push(ViewAggregation::new(Some("v"), sum.clone(), w).unwrap());
            aggs.push(ViewAggregation::new(Some("v"), distinct.clone(), w).unwrap());
        }
        ViewSpec::new(aggs)
    }

    /// Keys 0..n with a pseudo-random number of events each (some none), time-disordered.
    fn data(nkeys: usize) -> (Events, Vec<Vec<(i64, u32)>>) {
        let mut x = 7u64;
        let mut next = move |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        let mut ev = Events {
            key: Vec::new(),
            ts: Vec::new(),
            columns: vec![ValueColumn::default()],
            passes: vec![Vec::new()],
        };
        for _ in 0..nkeys * 20 {
            let k = next(nkeys as u64) as u32;
            if k % 7 == 3 {
                continue; // keys without events
            }
            ev.key.push(k);
            ev.ts
                .push(next(3 * 24) as i64 * HOUR / 3 + next(60) as i64 * MINUTE);
            ev.passes[0].push(next(3) != 0);
            ev.columns[0].push(Value::Int64(next(10) as i64));
        }
        let mut queries = vec![Vec::new(); nkeys];
        let mut row = 0u32;
        for (k, q) in queries.iter_mut().enumerate() {
            if k % 11 == 5 {
                continue; // keys not asked for
            }
            for _ in 0..next(4) {
                q.push((next(3 * 24) as i64 * HOUR, row));
                row += 1;
            }
            q.sort_unstable();
        }
        (ev, queries)
    }

    fn fold_all(parts: usize) -> Vec<(u32, Vec<Value>)> {
        let spec = spec();
        let positions: Vec<usize> = (0..spec.aggregations().len()).collect();
        let (events, queries) = data(300);
        let by_key = group_by_key(&events, queries.len()).unwrap();
        let plan = FoldPlan::new(&spec, &positions);
        let dtypes: Vec<FeatureType> = spec
            .aggregations()
            .iter()
            .map(|a| match a.aggregation().function() {
                AggFunction::Count | AggFunction::CountDistinct | AggFunction::Sum => {
                    FeatureType::Int64
                }
                _ => FeatureType::Float64,
            })
            .collect();
        // (no column, play filter) for the counts; (`v`, no filter) for sums and distincts.
        assert_eq!(plan.groups.len(), 2);
        assert_eq!(plan.columns, ["v"]);
        assert_eq!(plan.read_columns(), ["v", "action"]);
        let fold = KeyFold {
            groups: &plan.groups,
            events: &events,
            by_key: &by_key,
            queries: &queries,
            dtypes: &dtypes,
        };
        let ranges = split_keys(&queries, &by_key, parts);
        assert!(ranges.len() <= parts);
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(ranges.last().map(|r| r.end), Some(queries.len()));
        let mut rows = Vec::new();
        for r in ranges {
            let part = fold.run(r).unwrap();
            for (i, row) in part.rows.iter().enumerate() {
                let values = part
                    .values
                    .iter()
                    .map(|a| ArrowValues::new(a).unwrap().get(i));
                rows.push((*row, values.collect()));
            }
        }
        rows.sort_by_key(|(r, _)| *r);
        rows
    }

    #[test]
    fn any_split_gives_the_same_values_as_one_fold() {
        let one = fold_all(1);
        assert!(one.len() > 100);
        for parts in [2, 3, 8] {
            assert_eq!(fold_all(parts), one, "{parts} parts");
        }
    }

    #[test]
    fn values_equal_a_brute_force_count() {
        let (events, queries) = data(300);
        let rows = fold_all(4);
        let w = Window::parse("1h").unwrap();
        for (k, q) in queries.iter().enumerate() {
            for (t, row) in q {
                let want = (0..events.key.len())
                    .filter(|&e| {
                        events.key[e] as usize == k
                            && events.passes[0][e]
                            && w.contains(*t, events.ts[e])
                    })
                    .count() as i64;
                let got = &rows.iter().find(|(r, _)| r == row).unwrap().1[0];
                assert_eq!(got, &Value::Int64(want), "key {k} at {t}");
            }
        }
    }
}
