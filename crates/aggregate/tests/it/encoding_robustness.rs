//! Encodings round-trip, are deterministic, and damaged bytes are errors,
//! never panics or unbounded allocations.

use proptest::prelude::*;
use tessera_aggregate::*;

use crate::common::*;

fn spec() -> ViewSpec {
    let sum = Aggregation::new(AggFunction::Sum, Some(InputType::Float64)).unwrap();
    let hll = Aggregation::new(AggFunction::ApproxCountDistinct, Some(InputType::String)).unwrap();
    ViewSpec::new(vec![
        ViewAggregation::new(None, Aggregation::count_events(), Window::Duration(HOUR)).unwrap(),
        ViewAggregation::new(Some("x"), sum, Window::Duration(7 * DAY)).unwrap(),
        ViewAggregation::new(Some("s"), hll, Window::Lifetime).unwrap(),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn states_round_trip_and_reject_truncation(
        (agg, events) in arb_agg_events(30),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let state = fold(&agg, &events);
        let bytes = encoded(&state);
        let (back, used) = AggState::decode(&bytes).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(encoded(&back), bytes.clone());
        prop_assert_eq!(back.finish(), state.finish());
        // Trailing bytes are left for the caller.
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[7, 7, 7]);
        prop_assert_eq!(AggState::decode(&longer).unwrap().1, bytes.len());
        // Every proper prefix is an error.
        for n in 0..bytes.len() {
            prop_assert!(AggState::decode(&bytes[..n]).is_err(), "prefix {}", n);
        }
        // Damaged bytes never panic; whatever decodes re-encodes.
        let mut damaged = bytes.clone();
        for (i, b) in flips {
            let at = i.index(damaged.len());
            damaged[at] ^= b;
        }
        if let Ok((s, _)) = AggState::decode(&damaged) {
            let _ = s.finish();
            let _ = encoded(&s);
        }
    }

    #[test]
    fn tiled_aggregates_round_trip_and_reject_truncation(
        (agg, events) in arb_agg_events(30),
        window in prop::sample::select(vec![Window::Duration(HOUR), Window::Duration(30 * DAY), Window::Lifetime]),
        scale in prop::sample::select(vec![1i64, MINUTE, DAY]),
        evict in any::<bool>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut tiled = TiledAggregate::new(agg, window);
        for (ts, v) in &events {
            tiled.update(ts * scale, v);
        }
        if evict {
            tiled.evict_before(5 * scale);
        }
        let mut bytes = Vec::new();
        tiled.encode(&mut bytes);
        let (back, used) = TiledAggregate::decode(&bytes).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(&back, &tiled);
        for n in 0..bytes.len() {
            prop_assert!(TiledAggregate::decode(&bytes[..n]).is_err(), "prefix {}", n);
        }
        let mut damaged = bytes;
        for (i, b) in flips {
            let at = i.index(damaged.len());
            damaged[at] ^= b;
        }
        if let Ok((t, _)) = TiledAggregate::decode(&damaged) {
            let _ = t.value_at(i64::MAX);
        }
    }

    #[test]
    fn view_states_round_trip(
        events in prop::collection::vec((-50i64..50, -5.0f64..5.0, "[a-c]{1,2}"), 0..30),
        cut in any::<prop::sample::Index>(),
    ) {
        let spec = spec();
        let mut state = spec.new_state();
        for (ts, x, s) in &events {
            let row = [("x", Value::Float64(*x)), ("s", Value::from(s.as_str()))];
            state.update(&spec, ts * MINUTE, &row).unwrap();
        }
        let mut blob = Vec::new();
        state.encode(&mut blob);
        prop_assert_eq!(&ViewState::decode(&blob, &spec).unwrap(), &state);
        let n = cut.index(blob.len());
        prop_assert!(ViewState::decode(&blob[..n], &spec).is_err());
    }

    /// Arbitrary bytes, with or without a valid version byte and kind tag in
    /// front, never panic any decoder.
    #[test]
    fn random_bytes_never_panic(tag in 0u8..16, mut bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = AggState::decode(&bytes);
        let _ = TiledAggregate::decode(&bytes);
        let _ = ViewState::decode(&bytes, &spec());
        bytes.insert(0, tag);
        bytes.insert(0, 1);
        if let Ok((s, _)) = AggState::decode(&bytes) {
            let _ = s.finish();
        }
        let _ = TiledAggregate::decode(&bytes);
        let _ = ViewState::decode(&bytes, &spec());
    }
}

#[test]
fn huge_claimed_lengths_are_errors_not_allocations() {
    // count_distinct claiming 2^62 entries, then nothing.
    let bytes = [
        1u8, 11, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40,
    ];
    assert!(matches!(
        AggState::decode(&bytes),
        Err(Error::Decode { .. })
    ));
    // A dense HyperLogLog cut short.
    let mut hll = vec![1u8, 12, 1];
    hll.extend_from_slice(&[3; 100]);
    assert!(AggState::decode(&hll).is_err());
    // A version this build does not read.
    assert!(matches!(
        AggState::decode(&[2, 1, 0]),
        Err(Error::UnsupportedVersion { found: 2, .. })
    ));
}

#[test]
fn encoding_is_compact_for_small_states() {
    let agg = Aggregation::new(AggFunction::Sum, Some(InputType::Int64)).unwrap();
    let mut s = agg.new_state();
    s.update(&Value::Int64(42), 0);
    assert!(encoded(&s).len() <= 5, "{:?}", encoded(&s));
    let mut t = TiledAggregate::new(agg, Window::Duration(7 * DAY));
    for h in 0..24 {
        t.update(1_700_000_000_000_000 + h * HOUR, &Value::Int64(h));
    }
    let mut out = Vec::new();
    t.encode(&mut out);
    // 24 hourly tiles: 3 bytes each (start step, count, sum) plus a small header.
    assert!(out.len() < 100, "{}", out.len());
}
