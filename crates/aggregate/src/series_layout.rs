//! [`SeriesLayout`]: which tile series a view's state keeps, and which series (and
//! window) answers each of its aggregations.
//!
//! Aggregations that read the same column with the same function and filter see the
//! same events; when their windows also have the same hop (tile size), their tiles are
//! the same too, except that a shorter window evicts sooner. So a state keeps one series
//! per `(column, aggregation, filter, hop)`, over the longest of those windows (it evicts
//! by that one), and each window reads the tiles of its own span from it
//! ([`crate::TiledAggregate::value_over`]). `sum` over `1h`, `1d` and `7d` is thus two
//! series (5-minute tiles; hourly tiles shared by `1d` and `7d`), not three. The
//! contributor counts of k-thresholded aggregations are series like any other.

use crate::aggregation::Aggregation;
use crate::filter_expr::FilterExpr;
use crate::min_contributors::MinContributors;
use crate::tiles::TiledAggregate;
use crate::view_state::ViewAggregation;
use crate::window::Window;

/// One tile series: what it aggregates, of which events, over which window.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SeriesDef {
    /// The column read, `None` for `count` of events.
    pub(crate) column: Option<String>,
    pub(crate) aggregation: Aggregation,
    pub(crate) filter: Option<FilterExpr>,
    /// The longest window of the aggregations it serves.
    pub(crate) window: Window,
}

impl SeriesDef {
    fn serves(
        &self,
        column: Option<&str>,
        aggregation: &Aggregation,
        filter: Option<&FilterExpr>,
        window: Window,
    ) -> bool {
        self.column.as_deref() == column
            && &self.aggregation == aggregation
            && self.filter.as_ref() == filter
            && self.window.hop() == window.hop()
    }

    /// An empty series.
    pub(crate) fn new_series(&self) -> TiledAggregate {
        TiledAggregate::new(self.aggregation.clone(), self.window)
    }
}

/// How one aggregation of the view is answered.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Output {
    /// The series holding its tiles.
    pub(crate) series: usize,
    /// Its own window (the series' window or a shorter one of the same hop).
    pub(crate) window: Window,
    /// Its k-threshold and the series counting its contributors.
    pub(crate) threshold: Option<(MinContributors, usize)>,
}

/// The series of a view's state and how each aggregation reads them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SeriesLayout {
    pub(crate) series: Vec<SeriesDef>,
    /// One per aggregation of the view, in spec order.
    pub(crate) outputs: Vec<Output>,
}

impl SeriesLayout {
    /// The layout of these aggregations: series in order of first use (each aggregation's
    /// values, then, for a k-thresholded one, its contributor count).
    pub(crate) fn of(aggregations: &[ViewAggregation]) -> Self {
        let mut series: Vec<SeriesDef> = Vec::new();
        let mut place = |column: Option<&str>,
                         aggregation: &Aggregation,
                         filter: Option<&FilterExpr>,
                         window: Window|
         -> usize {
            if let Some(i) = series
                .iter()
                .position(|s| s.serves(column, aggregation, filter, window))
            {
                if let (Some(have), Some(want)) = (series[i].window.length(), window.length()) {
                    if want > have {
                        series[i].window = window;
                    }
                }
                return i;
            }
            series.push(SeriesDef {
                column: column.map(str::to_owned),
                aggregation: aggregation.clone(),
                filter: filter.cloned(),
                window,
            });
            series.len() - 1
        };
        let contributors = MinContributors::contributor_aggregation();
        let outputs = aggregations
            .iter()
            .map(|a| {
                let values = place(a.column(), a.aggregation(), a.filter(), a.window());
                let threshold = a.min_contributors().map(|m| {
                    let counts = place(Some(m.by()), &contributors, a.filter(), a.window());
                    (m.clone(), counts)
                });
                Output {
                    series: values,
                    window: a.window(),
                    threshold,
                }
            })
            .collect();
        SeriesLayout { series, outputs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg_function::AggFunction;
    use crate::data_type::InputType;

    fn agg(column: Option<&str>, f: AggFunction, t: Option<InputType>, w: &str) -> ViewAggregation {
        ViewAggregation::new(
            column,
            Aggregation::new(f, t).unwrap(),
            Window::parse(w).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn windows_of_one_hop_share_a_series() {
        let sum = |w| agg(Some("x"), AggFunction::Sum, Some(InputType::Int64), w);
        let layout = SeriesLayout::of(&[
            sum("1h"),
            sum("1d"),
            sum("7d"),
            agg(None, AggFunction::Count, None, "7d"),
            sum("30d"),
            sum("lifetime"),
            sum("12h"),
        ]);
        let series: Vec<usize> = layout.outputs.iter().map(|o| o.series).collect();
        assert_eq!(series, [0, 1, 1, 2, 3, 4, 0]);
        let windows: Vec<String> = layout.series.iter().map(|s| s.window.to_string()).collect();
        assert_eq!(windows, ["12h", "7d", "7d", "30d", "lifetime"]);
    }

    #[test]
    fn filters_and_thresholds_are_their_own_series() {
        let plays = agg(None, AggFunction::Count, None, "1d")
            .with_filter(FilterExpr::parse("action = 'play'").unwrap());
        let layout = SeriesLayout::of(&[
            agg(None, AggFunction::Count, None, "1d"),
            plays.clone(),
            plays.with_min_contributors(MinContributors::new(3, "u").unwrap()),
        ]);
        let series: Vec<usize> = layout.outputs.iter().map(|o| o.series).collect();
        assert_eq!(series, [0, 1, 1]);
        assert_eq!(layout.outputs[2].threshold.as_ref().map(|t| t.1), Some(2));
        assert_eq!(layout.series.len(), 3);
    }
}
