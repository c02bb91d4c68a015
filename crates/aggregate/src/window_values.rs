//! [`window_values`]: the batch path. For one entity's events, the exact window
//! value as of many query times, in `O(events + queries)` merges.
//!
//! Events are bucketed into hop tiles with the same [`AggState`] the stream path
//! uses. Complete tiles of the current window sit in a two-stacks sliding-window
//! aggregator ("SWAG"), which needs only `merge` (no inverse), so it works for
//! every function: pushing a tile and evicting the oldest are amortised `O(1)`
//! merges. The partial *head* tile, the events in `[tile_start(T), T]`, is
//! accumulated separately, so the answer covers exactly
//! `window.start_at(T) <= ts <= T`, the same set
//! [`crate::TiledAggregate::value_at`] answers for.

use crate::agg_state::AggState;
use crate::aggregation::Aggregation;
use crate::error::{Error, Result};
use crate::window::{tile_start, Window};
use tessera_value::Value;

/// For each query time `T`, the value of `aggregation` over the events with
/// `window.start_at(T) <= ts <= T`.
///
/// `events` are `(ts, value)` of one entity, sorted by `ts` (ties in any order:
/// the result does not depend on it); [`Error::UnsortedEvents`] otherwise.
/// `queries` may come in any order; the result has one value per query, in
/// query order. For every function except float `sum`/`mean` the values are
/// identical to [`crate::TiledAggregate::value_at`] on the same events; float
/// sums agree to ~1e-15 relative.
///
/// ```
/// use tessera_aggregate::{window_values, Aggregation, Value, Window, HOUR, MINUTE};
/// let events = [(0, Value::Null), (20 * MINUTE, Value::Null), (HOUR, Value::Null)];
/// let queries = [HOUR, HOUR + 7 * MINUTE, 2 * HOUR + 5 * MINUTE];
/// let counts = window_values(&events, &queries, &Aggregation::count_events(), Window::parse("1h")?)?;
/// // As of 1:07 the window starts at 0:05 (1:07 - 1h, floored to 5 min).
/// assert_eq!(counts, [Value::Int64(3), Value::Int64(2), Value::Int64(0)]);
/// # Ok::<(), tessera_aggregate::Error>(())
/// ```
pub fn window_values(
    events: &[(i64, Value)],
    queries: &[i64],
    aggregation: &Aggregation,
    window: Window,
) -> Result<Vec<Value>> {
    if let Some(i) = events.windows(2).position(|w| w[1].0 < w[0].0) {
        return Err(Error::UnsortedEvents {
            index: i + 1,
            ts: events[i + 1].0,
        });
    }
    let mut order: Vec<usize> = (0..queries.len()).collect();
    order.sort_by_key(|&i| queries[i]);
    let mut out = vec![Value::Null; queries.len()];
    match window.hop() {
        None => {
            let mut state = aggregation.new_state();
            let mut cursor = 0;
            for i in order {
                let t = queries[i];
                while let Some((ts, v)) = events.get(cursor).filter(|(ts, _)| *ts <= t) {
                    state.update(v, *ts);
                    cursor += 1;
                }
                out[i] = state.finish();
            }
        }
        Some(hop) => {
            let mut swag = Swag::new(aggregation);
            let mut tile_cursor = 0;
            let mut head: Option<(i64, AggState, usize)> = None;
            for i in order {
                let t = queries[i];
                let window_start = window.start_at(t).unwrap_or(i64::MIN);
                let head_start = tile_start(t, hop);
                // Complete tiles: every event before the head tile.
                while let Some(&(first_ts, _)) =
                    events.get(tile_cursor).filter(|(ts, _)| *ts < head_start)
                {
                    let start = tile_start(first_ts, hop);
                    let mut state = aggregation.new_state();
                    while let Some((ts, v)) = events
                        .get(tile_cursor)
                        .filter(|(ts, _)| tile_start(*ts, hop) == start)
                    {
                        state.update(v, *ts);
                        tile_cursor += 1;
                    }
                    // Tiles older than this window are older than every later one too.
                    if start >= window_start && !state.is_empty() {
                        swag.push(start, state)?;
                    }
                }
                swag.evict_before(window_start)?;
                // The head tile, from its first event up to t.
                if head
                    .as_ref()
                    .is_none_or(|(start, _, _)| *start != head_start)
                {
                    head = Some((head_start, aggregation.new_state(), tile_cursor));
                }
                let mut acc = swag.aggregate()?;
                if let Some((_, head_state, head_cursor)) = &mut head {
                    while let Some((ts, v)) = events.get(*head_cursor).filter(|(ts, _)| *ts <= t) {
                        head_state.update(v, *ts);
                        *head_cursor += 1;
                    }
                    acc.merge(head_state)?;
                }
                out[i] = acc.finish();
            }
        }
    }
    Ok(out)
}

