//! What expressions evaluate to: nulls, three-valued logic, integer overflow, floats.

use tessera_aggregate::Value::{self, Bool, Float64 as F, Int64 as I, Null};
use tessera_expr::{Expr, ExprType};

fn eval(src: &str, plays: Value, dwell: Value) -> Value {
    Expr::compile(
        src,
        &[
            ("plays".into(), ExprType::Int64),
            ("dwell".into(), ExprType::Float64),
        ],
    )
    .unwrap()
    .eval(&[plays, dwell])
    .unwrap()
}

#[test]
fn arithmetic_and_precedence() {
    assert_eq!(eval("1 + 2 * 3 - 4", Null, Null), I(3));
    assert_eq!(eval("(1 + 2) * 3", Null, Null), I(9));
    assert_eq!(eval("plays-1", I(5), Null), I(4));
    assert_eq!(eval("plays - -1", I(5), Null), I(6));
    assert_eq!(eval("-plays % 3", I(7), Null), I(-1));
    assert_eq!(eval("plays / 2", I(5), Null), F(2.5));
    assert_eq!(eval("dwell / 168.0", Null, F(336.0)), F(2.0));
    assert_eq!(eval("plays + dwell", I(1), F(0.5)), F(1.5));
}

#[test]
fn nulls_propagate_and_logic_is_three_valued() {
    assert_eq!(eval("plays + 1", Null, Null), Null);
    assert_eq!(eval("plays > 1", Null, Null), Null);
    assert_eq!(eval("plays > 1 and false", Null, Null), Bool(false));
    assert_eq!(eval("plays > 1 or true", Null, Null), Bool(true));
    assert_eq!(eval("not (plays > 1)", Null, Null), Null);
    assert_eq!(eval("plays is null", Null, Null), Bool(true));
    assert_eq!(eval("if(plays > 1, 1, 2)", Null, Null), I(2));
    assert_eq!(eval("coalesce(plays, 0)", Null, Null), I(0));
    assert_eq!(eval("abs(plays)", Null, Null), Null);
}

#[test]
fn overflow_division_by_zero_and_non_finite_floats_are_null() {
    assert_eq!(eval("plays * 2", I(i64::MAX), Null), Null);
    assert_eq!(eval("plays % 0", I(3), Null), Null);
    assert_eq!(eval("plays / 0", I(3), Null), Null);
    assert_eq!(eval("ln(dwell)", Null, F(0.0)), Null);
    assert_eq!(eval("sqrt(dwell)", Null, F(-1.0)), Null);
    assert_eq!(eval("dwell + 1", Null, F(f64::NAN)), Null);
    assert_eq!(eval("abs(plays)", I(i64::MIN), Null), Null);
}

#[test]
fn functions() {
    assert_eq!(eval("round(dwell)", Null, F(2.5)), F(3.0));
    assert_eq!(eval("round(dwell, 2)", Null, F(1.23456)), F(1.23));
    assert_eq!(eval("floor(dwell)", Null, F(-1.5)), F(-2.0));
    assert_eq!(eval("ceil(dwell)", Null, F(1.2)), F(2.0));
    assert_eq!(eval("min(plays, 3, 7)", I(5), Null), I(3));
    assert_eq!(eval("max(plays, dwell)", I(5), F(7.5)), F(7.5));
    assert_eq!(eval("log(dwell)", Null, F(1000.0)), F(3.0));
    assert_eq!(eval("exp(0)", Null, Null), F(1.0));
    assert_eq!(
        eval("IF(plays >= 2, 'many', 'few') = 'many'", I(2), Null),
        Bool(true)
    );
}

#[test]
fn inputs_of_the_wrong_type_or_count_are_errors() {
    let e = Expr::compile("plays", &[("plays".into(), ExprType::Int64)]).unwrap();
    assert!(e.eval(&[F(1.0)]).is_err());
    assert!(e.eval(&[]).is_err());
}

proptest::proptest! {
    /// Evaluation is a function of its inputs: the same row gives the same bits.
    #[test]
    fn deterministic(p in proptest::num::i64::ANY, d in proptest::num::f64::ANY) {
        let e = Expr::compile(
            "if(plays % 2 = 0, ln(abs(dwell) + 1) * plays, sqrt(abs(dwell)) / (plays + 0.5))",
            &[("plays".into(), ExprType::Int64), ("dwell".into(), ExprType::Float64)],
        ).unwrap();
        let a = e.eval(&[I(p), F(d)]).unwrap();
        let b = e.eval(&[I(p), F(d)]).unwrap();
        match (a, b) {
            (F(x), F(y)) => proptest::prop_assert_eq!(x.to_bits(), y.to_bits()),
            (x, y) => proptest::prop_assert_eq!(x, y),
        }
    }
}
