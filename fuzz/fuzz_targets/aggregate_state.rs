//! Stored aggregation states (the bytes in the online stores' state rows and the stream
//! engine's snapshots): one state, one tiled aggregate, a whole view's state; each decoded
//! state is then finished, merged with itself, evicted and re-encoded.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_aggregate::{
    AggFunction, AggState, Aggregation, InputType, TiledAggregate, ViewAggregation, ViewSpec,
    ViewState, Window,
};

fn spec() -> ViewSpec {
    let agg = |f: &str, k, input, column: Option<&str>, w: &str| {
        ViewAggregation::new(
            column,
            Aggregation::new(AggFunction::parse(f, k).unwrap(), input).unwrap(),
            Window::parse(w).unwrap(),
        )
        .unwrap()
    };
    let f = Some(InputType::Float64);
    let i = Some(InputType::Int64);
    let s = Some(InputType::String);
    ViewSpec::new(vec![
        agg("count", None, None, None, "1d"),
        agg("sum", None, f, Some("dwell_s"), "1h"),
        agg("sum", None, i, Some("n"), "lifetime"),
        agg("mean", None, f, Some("dwell_s"), "1d"),
        agg("min", None, i, Some("n"), "1d"),
        agg("max", None, s, Some("action"), "7d"),
        agg("last", None, s, Some("action"), "1d"),
        agg("last_k", Some(3), i, Some("n"), "1d"),
        agg("count_distinct", None, s, Some("action"), "1d"),
        agg("approx_count_distinct", None, s, Some("action"), "1d"),
        agg("p90", None, f, Some("dwell_s"), "1d"),
    ])
}

const INSTANTS: [i64; 4] = [i64::MIN, -1, 1_780_000_000_000_000, i64::MAX];

fuzz_target!(|data: &[u8]| {
    if let Ok((state, used)) = AggState::decode(data) {
        assert!(used <= data.len());
        let _ = state.finish();
        let mut merged = state.clone();
        let _ = merged.merge(&state);
        let _ = merged.finish();
        let mut out = Vec::new();
        state.encode(&mut out);
        AggState::decode(&out).expect("an encoded state decodes");
    }
    if let Ok((tiles, used)) = TiledAggregate::decode(data) {
        assert!(used <= data.len());
        for t in INSTANTS.into_iter().chain(tiles.max_ts()) {
            let _ = tiles.value_at(t);
        }
        let mut merged = tiles.clone();
        let _ = merged.merge(&tiles);
        let mut out = Vec::new();
        merged.encode(&mut out);
        TiledAggregate::decode(&out).expect("an encoded tiled aggregate decodes");
        for t in INSTANTS {
            let mut evicted = tiles.clone();
            evicted.evict_before(t);
        }
    }
    let spec = spec();
    if let Ok(view) = ViewState::decode(data, &spec) {
        for t in INSTANTS {
            let _ = view.value_at(t);
            let _ = view.finish_at(t);
        }
        let mut merged = view.clone();
        let _ = merged.merge(&view);
        let mut out = Vec::new();
        merged.encode(&mut out);
        ViewState::decode(&out, &spec).expect("an encoded view state decodes");
        let mut evicted = view.clone();
        evicted.evict_before(INSTANTS[2]);
    }
});
