//! [`ViewSpec`] and [`ViewState`]: every windowed aggregation of one feature view
//! for one entity, updated by one event and stored as one blob.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::aggregation::Aggregation;
use crate::data_type::InputType;
use crate::encoding::{put_varint, Reader, FORMAT_VERSION};
use crate::error::{Error, Result};
use crate::filter_expr::FilterExpr;
use crate::min_contributors::MinContributors;
use crate::row::Row;
use crate::series_layout::{SeriesDef, SeriesLayout};
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
#[serde(from = "ViewSpecDef", into = "ViewSpecDef")]
pub struct ViewSpec {
    aggregations: Vec<ViewAggregation>,
    /// The tile series of a state and how each aggregation reads them (derived from
    /// `aggregations`; shared with every state made from this spec).
    layout: Arc<SeriesLayout>,
}

/// The serde shape of [`ViewSpec`]: its aggregations.
#[derive(Serialize, Deserialize)]
struct ViewSpecDef {
    aggregations: Vec<ViewAggregation>,
}

impl From<ViewSpecDef> for ViewSpec {
    fn from(d: ViewSpecDef) -> Self {
        ViewSpec::new(d.aggregations)
    }
}

impl From<ViewSpec> for ViewSpecDef {
    fn from(s: ViewSpec) -> Self {
        ViewSpecDef {
            aggregations: s.aggregations,
        }
    }
}

impl ViewSpec {
    /// A spec over these aggregations, in output order.
    pub fn new(aggregations: Vec<ViewAggregation>) -> Self {
        let layout = Arc::new(SeriesLayout::of(&aggregations));
        ViewSpec {
            aggregations,
            layout,
        }
    }

    /// The aggregations, in output order.
    pub fn aggregations(&self) -> &[ViewAggregation] {
        &self.aggregations
    }

    /// How many tile series a state of this view keeps: one per (column, aggregation,
    /// filter, hop), so windows of the same hop share theirs (see [`ViewState`]).
    pub fn series_count(&self) -> usize {
        self.layout.series.len()
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

    /// An empty state for one entity: one empty tile series per (column, aggregation,
    /// filter, hop) of the view, contributor counts of k-thresholded aggregations included.
    pub fn new_state(&self) -> ViewState {
        ViewState {
            series: self
                .layout
                .series
                .iter()
                .map(SeriesDef::new_series)
                .collect(),
            layout: self.layout.clone(),
        }
    }

    /// Checks that `state` was made for this spec.
    fn matches(&self, state: &ViewState) -> Result<()> {
        if Arc::ptr_eq(&self.layout, &state.layout) || self.layout == state.layout {
            Ok(())
        } else {
            Err(Error::DefinitionMismatch {
                reason: "the state was made for other aggregations than the view defines".into(),
            })
        }
    }
}

/// The version byte of [`ViewState::encode`]: 2 since the state keeps one tile series per
/// (column, aggregation, filter, hop); 1 (one series per aggregation and window, then one
/// per k-threshold) still decodes.
const STATE_VERSION: u8 = 2;

/// All windowed aggregations of one feature view for one entity: what the online
/// store holds per entity. Update it with each event, read `value_at(now)`,
/// evict old tiles, and store it with [`ViewState::encode`].
///
/// Aggregations of the same column, function and filter whose windows have the same hop
/// (tile size) share one series of tiles, kept for the longest of those windows: `1d` and
/// `7d` read the same hourly tiles, each over its own span.
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
    /// One per series of `layout`, in its order.
    series: Vec<TiledAggregate>,
    /// The spec's layout (shared).
    layout: Arc<SeriesLayout>,
}

