//! Every bad expression is refused at compile time, with its position and a hint.

use tessera_expr::{Error, Expr, ExprType};

fn inputs() -> Vec<(String, ExprType)> {
    vec![
        ("plays".into(), ExprType::Int64),
        ("dwell".into(), ExprType::Float64),
        ("genre".into(), ExprType::String),
        ("premium".into(), ExprType::Bool),
    ]
}

fn err(src: &str) -> Error {
    Expr::compile(src, &inputs()).unwrap_err()
}

#[test]
fn syntax_errors_name_the_position() {
    match err("plays + ") {
        Error::Syntax { position, .. } => assert_eq!(position, 9),
        e => panic!("{e}"),
    }
    assert!(matches!(err("(plays"), Error::Syntax { .. }));
    assert!(matches!(err("plays )"), Error::Syntax { .. }));
    assert!(matches!(err("plays ! 2"), Error::Syntax { .. }));
    assert!(err("abs(plays,").to_string().contains("position"));
}

#[test]
fn unknown_names_and_functions_list_the_known_ones() {
    let e = err("plays + dwel");
    assert!(
        matches!(e, Error::UnknownName { ref name, position: 9, .. } if name == "dwel"),
        "{e}"
    );
    assert!(e.to_string().contains("`dwell` (float64)"), "{e}");
    let e = err("sine(dwell)");
    assert!(matches!(e, Error::UnknownFunction { .. }), "{e}");
    assert!(e.to_string().contains("sqrt(x)"), "{e}");
}

#[test]
fn type_mismatches_are_refused() {
    for bad in [
        "plays + genre",
        "genre > 3",
        "premium and plays",
        "not dwell",
        "if(plays, 1, 2)",
        "if(premium, 1, 'a')",
        "abs(genre)",
        "round(dwell, plays)",
        "sqrt(dwell, 2)",
        "plays = null",
        "null",
        "coalesce(genre, 1)",
    ] {
        assert!(
            matches!(err(bad), Error::Type { .. }),
            "{bad}: {}",
            err(bad)
        );
    }
}

#[test]
fn result_types_follow_the_operands() {
    let ty = |s: &str| Expr::compile(s, &inputs()).unwrap().result_type();
    assert_eq!(ty("plays + 1"), ExprType::Int64);
    assert_eq!(ty("plays + 1.5"), ExprType::Float64);
    assert_eq!(ty("plays / 2"), ExprType::Float64);
    assert_eq!(ty("plays > 2 and genre = 'rock'"), ExprType::Bool);
    assert_eq!(ty("if(premium, plays, dwell)"), ExprType::Float64);
    assert_eq!(ty("coalesce(null, genre)"), ExprType::String);
    assert_eq!(ty("max(plays, 3)"), ExprType::Int64);
    assert_eq!(ty("ln(plays)"), ExprType::Float64);
    assert_eq!(
        Expr::compile("dwell * 2", &inputs()).unwrap().used_inputs(),
        vec!["dwell"]
    );
}
