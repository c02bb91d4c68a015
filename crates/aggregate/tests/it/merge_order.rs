//! Order and merge-tree independence: the stream path (arrival order) and the
//! batch path (sorted, merged in another shape) must build the same state.

use proptest::prelude::*;
use tessera_aggregate::*;

use crate::common::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any permutation, chunking and merge tree gives the same state as
    /// sequential updates: identical bytes, or within 1e-12 for float sums.
    #[test]
    fn every_function_is_order_and_merge_independent(
        (agg, events) in arb_agg_events(40),
        seed in any::<u64>(),
    ) {
        let sequential = fold(&agg, &events);
        let mut rng = SplitMix::new(seed);
        let tree = fold_tree(&agg, &events, &mut rng);
        if is_float_sum(&agg) {
            assert_close(&tree.finish(), &sequential.finish(), float_tolerance(&events), "float sum");
        } else {
            prop_assert_eq!(encoded(&tree), encoded(&sequential));
            prop_assert_eq!(&tree, &sequential);
            prop_assert_eq!(tree.finish(), sequential.finish());
        }
        prop_assert_eq!(tree.is_empty(), sequential.is_empty());
    }

    /// The same for whole tiled aggregates: events split among replicas in a
    /// random order, merged, equal the sequentially built one.
    #[test]
    fn tiled_aggregates_merge_independently(
        (agg, events) in arb_agg_events(40),
        window in prop::sample::select(vec![
            Window::Duration(30 * SECOND),
            Window::Duration(2 * DAY),
            Window::Duration(20 * DAY),
            Window::Lifetime,
        ]),
        scale in prop::sample::select(vec![1i64, SECOND, 10 * MINUTE, 7 * HOUR]),
        seed in any::<u64>(),
    ) {
        let events: Vec<_> = events.into_iter().map(|(ts, v)| (ts * scale, v)).collect();
        let mut sequential = TiledAggregate::new(agg.clone(), window);
        for (ts, v) in &events {
            sequential.update(*ts, v);
        }
        let mut rng = SplitMix::new(seed);
        let mut shuffled = events.clone();
        rng.shuffle(&mut shuffled);
        let mut replicas = vec![TiledAggregate::new(agg.clone(), window); 1 + rng.below(4)];
        for (ts, v) in &shuffled {
            let i = rng.below(replicas.len());
            replicas[i].update(*ts, v);
        }
        let mut merged = replicas.pop().unwrap();
        for r in &replicas {
            merged.merge(r).unwrap();
        }
        if is_float_sum(&agg) {
            let t = sequential.max_ts().unwrap_or(0);
            assert_close(
                &merged.value_at(t).unwrap(),
                &sequential.value_at(t).unwrap(),
                float_tolerance(&events),
                "tiled float sum",
            );
        } else {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            merged.encode(&mut a);
            sequential.encode(&mut b);
            prop_assert_eq!(a, b);
            prop_assert_eq!(merged, sequential);
        }
    }
}

#[test]
fn hll_sparse_and_dense_merge_to_the_same_state() {
    let agg = Aggregation::new(AggFunction::ApproxCountDistinct, Some(InputType::String)).unwrap();
    let events: Vec<_> = (0..3000)
        .map(|i| (i, Value::from(format!("user-{}", i % 2500))))
        .collect();
    let sequential = fold(&agg, &events);
    for seed in 0..5 {
        let tree = fold_tree(&agg, &events, &mut SplitMix::new(seed));
        assert_eq!(encoded(&tree), encoded(&sequential));
    }
    // Small pieces stay sparse (tiny), and merge into the dense state exactly.
    let small = fold(&agg, &events[..5]);
    assert!(encoded(&small).len() < 20, "{}", encoded(&small).len());
}