impl ViewState {
    /// Applies one event at `ts` to every series whose filter passes, reading each
    /// series' column from `row` (missing reads as null). Returns whether any series
    /// changed. Fails if `spec` is not the spec this state was made for.
    pub fn update<R: Row + ?Sized>(&mut self, spec: &ViewSpec, ts: i64, row: &R) -> Result<bool> {
        spec.matches(self)?;
        let mut changed = false;
        for (def, t) in self.layout.series.iter().zip(&mut self.series) {
            if def.filter.as_ref().is_some_and(|f| !f.eval(row)) {
                continue;
            }
            let value = match &def.column {
                Some(c) => row.get(c).unwrap_or(&Value::Null),
                None => &Value::Null,
            };
            changed |= t.update(ts, value);
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
        let read = |series: usize, window: Window| -> Result<Value> {
            match self.series.get(series) {
                Some(s) => s.value_over(window, t),
                None => Err(Error::DefinitionMismatch {
                    reason: "the state lacks a tile series of the view".into(),
                }),
            }
        };
        self.layout
            .outputs
            .iter()
            .map(|o| {
                let value = read(o.series, o.window)?;
                Ok(match &o.threshold {
                    None => Some(value),
                    Some((m, counts)) => m.finish(value, &read(*counts, o.window)?),
                })
            })
            .collect()
    }

    /// [`TiledAggregate::evict_before`] on every series; returns the number of tiles
    /// dropped.
    pub fn evict_before(&mut self, now: i64) -> usize {
        self.series.iter_mut().map(|a| a.evict_before(now)).sum()
    }

    /// Folds another entity state of the same view into this one. On error
    /// `self` is unchanged.
    pub fn merge(&mut self, other: &ViewState) -> Result<()> {
        if self.layout != other.layout || self.series.len() != other.series.len() {
            return Err(Error::StateMismatch {
                left: "a view state".into(),
                right: "a view state of another definition".into(),
            });
        }
        let mut merged = self.series.clone();
        for (a, b) in merged.iter_mut().zip(&other.series) {
            a.merge(b)?;
        }
        self.series = merged;
        Ok(())
    }

    /// The tile series, one per (column, aggregation, filter, hop) of the view, in order
    /// of first use by the spec's aggregations (a k-thresholded aggregation's contributor
    /// count right after its values' series when new).
    pub fn aggregates(&self) -> &[TiledAggregate] {
        &self.series
    }

    /// The newest event time applied to any series, `None` when empty.
    pub fn max_ts(&self) -> Option<i64> {
        self.series.iter().filter_map(TiledAggregate::max_ts).max()
    }

    /// Whether no series holds a tile (nothing worth storing).
    pub fn is_empty(&self) -> bool {
        self.series.iter().all(TiledAggregate::is_empty)
    }

    /// Appends the blob: a version byte, the series count, then each series' definition
    /// and tiles. Equal states give equal bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(STATE_VERSION);
        put_varint(out, self.series.len() as u64);
        for a in &self.series {
            a.encode_body(out);
        }
    }

    /// Decodes a whole blob written by [`ViewState::encode`] (or by a Tessera that kept
    /// one tile series per aggregation and window: version 1) and checks that it belongs
    /// to `spec` ([`Error::DefinitionMismatch`] when the view changed: rebuild the state
    /// from a backfill then).
    pub fn decode(bytes: &[u8], spec: &ViewSpec) -> Result<ViewState> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != STATE_VERSION && version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: STATE_VERSION,
            });
        }
        let n = r.count(4)?;
        let mut stored = Vec::with_capacity(n);
        for _ in 0..n {
            stored.push(TiledAggregate::decode_body(&mut r)?);
        }
        if r.remaining() != 0 {
            return Err(r.error("trailing bytes after the view state"));
        }
        let series = if version == STATE_VERSION {
            stored
        } else {
            series_of_v1(stored, spec)?
        };
        let layout = &spec.layout;
        if series.len() != layout.series.len() {
            return Err(Error::DefinitionMismatch {
                reason: format!(
                    "the state holds {} tile series, the view defines {}",
                    series.len(),
                    layout.series.len()
                ),
            });
        }
        for (def, s) in layout.series.iter().zip(&series) {
            if &def.aggregation != s.aggregation() || def.window != s.window() {
                return Err(Error::DefinitionMismatch {
                    reason: format!(
                        "a series of {} over {} is stored as {} over {}",
                        def.aggregation.function().short_name(),
                        def.window,
                        s.aggregation().function().short_name(),
                        s.window()
                    ),
                });
            }
        }
        Ok(ViewState {
            series,
            layout: layout.clone(),
        })
    }
}

