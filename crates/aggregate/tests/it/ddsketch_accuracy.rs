//! DDSketch: every quantile within relative error α = 0.01 of the true
//! quantile (the element of rank ⌊q·(n−1)⌋), on assorted distributions.

use proptest::prelude::*;
use tessera_aggregate::*;

fn arb_sample() -> impl Strategy<Value = Vec<f64>> {
    let value = prop_oneof![
        3 => -1e3f64..1e3,
        3 => (-20.0f64..20.0).prop_map(f64::exp),           // log-uniform, wide range
        2 => (-20.0f64..20.0).prop_map(|x| -x.exp()),
        1 => Just(0.0),
        1 => (0u32..50).prop_map(f64::from),                // many ties
        1 => 1e-9f64..1e-6,
    ];
    prop::collection::vec(value, 1..1000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn quantiles_within_relative_accuracy(values in arb_sample(), q in 0.001f64..0.999) {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [q, 0.5, 0.9, 0.99] {
            let agg = Aggregation::new(AggFunction::ApproxPercentile { q }, Some(InputType::Float64)).unwrap();
            let mut s = agg.new_state();
            for v in &values {
                s.update(&Value::Float64(*v), 0);
            }
            let exact = sorted[(q * (sorted.len() - 1) as f64).floor() as usize];
            let Value::Float64(got) = s.finish() else { panic!("no value") };
            prop_assert!(
                (got - exact).abs() <= DDSKETCH_ALPHA * exact.abs() * (1.0 + 1e-9),
                "q = {}, exact {}, got {}", q, exact, got
            );
        }
    }
}

#[test]
fn integer_inputs_and_empty_sketch() {
    let agg = Aggregation::new(
        AggFunction::ApproxPercentile { q: 0.9 },
        Some(InputType::Int64),
    )
    .unwrap();
    let mut s = agg.new_state();
    assert_eq!(s.finish(), Value::Null);
    for i in 1..=1000 {
        s.update(&Value::Int64(i), 0);
    }
    let Value::Float64(p90) = s.finish() else {
        panic!()
    };
    assert!((p90 - 900.0).abs() <= 9.0, "{p90}");
}