/// Two-stacks sliding-window aggregation over tile states, oldest tile first.
struct Swag<'a> {
    aggregation: &'a Aggregation,
    /// Oldest tiles, the oldest on top (last); each with the merge of itself and
    /// every newer tile in this stack.
    front: Vec<(i64, AggState)>,
    /// Newer tiles in arrival order, and their merge.
    back: Vec<(i64, AggState)>,
    back_agg: AggState,
}

impl<'a> Swag<'a> {
    fn new(aggregation: &'a Aggregation) -> Self {
        Swag {
            aggregation,
            front: Vec::new(),
            back: Vec::new(),
            back_agg: aggregation.new_state(),
        }
    }

    fn push(&mut self, start: i64, state: AggState) -> Result<()> {
        self.back_agg.merge(&state)?;
        self.back.push((start, state));
        Ok(())
    }

    /// Moves the back stack onto the front, computing suffix merges.
    fn flip(&mut self) -> Result<()> {
        while let Some((start, mut state)) = self.back.pop() {
            if let Some((_, newer)) = self.front.last() {
                state.merge(newer)?;
            }
            self.front.push((start, state));
        }
        self.back_agg = self.aggregation.new_state();
        Ok(())
    }

    fn evict_before(&mut self, window_start: i64) -> Result<()> {
        loop {
            if self.front.is_empty() {
                if self.back.first().is_none_or(|(s, _)| *s >= window_start) {
                    return Ok(());
                }
                self.flip()?;
            }
            match self.front.last() {
                Some((s, _)) if *s < window_start => {
                    self.front.pop();
                }
                _ => return Ok(()),
            }
        }
    }

    fn aggregate(&self) -> Result<AggState> {
        let mut acc = self.aggregation.new_state();
        if let Some((_, s)) = self.front.last() {
            acc.merge(s)?;
        }
        acc.merge(&self.back_agg)?;
        Ok(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg_function::AggFunction;
    use crate::data_type::InputType;
    use crate::window::{DAY, HOUR, MINUTE};

    #[test]
    fn sums_over_a_sliding_day() {
        let agg = Aggregation::new(AggFunction::Sum, Some(InputType::Int64)).unwrap();
        let events: Vec<_> = (0..48).map(|h| (h * HOUR, Value::Int64(1))).collect();
        let queries = [
            0,
            23 * HOUR,
            24 * HOUR,
            30 * HOUR + 1,
            47 * HOUR,
            100 * DAY,
            -1,
        ];
        let got = window_values(&events, &queries, &agg, Window::Duration(DAY)).unwrap();
        // start_at(T) = floor_hour(T - 1d).
        assert_eq!(
            got,
            [
                Value::Int64(1),
                Value::Int64(24),
                Value::Int64(25),
                Value::Int64(25),
                Value::Int64(25),
                Value::Null,
                Value::Null
            ]
        );
    }

    #[test]
    fn unsorted_events_are_an_error() {
        let events = [(5, Value::Null), (3, Value::Null)];
        let err = window_values(
            &events,
            &[10],
            &Aggregation::count_events(),
            Window::Lifetime,
        );
        assert!(matches!(
            err,
            Err(Error::UnsortedEvents { index: 1, ts: 3 })
        ));
    }

    #[test]
    fn lifetime_and_equal_timestamps() {
        let agg = Aggregation::new(AggFunction::Last, Some(InputType::String)).unwrap();
        let events = [
            (1, Value::from("b")),
            (1, Value::from("a")),
            (2, Value::Null),
        ];
        let got = window_values(&events, &[0, 1, 5], &agg, Window::Lifetime).unwrap();
        assert_eq!(got, [Value::Null, Value::from("b"), Value::from("b")]);
        let w = Window::Duration(10 * MINUTE);
        let got = window_values(&events, &[1], &agg, w).unwrap();
        assert_eq!(got, [Value::from("b")]);
    }
}
