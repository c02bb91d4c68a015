//! Parity of the three ways to compute a window value: the batch path
//! ([`window_values`]), the tiled stream path ([`TiledAggregate::value_at`]) and
//! a brute-force reference that filters every event by
//! `floor_to_hop(T − W) <= ts <= T` and folds the survivors in a random order.

use proptest::prelude::*;
use tessera_aggregate::*;

use crate::common::*;

/// Windows of all three hop classes, at and around the class edges, and lifetime.
fn windows() -> Vec<Window> {
    vec![
        Window::Duration(90 * SECOND),
        Window::Duration(HOUR),
        Window::Duration(12 * HOUR),
        Window::Duration(DAY),
        Window::Duration(7 * DAY),
        Window::Duration(12 * DAY),
        Window::Duration(30 * DAY),
        Window::Lifetime,
    ]
}

/// Timestamps on a grid of a fiftieth of the window (or hop), ±1 µs, so that
/// events land on tile and window boundaries often, span about six windows,
/// include negative times, and tie.
fn arb_case() -> impl Strategy<Value = (Aggregation, Window, Vec<(i64, Value)>, Vec<i64>, u64)> {
    (arb_aggregation(), prop::sample::select(windows())).prop_flat_map(|(agg, window)| {
        let span = window
            .length()
            .unwrap_or(DAY)
            .max(window.hop().unwrap_or(HOUR));
        let unit = span / 50;
        let ts = prop_oneof![
            20 => (-150i64..150, -1i64..=1).prop_map(move |(k, j)| k * unit + j),
            1 => Just(i64::MIN),
            1 => Just(i64::MIN + 1),
        ];
        let events = prop::collection::vec((ts.clone(), arb_value(agg.input())), 0..40);
        let queries = prop::collection::vec(ts, 0..10);
        (Just(agg), Just(window), events, queries, any::<u64>())
    })
}

