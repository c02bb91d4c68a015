//! Filters: arbitrary text never panics the parser; generated expressions parse,
//! round-trip through their text, and follow three-valued logic.

use proptest::prelude::*;
use tessera_aggregate::*;

fn arb_operand() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "flag", "\"s\"", "missing"]).prop_map(str::to_owned),
        (-5i64..5).prop_map(|v| v.to_string()),
        (-5i32..5).prop_map(|v| format!("{}.5", v)),
        prop::sample::select(vec!["'x'", "'it''s'", "''"]).prop_map(str::to_owned),
    ]
}

fn arb_predicate() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            arb_operand(),
            prop::sample::select(vec!["=", "!=", "<>", "<", "<=", ">", ">="]),
            arb_operand()
        )
            .prop_map(|(l, op, r)| format!("{l} {op} {r}")),
        (arb_operand(), any::<bool>())
            .prop_map(|(o, n)| format!("{o} is {}null", if n { "not " } else { "" })),
        (
            arb_operand(),
            any::<bool>(),
            prop::collection::vec(
                arb_operand().prop_filter("literal", |s| !s
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '"')),
                1..4
            )
        )
            .prop_map(|(o, n, list)| format!(
                "{o} {}in ({})",
                if n { "not " } else { "" },
                list.join(", ")
            )),
        Just("flag".to_owned()),
        Just("true".to_owned()),
    ]
}

fn arb_expr() -> impl Strategy<Value = String> {
    arb_predicate().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) AND ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn arb_row() -> impl Strategy<Value = Vec<(String, Value)>> {
    let v = prop_oneof![
        Just(Value::Null),
        (-5i64..5).prop_map(Value::Int64),
        (-5.0f64..5.0).prop_map(Value::Float64),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec!["x", "it's", ""]).prop_map(Value::from),
    ];
    (v.clone(), v.clone(), v.clone(), v).prop_map(|(a, b, f, s)| {
        vec![
            ("a".into(), a),
            ("b".into(), b),
            ("flag".into(), f),
            ("s".into(), s),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(s in "[a-z0-9 ='\"<>!(),.\\-_]{0,40}") {
        if let Ok(f) = FilterExpr::parse(&s) {
            let _ = f.eval(&[("a", Value::Int64(1))]);
        }
    }

    #[test]
    fn generated_filters_follow_three_valued_logic(e in arb_expr(), row in arb_row()) {
        let f = match FilterExpr::parse(&e) {
            Ok(f) => f,
            // Literal comparisons with null are rejected at parse time; nothing else is.
            Err(err) => { prop_assert!(matches!(err, Error::FilterType { .. }), "{}: {}", e, err); return Ok(()); }
        };
        let back: FilterExpr = f.to_string().parse().unwrap();
        prop_assert_eq!(&back, &f);
        let r = f.evaluate(&row);
        prop_assert_eq!(f.eval(&row), r == Some(true));
        let not = FilterExpr::parse(&format!("not ({e})")).unwrap();
        prop_assert_eq!(not.evaluate(&row), r.map(|b| !b));
        let excluded_middle = FilterExpr::parse(&format!("({e}) or not ({e})")).unwrap();
        prop_assert_eq!(excluded_middle.eval(&row), r.is_some());
    }
}
