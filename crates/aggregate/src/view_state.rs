//! [`ViewSpec`] and [`ViewState`]: every windowed aggregation of one feature view
//! for one entity, updated by one event and stored as one blob.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregation::Aggregation;
use crate::data_type::InputType;
use crate::encoding::{put_varint, Reader, FORMAT_VERSION};
use crate::error::{Error, Result};
use crate::filter_expr::FilterExpr;
use crate::min_contributors::MinContributors;
use crate::row::Row;
use crate::tiles::TiledAggregate;
use crate::window::Window;
use tessera_value::Value;

/// One windowed aggregation of a feature view: which column, which
/// aggregation, over which window, of which events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ViewAggregationDef", into = "ViewAggregationDef")]
pub struct ViewAggregation {
    column: Option<String>,
    aggregation: Aggregation,
    window: Window,
    filter: Option<FilterExpr>,
    min_contributors: Option<MinContributors>,
}

/// The serde shape of [`ViewAggregation`]; deserialising goes through
/// [`ViewAggregation::new`].
#[derive(Serialize, Deserialize)]
struct ViewAggregationDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    column: Option<String>,
    aggregation: Aggregation,
    window: Window,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter: Option<FilterExpr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_contributors: Option<MinContributors>,
}

impl TryFrom<ViewAggregationDef> for ViewAggregation {
    type Error = Error;
    fn try_from(d: ViewAggregationDef) -> Result<Self> {
        let a = ViewAggregation::new(d.column.as_deref(), d.aggregation, d.window)?;
        Ok(ViewAggregation {
            filter: d.filter,
            min_contributors: d.min_contributors,
            ..a
        })
    }
}

impl From<ViewAggregation> for ViewAggregationDef {
    fn from(a: ViewAggregation) -> Self {
        ViewAggregationDef {
            column: a.column,
            aggregation: a.aggregation,
            window: a.window,
            filter: a.filter,
            min_contributors: a.min_contributors,
        }
    }
}

impl ViewAggregation {
    /// `column` must be given exactly when the aggregation has an input type
    /// (`None` only for `count` of events).
    pub fn new(column: Option<&str>, aggregation: Aggregation, window: Window) -> Result<Self> {
        match (column, aggregation.input()) {
            (Some(_), Some(_)) | (None, None) => Ok(ViewAggregation {
                column: column.map(str::to_owned),
                aggregation,
                window,
                filter: None,
                min_contributors: None,
            }),
            (None, Some(_)) => Err(Error::MissingColumn {
                function: aggregation.function().short_name(),
            }),
            (Some(c), None) => Err(Error::DefinitionMismatch {
                reason: format!("column `{c}` given to a count of events; give the aggregation its column's type"),
            }),
        }
    }

    /// Only events passing `filter` are aggregated.
    pub fn with_filter(mut self, filter: FilterExpr) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Values built from fewer than `k` distinct contributors are suppressed.
    pub fn with_min_contributors(mut self, m: MinContributors) -> Self {
        self.min_contributors = Some(m);
        self
    }

    /// The k-threshold, if any.
    pub fn min_contributors(&self) -> Option<&MinContributors> {
        self.min_contributors.as_ref()
    }

    /// The input column, `None` for `count` of events.
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }

    /// The aggregation.
    pub fn aggregation(&self) -> &Aggregation {
        &self.aggregation
    }

    /// The window.
    pub fn window(&self) -> Window {
        self.window
    }

    /// The filter, if any.
    pub fn filter(&self) -> Option<&FilterExpr> {
        self.filter.as_ref()
    }

    /// The derived feature name: `{column}_{function}_{window}`, e.g.
    /// `amount_sum_7d`, `count_1h`, `song_id_last10_30d`.
    pub fn feature_name(&self) -> String {
        let f = self.aggregation.function().short_name();
        match &self.column {
            Some(c) => format!("{c}_{f}_{}", self.window),
            None => format!("{f}_{}", self.window),
        }
    }
}

/// The definitions of a [`ViewState`]: the view's windowed aggregations, in
/// order. Shared by every entity's state (hold it once, e.g. in an `Arc`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewSpec {
    aggregations: Vec<ViewAggregation>,
}

impl ViewSpec {
    /// A spec over these aggregations, in output order.
    pub fn new(aggregations: Vec<ViewAggregation>) -> Self {
        ViewSpec { aggregations }
    }

    /// The aggregations, in output order.
    pub fn aggregations(&self) -> &[ViewAggregation] {
        &self.aggregations
    }

