//! On-demand feature expressions: compile against typed inputs, then evaluate on edge values.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_aggregate::Value;
use tessera_expr::{Expr, ExprType};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let inputs: Vec<(String, ExprType)> = [
        ("a", ExprType::Int64),
        ("x", ExprType::Float64),
        ("s", ExprType::String),
        ("b", ExprType::Bool),
        ("t", ExprType::Timestamp),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect();
    let Ok(expr) = Expr::compile(text, &inputs) else {
        return;
    };
    let rows = [
        vec![
            Value::Int64(i64::MIN),
            Value::Float64(f64::NAN),
            Value::String(String::new()),
            Value::Bool(false),
            Value::Timestamp(i64::MAX),
        ],
        vec![
            Value::Int64(-1),
            Value::Float64(0.0),
            Value::String("é\u{0}".into()),
            Value::Bool(true),
            Value::Timestamp(i64::MIN),
        ],
        vec![Value::Null, Value::Null, Value::Null, Value::Null, Value::Null],
    ];
    for row in &rows {
        let _ = expr.eval(row);
    }
});