/// Query times at every edge the events define.
fn edge_queries(window: Window, events: &[(i64, Value)]) -> Vec<i64> {
    let w = window.length().unwrap_or(DAY);
    let hop = window.hop().unwrap_or(HOUR);
    let mut qs = Vec::new();
    for (ts, _) in events {
        let start = tile_start(*ts, hop);
        for q in [
            *ts,
            ts.saturating_sub(1),
            ts.saturating_add(1),
            start.saturating_add(hop),
            start.saturating_add(hop - 1),
            ts.saturating_add(w),
            ts.saturating_add(w).saturating_sub(1),
            start.saturating_add(w).saturating_add(hop),
            start.saturating_add(w).saturating_add(hop - 1),
        ] {
            qs.push(q);
        }
    }
    qs.push(i64::MAX);
    qs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn batch_equals_brute_force_equals_tiles(
        (agg, window, mut events, random_queries, seed) in arb_case(),
    ) {
        events.sort_by_key(|(ts, _)| *ts);
        let mut rng = SplitMix::new(seed);
        let tol = float_tolerance(&events);
        let mut queries = edge_queries(window, &events);
        queries.extend(random_queries);
        rng.shuffle(&mut queries);

        // Batch, with ties among equal timestamps in a random order.
        let mut batch_events = events.clone();
        shuffle_ties(&mut batch_events, &mut rng);
        let batch = window_values(&batch_events, &queries, &agg, window).unwrap();

        // Stream: arrival in a random order, split over two replicas, merged.
        let mut arrival = events.clone();
        rng.shuffle(&mut arrival);
        let mut tiled = TiledAggregate::new(agg.clone(), window);
        let mut replica = TiledAggregate::new(agg.clone(), window);
        for (i, (ts, v)) in arrival.iter().enumerate() {
            if i % 3 == 0 { replica.update(*ts, v); } else { tiled.update(*ts, v); }
        }
        tiled.merge(&replica).unwrap();
        let max_ts = tiled.max_ts();

        for (t, b) in queries.iter().zip(&batch) {
            let reference = brute_force(&agg, window, &events, *t, &mut rng);
            assert_close(b, &reference, tol, &format!("batch vs brute force at {t}"));
            match tiled.value_at(*t) {
                Ok(v) => assert_close(&v, &reference, tol, &format!("tiles vs brute force at {t}")),
                Err(Error::NotServable { max_ts: m, .. }) => {
                    prop_assert!(m > *t);
                    prop_assert!(max_ts.is_some_and(|m| m > *t), "T >= max ts must be servable");
                }
                Err(e) => prop_assert!(false, "unexpected error at {}: {}", t, e),
            }
        }

        // After evicting for "now", "now" and later still answer exactly.
        if let Some(&now) = queries.iter().filter(|&&q| max_ts.is_none_or(|m| q >= m)).min() {
            let mut evicted = tiled.clone();
            evicted.evict_before(now);
            for t in [now, now.saturating_add(1), i64::MAX] {
                let reference = brute_force(&agg, window, &events, t, &mut rng);
                assert_close(&evicted.value_at(t).unwrap(), &reference, tol, "after eviction");
            }
        }
    }

    /// A view state with filters equals the batch path over filtered events.
    #[test]
    fn view_state_matches_filtered_batch(
        events in prop::collection::vec((-100i64..100, 0i64..4, prop::option::of(-5i64..5)), 0..40),
        seed in any::<u64>(),
    ) {
        let actions = ["play", "skip", "like", "share"];
        let filter = FilterExpr::parse("action in ('play', 'like') and not (x < -3)").unwrap();
        let sum = Aggregation::new(AggFunction::Sum, Some(InputType::Int64)).unwrap();
        let spec = ViewSpec::new(vec![
            ViewAggregation::new(Some("x"), sum.clone(), Window::Duration(HOUR)).unwrap().with_filter(filter.clone()),
            ViewAggregation::new(None, Aggregation::count_events(), Window::Duration(2 * HOUR)).unwrap(),
        ]);
        let mut rows: Vec<(i64, [(&str, Value); 2])> = events
            .iter()
            .map(|(m, a, x)| (m * MINUTE, [("action", Value::from(actions[*a as usize])), ("x", Value::from(*x))]))
            .collect();
        rows.sort_by_key(|(ts, _)| *ts);
        let mut arrival = rows.clone();
        SplitMix::new(seed).shuffle(&mut arrival);
        let mut state = spec.new_state();
        for (ts, row) in &arrival {
            state.update(&spec, *ts, row).unwrap();
        }
        let now = rows.last().map_or(0, |(ts, _)| *ts);
        let filtered: Vec<_> = rows.iter().filter(|(_, r)| filter.eval(r)).map(|(ts, r)| (*ts, r[1].1.clone())).collect();
        let all: Vec<_> = rows.iter().map(|(ts, _)| (*ts, Value::Null)).collect();
        let expect_sum = window_values(&filtered, &[now], &sum, Window::Duration(HOUR)).unwrap();
        let expect_count = window_values(&all, &[now], &Aggregation::count_events(), Window::Duration(2 * HOUR)).unwrap();
        prop_assert_eq!(state.value_at(now).unwrap(), vec![expect_sum[0].clone(), expect_count[0].clone()]);
    }
}

/// Shuffles runs of equal timestamps, keeping the list sorted.
fn shuffle_ties(events: &mut [(i64, Value)], rng: &mut SplitMix) {
    let mut i = 0;
    while i < events.len() {
        let j = i + events[i..]
            .iter()
            .take_while(|(ts, _)| *ts == events[i].0)
            .count();
        rng.shuffle(&mut events[i..j]);
        i = j;
    }
}

#[test]
fn extreme_timestamps_do_not_overflow() {
    let agg = Aggregation::new(AggFunction::Max, Some(InputType::Int64)).unwrap();
    for window in windows() {
        let events = [
            (i64::MIN, Value::Int64(1)),
            (0, Value::Int64(2)),
            (i64::MAX, Value::Int64(3)),
        ];
        let mut tiled = TiledAggregate::new(agg.clone(), window);
        for (ts, v) in &events {
            tiled.update(*ts, v);
        }
        let qs = [i64::MIN, -1, 0, i64::MAX - 1, i64::MAX];
        let batch = window_values(&events, &qs, &agg, window).unwrap();
        let mut rng = SplitMix::new(1);
        for (t, b) in qs.iter().zip(&batch) {
            assert_eq!(
                b,
                &brute_force(&agg, window, &events, *t, &mut rng),
                "{window} at {t}"
            );
        }
        assert_eq!(tiled.value_at(i64::MAX).unwrap(), batch[4]);
        tiled.evict_before(i64::MAX);
        assert_eq!(tiled.value_at(i64::MAX).unwrap(), batch[4]);
    }
}