    /// Checks the spec against the source's columns: each input column exists
    /// with the aggregation's input type, and each filter checks.
    pub fn check(&self, columns: &BTreeMap<String, InputType>) -> Result<()> {
        for a in &self.aggregations {
            if let (Some(c), Some(t)) = (&a.column, a.aggregation.input()) {
                match columns.get(c) {
                    None => {
                        return Err(Error::DefinitionMismatch {
                            reason: format!(
                                "`{}` reads column `{c}`, which the source does not have; known columns are {:?}",
                                a.feature_name(),
                                columns.keys().collect::<Vec<_>>()
                            ),
                        })
                    }
                    Some(actual) if *actual != t => {
                        return Err(Error::DefinitionMismatch {
                            reason: format!(
                                "`{}` expects column `{c}` to be {t}, but it is {actual}",
                                a.feature_name()
                            ),
                        })
                    }
                    Some(_) => {}
                }
            }
            if let Some(f) = &a.filter {
                f.check(columns)?;
            }
            if let Some(m) = &a.min_contributors {
                if !columns.contains_key(m.by()) {
                    return Err(Error::DefinitionMismatch {
                        reason: format!(
                            "`{}` counts contributors by column `{}`, which the source does not have; known columns are {:?}",
                            a.feature_name(),
                            m.by(),
                            columns.keys().collect::<Vec<_>>()
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// An empty state for one entity: the view's aggregates, then one contributor
    /// count per aggregation with a k-threshold.
    pub fn new_state(&self) -> ViewState {
        let mut aggregates: Vec<TiledAggregate> = self
            .aggregations
            .iter()
            .map(|a| TiledAggregate::new(a.aggregation.clone(), a.window))
            .collect();
        aggregates.extend(self.thresholds().map(|(i, _)| {
            TiledAggregate::new(
                MinContributors::contributor_aggregation(),
                self.aggregations[i].window,
            )
        }));
        ViewState {
            aggregates,
            thresholds: self.thresholds().map(|(i, m)| (i, m.clone())).collect(),
        }
    }

    /// `(aggregation index, threshold)` of each aggregation with a k-threshold, in order.
    fn thresholds(&self) -> impl Iterator<Item = (usize, &MinContributors)> + '_ {
        self.aggregations
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.min_contributors.as_ref().map(|m| (i, m)))
    }

    fn matches(&self, state: &ViewState) -> Result<()> {
        let expected = self.aggregations.len() + self.thresholds().count();
        if expected != state.aggregates.len() {
            return Err(Error::DefinitionMismatch {
                reason: format!(
                    "the state holds {} aggregations, the view defines {}",
                    state.aggregates.len(),
                    expected
                ),
            });
        }
        for ((i, m), (j, n)) in self.thresholds().zip(&state.thresholds) {
            if i != *j || m != n {
                return Err(Error::DefinitionMismatch {
                    reason: format!(
                        "`{}` has another k-threshold than the state",
                        self.aggregations[i].feature_name()
                    ),
                });
            }
        }
        for (a, t) in self.aggregations.iter().zip(&state.aggregates) {
            if &a.aggregation != t.aggregation() || a.window != t.window() {
                return Err(Error::DefinitionMismatch {
                    reason: format!(
                        "`{}` is stored as {} over {}",
                        a.feature_name(),
                        t.aggregation().function().short_name(),
                        t.window()
                    ),
                });
            }
        }
        Ok(())
    }
}

/// All windowed aggregations of one feature view for one entity: what the online
/// store holds per entity. Update it with each event, read `value_at(now)`,
/// evict old tiles, and store it with [`ViewState::encode`].
///
/// ```
/// use tessera_aggregate::*;
/// let spec = ViewSpec::new(vec![
///     ViewAggregation::new(None, Aggregation::count_events(), Window::parse("1h")?)?,
///     ViewAggregation::new(
///         Some("dwell_s"),
///         Aggregation::new(AggFunction::Sum, Some(InputType::Int64))?,
///         Window::parse("7d")?,
///     )?
///     .with_filter(FilterExpr::parse("action = 'play'")?),
/// ]);
/// let mut state = spec.new_state();
/// state.update(&spec, 1_000, &[("action", Value::from("play")), ("dwell_s", Value::Int64(30))])?;
/// state.update(&spec, 2_000, &[("action", Value::from("skip")), ("dwell_s", Value::Int64(2))])?;
/// assert_eq!(state.value_at(5_000)?, [Value::Int64(2), Value::Int64(30)]);
///
/// let mut blob = Vec::new();
/// state.encode(&mut blob);
/// assert_eq!(ViewState::decode(&blob, &spec)?, state);
/// # Ok::<(), tessera_aggregate::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ViewState {
    /// The view's aggregates in spec order, then one contributor count per entry of
    /// `thresholds`.
    aggregates: Vec<TiledAggregate>,
    /// `(aggregation index, threshold)` per k-thresholded aggregation (from the spec).
    thresholds: Vec<(usize, MinContributors)>,
}

impl ViewState {
    /// Applies one event at `ts` to every aggregation whose filter passes,
    /// reading each aggregation's column from `row` (missing reads as null).
    /// Returns whether any aggregation changed. Fails if `spec` is not the spec
    /// this state was made for.
    pub fn update<R: Row + ?Sized>(&mut self, spec: &ViewSpec, ts: i64, row: &R) -> Result<bool> {
        spec.matches(self)?;
        let mut changed = false;
        for (a, t) in spec.aggregations.iter().zip(&mut self.aggregates) {
            if a.filter.as_ref().is_some_and(|f| !f.eval(row)) {
                continue;
            }
            let value = match &a.column {
                Some(c) => row.get(c).unwrap_or(&Value::Null),
                None => &Value::Null,
            };
            changed |= t.update(ts, value);
        }
        let n = spec.aggregations.len();
        for ((i, m), t) in spec.thresholds().zip(&mut self.aggregates[n..]) {
            let a = &spec.aggregations[i];
            if a.filter.as_ref().is_some_and(|f| !f.eval(row)) {
                continue;
            }
            changed |= t.update(ts, row.get(m.by()).unwrap_or(&Value::Null));
        }
        Ok(changed)
    }

    /// Every aggregation's value as of `t`, in spec order, a suppressed one (fewer
    /// contributors than its k-threshold) as null; see [`TiledAggregate::value_at`] for
    /// when `t` is servable.
    pub fn value_at(&self, t: i64) -> Result<Vec<Value>> {
        Ok(self
            .finish_at(t)?
            .into_iter()
            .map(|v| v.unwrap_or(Value::Null))
            .collect())
    }

    /// As [`ViewState::value_at`], with `None` for a suppressed value.
    pub fn finish_at(&self, t: i64) -> Result<Vec<Option<Value>>> {
        let n = self.aggregates.len() - self.thresholds.len();
        let mut out: Vec<Option<Value>> = self.aggregates[..n]
            .iter()
            .map(|a| a.value_at(t).map(Some))
            .collect::<Result<_>>()?;
        for ((i, m), c) in self.thresholds.iter().zip(&self.aggregates[n..]) {
            let count = c.value_at(t)?;
            if let Some(slot) = out.get_mut(*i) {
                *slot = slot.take().and_then(|v| m.finish(v, &count));
            }
        }
        Ok(out)
    }

    /// [`TiledAggregate::evict_before`] on every aggregation; returns the number
    /// of tiles dropped.
    pub fn evict_before(&mut self, now: i64) -> usize {
        self.aggregates
            .iter_mut()
            .map(|a| a.evict_before(now))
            .sum()
    }

    /// Folds another entity state of the same view into this one. On error
    /// `self` is unchanged.
    pub fn merge(&mut self, other: &ViewState) -> Result<()> {
        if self.aggregates.len() != other.aggregates.len()
            || self.thresholds != other.thresholds
            || self
                .aggregates
                .iter()
                .zip(&other.aggregates)
                .any(|(a, b)| a.aggregation() != b.aggregation() || a.window() != b.window())
        {
            return Err(Error::StateMismatch {
                left: "a view state".into(),
                right: "a view state of another definition".into(),
            });
        }
        for (a, b) in self.aggregates.iter_mut().zip(&other.aggregates) {
            a.merge(b)?;
        }
        Ok(())
    }

    /// The per-aggregation states, in spec order, then the contributor counts of the
    /// k-thresholded aggregations.
    pub fn aggregates(&self) -> &[TiledAggregate] {
        &self.aggregates
    }

    /// Whether no aggregation holds a tile (nothing worth storing).
    pub fn is_empty(&self) -> bool {
        self.aggregates.iter().all(TiledAggregate::is_empty)
    }

    /// Appends the blob: a version byte, the count, then each aggregation's
    /// definition and tiles. Equal states give equal bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(FORMAT_VERSION);
        put_varint(out, self.aggregates.len() as u64);
        for a in &self.aggregates {
            a.encode_body(out);
        }
    }

    /// Decodes a whole blob written by [`ViewState::encode`] and checks that it
    /// belongs to `spec` ([`Error::DefinitionMismatch`] when the view changed:
    /// rebuild the state from a backfill then).
    pub fn decode(bytes: &[u8], spec: &ViewSpec) -> Result<ViewState> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let n = r.count(4)?;
        let mut aggregates = Vec::with_capacity(n);
        for _ in 0..n {
            aggregates.push(TiledAggregate::decode_body(&mut r)?);
        }
        if r.remaining() != 0 {
            return Err(r.error("trailing bytes after the view state"));
        }
        let state = ViewState {
            aggregates,
            thresholds: spec.thresholds().map(|(i, m)| (i, m.clone())).collect(),
        };
        spec.matches(&state)?;
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg_function::AggFunction;
    use crate::window::{DAY, HOUR};

    fn spec() -> ViewSpec {
        ViewSpec::new(vec![
            ViewAggregation::new(None, Aggregation::count_events(), Window::Duration(HOUR))
                .unwrap(),
            ViewAggregation::new(
                Some("song"),
                Aggregation::new(AggFunction::LastK { k: 2 }, Some(InputType::String)).unwrap(),
                Window::Duration(30 * DAY),
            )
            .unwrap()
            .with_filter(FilterExpr::parse("action = 'play'").unwrap()),
        ])
    }

    #[test]
    fn names_and_checks() {
        let s = spec();
        let names: Vec<_> = s
            .aggregations()
            .iter()
            .map(ViewAggregation::feature_name)
            .collect();
        assert_eq!(names, ["count_1h", "song_last2_30d"]);
        let mut cols: BTreeMap<String, InputType> = [
            ("song".to_owned(), InputType::String),
            ("action".to_owned(), InputType::String),
        ]
        .into();
        s.check(&cols).unwrap();
        cols.insert("song".into(), InputType::Int64);
        assert!(s.check(&cols).is_err());
        cols.remove("action");
        cols.insert("song".into(), InputType::String);
        assert!(matches!(s.check(&cols), Err(Error::UnknownColumns { .. })));
        assert!(ViewAggregation::new(
            None,
            Aggregation::new(AggFunction::Max, Some(InputType::Int64)).unwrap(),
            Window::Lifetime
        )
        .is_err());
    }

    #[test]
    fn update_filter_encode() {
        let s = spec();
        let mut st = s.new_state();
        assert!(st.is_empty());
        st.update(
            &s,
            10,
            &[("action", Value::from("play")), ("song", Value::from("a"))],
        )
        .unwrap();
        st.update(
            &s,
            20,
            &[("action", Value::from("skip")), ("song", Value::from("b"))],
        )
        .unwrap();
        st.update(
            &s,
            30,
            &[("action", Value::from("play")), ("song", Value::from("c"))],
        )
        .unwrap();
        assert_eq!(
            st.value_at(30).unwrap(),
            [
                Value::Int64(3),
                Value::List(vec![Value::from("c"), Value::from("a")])
            ]
        );
        let mut blob = Vec::new();
        st.encode(&mut blob);
        assert_eq!(ViewState::decode(&blob, &s).unwrap(), st);
        let other = ViewSpec::new(s.aggregations()[..1].to_vec());
        assert!(matches!(
            ViewState::decode(&blob, &other),
            Err(Error::DefinitionMismatch { .. })
        ));
        assert!(st.update(&other, 40, &[("action", Value::Null)]).is_err());
        let mut twice = st.clone();
        twice.merge(&st).unwrap();
        assert_eq!(twice.value_at(30).unwrap()[0], Value::Int64(6));
        assert_eq!(st.evict_before(100 * DAY), 2);
    }

    #[test]
    fn k_threshold_suppresses_small_cohorts() {
        let spec = ViewSpec::new(vec![ViewAggregation::new(
            None,
            Aggregation::count_events(),
            Window::Duration(DAY),
        )
        .unwrap()
        .with_min_contributors(MinContributors::new(3, "user_id").unwrap())]);
        let mut st = spec.new_state();
        // One contributor who plays 100 times still counts once.
        for t in 0..100 {
            st.update(&spec, t, &[("user_id", Value::from("u1"))])
                .unwrap();
        }
        st.update(&spec, 100, &[("user_id", Value::from("u2"))])
            .unwrap();
        assert_eq!(st.finish_at(200).unwrap(), [None]);
        assert_eq!(st.value_at(200).unwrap(), [Value::Null]);
        st.update(&spec, 150, &[("user_id", Value::from("u3"))])
            .unwrap();
        assert_eq!(st.finish_at(200).unwrap(), [Some(Value::Int64(102))]);
        let mut blob = Vec::new();
        st.encode(&mut blob);
        let back = ViewState::decode(&blob, &spec).unwrap();
        assert_eq!(back, st);
        // The same events through the batch path give the same contributor count.
        let events: Vec<(i64, Value)> = (0..100)
            .map(|t| (t, Value::from("u1")))
            .chain([(100, Value::from("u2")), (150, Value::from("u3"))])
            .collect();
        let counts = crate::window_values(
            &events[..101],
            &[200],
            &MinContributors::contributor_aggregation(),
            Window::Duration(DAY),
        )
        .unwrap();
        assert_eq!(counts, [Value::Int64(2)]);
        // A spec without the threshold does not read the state.
        let plain = ViewSpec::new(vec![ViewAggregation::new(
            None,
            Aggregation::count_events(),
            Window::Duration(DAY),
        )
        .unwrap()]);
        assert!(ViewState::decode(&blob, &plain).is_err());
    }
}