/// The series of a version-1 state: it held one tiled aggregate per aggregation of the
/// spec, in order, then one contributor count per k-thresholded aggregation. Each series
/// is the stored aggregate of its longest window (it received the same events as the
/// shorter ones of its hop and evicted no later, so it holds every tile they did).
fn series_of_v1(mut stored: Vec<TiledAggregate>, spec: &ViewSpec) -> Result<Vec<TiledAggregate>> {
    let layout = &spec.layout;
    let thresholded = layout
        .outputs
        .iter()
        .filter(|o| o.threshold.is_some())
        .count();
    if stored.len() != layout.outputs.len() + thresholded {
        return Err(Error::DefinitionMismatch {
            reason: format!(
                "the state holds {} aggregations, the view defines {}",
                stored.len(),
                layout.outputs.len() + thresholded
            ),
        });
    }
    // (series, index into `stored`) of each stored aggregate.
    let mut sources: Vec<(usize, usize)> = Vec::with_capacity(stored.len());
    let mut next_count = layout.outputs.len();
    for (i, o) in layout.outputs.iter().enumerate() {
        sources.push((o.series, i));
        if let Some((_, counts)) = &o.threshold {
            sources.push((*counts, next_count));
            next_count += 1;
        }
    }
    let mut series = Vec::with_capacity(layout.series.len());
    for (s, def) in layout.series.iter().enumerate() {
        let from = sources
            .iter()
            .filter(|(of, _)| *of == s)
            .map(|(_, i)| *i)
            .find(|&i| {
                stored[i].window() == def.window && stored[i].aggregation() == &def.aggregation
            })
            .ok_or_else(|| Error::DefinitionMismatch {
                reason: format!(
                    "the state holds no {} over {}",
                    def.aggregation.function().short_name(),
                    def.window
                ),
            })?;
        series.push(std::mem::replace(&mut stored[from], def.new_series()));
    }
    Ok(series)
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

    /// Sum over 1h, 1d, 7d, lifetime; a filtered count over 1d and 7d with a k-threshold.
    fn windows_spec() -> ViewSpec {
        let sum = |w: &str| {
            ViewAggregation::new(
                Some("x"),
                Aggregation::new(AggFunction::Sum, Some(InputType::Int64)).unwrap(),
                Window::parse(w).unwrap(),
            )
            .unwrap()
        };
        let plays = |w: &str| {
            ViewAggregation::new(None, Aggregation::count_events(), Window::parse(w).unwrap())
                .unwrap()
                .with_filter(FilterExpr::parse("action = 'play'").unwrap())
                .with_min_contributors(MinContributors::new(2, "u").unwrap())
        };
        ViewSpec::new(vec![
            sum("1h"),
            sum("1d"),
            sum("7d"),
            sum("lifetime"),
            plays("1d"),
            plays("7d"),
        ])
    }

    /// Deterministic pseudo-random events over 10 days: (ts, x, action, u).
    fn events() -> Vec<(i64, i64, &'static str, i64)> {
        let mut seed: u64 = 7;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut ts = 0;
        (0..400)
            .map(|_| {
                ts += next(40 * 60) as i64 * 1_000_000;
                let action = if next(3) == 0 { "skip" } else { "play" };
                (ts, next(100) as i64, action, next(3) as i64)
            })
            .collect()
    }

    fn row(x: i64, action: &'static str, u: i64) -> [(&'static str, Value); 3] {
        [
            ("x", Value::Int64(x)),
            ("action", Value::from(action)),
            ("u", Value::Int64(u)),
        ]
    }

    /// Each aggregation as a tile series of its own (how version 1 kept them), in spec
    /// order, then the contributor counts of the thresholded ones.
    /// One aggregation kept on its own: its tiles, its filter, its column.
    type Separate = (TiledAggregate, Option<FilterExpr>, Option<String>);

    fn separate(spec: &ViewSpec) -> Vec<Separate> {
        let mut out: Vec<_> = spec
            .aggregations()
            .iter()
            .map(|a| {
                (
                    TiledAggregate::new(a.aggregation().clone(), a.window()),
                    a.filter().cloned(),
                    a.column().map(str::to_owned),
                )
            })
            .collect();
        for a in spec.aggregations() {
            if let Some(m) = a.min_contributors() {
                out.push((
                    TiledAggregate::new(MinContributors::contributor_aggregation(), a.window()),
                    a.filter().cloned(),
                    Some(m.by().to_owned()),
                ));
            }
        }
        out
    }

    /// Feeds one event row to the separate aggregates, each through its own filter.
    fn feed(alone: &mut [Separate], ts: i64, r: &[(&'static str, Value); 3]) {
        for (t, filter, column) in alone {
            if filter.as_ref().is_some_and(|f| !f.eval(r.as_slice())) {
                continue;
            }
            let v = column.as_deref().map_or(Value::Null, |c| {
                r.iter()
                    .find(|(n, _)| *n == c)
                    .map_or(Value::Null, |(_, v)| v.clone())
            });
            t.update(ts, &v);
        }
    }

    #[test]
    fn shared_series_answer_as_separate_windows_do() {
        let spec = windows_spec();
        assert_eq!(spec.series_count(), 5); // sum 5m, sum 1h, sum lifetime, count, contributors
        let mut st = spec.new_state();
        let mut alone = separate(&spec);
        for (i, (ts, x, action, u)) in events().into_iter().enumerate() {
            let r = row(x, action, u);
            st.update(&spec, ts, r.as_slice()).unwrap();
            feed(&mut alone, ts, &r);
            if i % 50 == 49 {
                st.evict_before(ts);
                for (t, _, _) in &mut alone {
                    t.evict_before(ts);
                }
                for at in [ts, ts + HOUR, ts + 2 * DAY] {
                    let n = spec.aggregations().len();
                    let want: Vec<Value> = spec
                        .aggregations()
                        .iter()
                        .enumerate()
                        .map(|(j, a)| {
                            let v = alone[j].0.value_at(at).unwrap();
                            match a.min_contributors() {
                                None => v,
                                Some(m) => {
                                    let k = spec.aggregations()[..j]
                                        .iter()
                                        .filter(|b| b.min_contributors().is_some())
                                        .count();
                                    let count = alone[n + k].0.value_at(at).unwrap();
                                    m.finish(v, &count).unwrap_or(Value::Null)
                                }
                            }
                        })
                        .collect();
                    assert_eq!(st.value_at(at).unwrap(), want, "as of {at}");
                }
            }
        }
        // Fewer tiles than the separate aggregates hold.
        let shared: usize = st.aggregates().iter().map(|a| a.tiles().count()).sum();
        let apart: usize = alone.iter().map(|(a, _, _)| a.tiles().count()).sum();
        assert!(shared < apart, "{shared} tiles shared vs {apart} apart");
    }

    #[test]
    fn version_1_states_still_decode() {
        let spec = windows_spec();
        let mut st = spec.new_state();
        let mut alone = separate(&spec);
        for (ts, x, action, u) in events() {
            let r = row(x, action, u);
            st.update(&spec, ts, r.as_slice()).unwrap();
            feed(&mut alone, ts, &r);
        }
        let now = st.max_ts().unwrap();
        st.evict_before(now);
        for (t, _, _) in &mut alone {
            t.evict_before(now);
        }
        // The version-1 blob: each aggregate in spec order, then the contributor counts.
        let mut v1 = vec![FORMAT_VERSION];
        put_varint(&mut v1, alone.len() as u64);
        for (t, _, _) in &alone {
            t.encode_body(&mut v1);
        }
        let back = ViewState::decode(&v1, &spec).unwrap();
        assert_eq!(back.value_at(now).unwrap(), st.value_at(now).unwrap());
        let mut v2 = Vec::new();
        back.encode(&mut v2);
        assert_eq!(v2[0], STATE_VERSION);
        assert_eq!(ViewState::decode(&v2, &spec).unwrap(), back);
        // A version-1 blob of other aggregations is refused.
        assert!(matches!(
            ViewState::decode(&v1, &self::spec()),
            Err(Error::DefinitionMismatch { .. })
        ));
        // An unknown version names the supported one.
        v2[0] = 9;
        assert!(matches!(
            ViewState::decode(&v2, &spec),
            Err(Error::UnsupportedVersion { found: 9, .. })
        ));
    }
}
