//! Aggregation filters (`filter: "action = 'skip'"`): parse, type-check, evaluate.
#![no_main]
use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use tessera_aggregate::{FilterExpr, InputType, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = FilterExpr::parse(text) else {
        return;
    };
    // Its text parses again to the same filter.
    let again = FilterExpr::parse(filter.as_str()).expect("a parsed filter's text parses");
    assert_eq!(again.columns(), filter.columns());
    let types: BTreeMap<String, InputType> = [
        ("action", InputType::String),
        ("dwell_s", InputType::Float64),
        ("n", InputType::Int64),
        ("ok", InputType::Bool),
    ]
    .into_iter()
    .map(|(k, t)| (k.to_string(), t))
    .collect();
    if filter.check(&types).is_ok() {
        let mut row = BTreeMap::new();
        row.insert("action".to_string(), Value::String("skip".into()));
        row.insert("dwell_s".to_string(), Value::Float64(-0.5));
        row.insert("n".to_string(), Value::Int64(i64::MIN));
        row.insert("ok".to_string(), Value::Bool(true));
        let _ = filter.evaluate(&row);
        row.insert("dwell_s".to_string(), Value::Float64(f64::NAN));
        row.insert("n".to_string(), Value::Int64(i64::MAX));
        let _ = filter.eval(&row);
        let _ = filter.eval(&BTreeMap::<String, Value>::new());
    }
});
