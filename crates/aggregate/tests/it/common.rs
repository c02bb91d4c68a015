//! Generators and helpers shared by the property tests.

use proptest::prelude::*;
use tessera_aggregate::*;

/// A small deterministic PRNG (splitmix64) for shuffles and merge-tree shapes.
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Every function with every input type it accepts.
pub(crate) fn all_aggregations() -> Vec<Aggregation> {
    use AggFunction as F;
    use InputType as T;
    let all_types = [T::Int64, T::Float64, T::Bool, T::String, T::Timestamp];
    let mut out = vec![Aggregation::count_events()];
    let mut add = |f: F, types: &[T]| {
        for t in types {
            out.push(Aggregation::new(f.clone(), Some(*t)).unwrap());
        }
    };
    add(F::Count, &all_types);
    add(F::Sum, &[T::Int64, T::Float64]);
    add(F::Mean, &[T::Int64, T::Float64]);
    add(F::Min, &all_types);
    add(F::Max, &all_types);
    add(F::Last, &all_types);
    add(F::LastK { k: 1 }, &[T::Int64]);
    add(F::LastK { k: 3 }, &all_types);
    add(F::CountDistinct, &all_types);
    add(F::ApproxCountDistinct, &all_types);
    add(F::ApproxPercentile { q: 0.5 }, &[T::Int64, T::Float64]);
    add(F::ApproxPercentile { q: 0.9 }, &[T::Float64]);
    add(F::ApproxPercentile { q: 0.99 }, &[T::Int64]);
    out
}

pub(crate) fn arb_aggregation() -> impl Strategy<Value = Aggregation> {
    proptest::sample::select(all_aggregations())
}

/// Values of a column type, with nulls, NaN, signed zeros and many ties.
pub(crate) fn arb_value(input: Option<InputType>) -> BoxedStrategy<Value> {
    match input {
        None => prop_oneof![Just(Value::Null), (-3i64..3).prop_map(Value::Int64)].boxed(),
        Some(InputType::Int64) => prop_oneof![
            1 => Just(Value::Null),
            5 => (-5i64..5).prop_map(Value::Int64),
            2 => any::<i64>().prop_map(Value::Int64),
            1 => prop::sample::select(vec![i64::MIN, i64::MAX]).prop_map(Value::Int64),
        ]
        .boxed(),
        Some(InputType::Float64) => prop_oneof![
            1 => Just(Value::Null),
            1 => Just(Value::Float64(f64::NAN)),
            1 => prop::sample::select(vec![0.0, -0.0, 1e-300, -1e-300]).prop_map(Value::Float64),
            4 => (-6i32..6).prop_map(|h| Value::Float64(f64::from(h) / 2.0)),
            4 => (-1e6f64..1e6).prop_map(Value::Float64),
        ]
        .boxed(),
        Some(InputType::Bool) => {
            prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::Bool)].boxed()
        }
        Some(InputType::String) => prop_oneof![
            1 => Just(Value::Null),
            3 => prop::sample::select(vec!["", "a", "b", "play", "é", "ab"]).prop_map(Value::from),
            2 => "[a-z]{0,8}".prop_map(Value::from),
        ]
        .boxed(),
        Some(InputType::Timestamp) => prop_oneof![
            1 => Just(Value::Null),
            3 => (-5i64..5).prop_map(Value::Timestamp),
            2 => any::<i64>().prop_map(Value::Timestamp),
        ]
        .boxed(),
    }
}

/// An aggregation with events (timestamps in a small range, so many tie).
pub(crate) fn arb_agg_events(
    max_len: usize,
) -> impl Strategy<Value = (Aggregation, Vec<(i64, Value)>)> {
    arb_aggregation().prop_flat_map(move |agg| {
        let events = prop::collection::vec((-20i64..20, arb_value(agg.input())), 0..max_len);
        (Just(agg), events)
    })
}

pub(crate) fn fold(agg: &Aggregation, events: &[(i64, Value)]) -> AggState {
    let mut s = agg.new_state();
    for (ts, v) in events {
        s.update(v, *ts);
    }
    s
}

/// The events in a random order, folded in random chunks, the chunk states
/// merged in a random tree.
pub(crate) fn fold_tree(
    agg: &Aggregation,
    events: &[(i64, Value)],
    rng: &mut SplitMix,
) -> AggState {
    let mut shuffled = events.to_vec();
    rng.shuffle(&mut shuffled);
    let mut states = Vec::new();
    let mut rest = shuffled.as_slice();
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(8));
        let (chunk, tail) = rest.split_at(n);
        states.push(fold(agg, chunk));
        rest = tail;
    }
    // Some empty states too: the identity must not change anything.
    states.push(agg.new_state());
    while states.len() > 1 {
        let i = rng.below(states.len());
        let a = states.swap_remove(i);
        let j = rng.below(states.len());
        states[j].merge(&a).unwrap();
    }
    states.pop().unwrap()
}

pub(crate) fn encoded(s: &AggState) -> Vec<u8> {
    let mut out = Vec::new();
    s.encode(&mut out);
    out
}

/// Float `sum`/`mean`: equal within rounding, not bit for bit.
pub(crate) fn is_float_sum(agg: &Aggregation) -> bool {
    matches!(agg.function(), AggFunction::Sum | AggFunction::Mean)
        && agg.input() == Some(InputType::Float64)
}

/// 1e-12 of the sum of magnitudes: the tolerance for float sums and means.
pub(crate) fn float_tolerance(events: &[(i64, Value)]) -> f64 {
    let total: f64 = events
        .iter()
        .filter_map(|(_, v)| match v {
            Value::Float64(x) if x.is_finite() => Some(x.abs()),
            _ => None,
        })
        .sum();
    1e-12 * total + f64::MIN_POSITIVE
}

/// Equal, except floats may differ by `tol`.
pub(crate) fn assert_close(a: &Value, b: &Value, tol: f64, context: &str) {
    match (a, b) {
        (Value::Float64(x), Value::Float64(y)) => {
            assert!(
                x == y || (x.is_nan() && y.is_nan()) || (x - y).abs() <= tol,
                "{context}: {x} vs {y} (tolerance {tol})"
            );
        }
        _ => assert_eq!(a, b, "{context}"),
    }
}

/// The hop rule, restated independently of the crate.
pub(crate) fn reference_hop(window: Window) -> Option<i128> {
    let w = i128::from(window.length()?);
    let (hour, day) = (i128::from(HOUR), i128::from(DAY));
    Some(if w <= 12 * hour {
        5 * i128::from(MINUTE)
    } else if w <= 12 * day {
        hour
    } else {
        day
    })
}

/// Whether `ts` is in the window as of `t`, computed exactly in `i128`:
/// `floor_to_hop(t - W) <= ts <= t`.
pub(crate) fn reference_contains(window: Window, t: i64, ts: i64) -> bool {
    if ts > t {
        return false;
    }
    match (window.length(), reference_hop(window)) {
        (Some(w), Some(hop)) => {
            let start = (i128::from(t) - i128::from(w)).div_euclid(hop) * hop;
            i128::from(ts) >= start
        }
        _ => true,
    }
}

/// The exact value over the window as of `t` by filtering every event and
/// folding the survivors in a random order.
pub(crate) fn brute_force(
    agg: &Aggregation,
    window: Window,
    events: &[(i64, Value)],
    t: i64,
    rng: &mut SplitMix,
) -> Value {
    let mut inside: Vec<_> = events
        .iter()
        .filter(|(ts, _)| reference_contains(window, t, *ts))
        .cloned()
        .collect();
    rng.shuffle(&mut inside);
    fold(agg, &inside).finish()
}
