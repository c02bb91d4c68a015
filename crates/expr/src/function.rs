//! The functions of the language, besides `if` and `coalesce` (which the compiler treats
//! as control flow): their names, arities, typing and evaluation.

use tessera_aggregate::Value;

use crate::expr_type::ExprType;

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Abs,
    Ln,
    Log,
    Exp,
    Sqrt,
    Min,
    Max,
    Round,
    Floor,
    Ceil,
}

/// Every function name, for hints.
pub(crate) const NAMES: &str = "if(c, a, b), coalesce(a, b, …), abs(x), ln(x), log(x) (base 10), exp(x), sqrt(x), min(a, b, …), max(a, b, …), round(x) or round(x, digits), floor(x), ceil(x)";

impl Func {
    pub(crate) fn by_name(name: &str) -> Option<Func> {
        Some(match name {
            "abs" => Func::Abs,
            "ln" => Func::Ln,
            "log" | "log10" => Func::Log,
            "exp" => Func::Exp,
            "sqrt" => Func::Sqrt,
            "min" | "least" => Func::Min,
            "max" | "greatest" => Func::Max,
            "round" => Func::Round,
            "floor" => Func::Floor,
            "ceil" | "ceiling" => Func::Ceil,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Func::Abs => "abs",
            Func::Ln => "ln",
            Func::Log => "log",
            Func::Exp => "exp",
            Func::Sqrt => "sqrt",
            Func::Min => "min",
            Func::Max => "max",
            Func::Round => "round",
            Func::Floor => "floor",
            Func::Ceil => "ceil",
        }
    }

    /// The result type for numeric argument type `t` (the unified type for min/max).
    pub(crate) fn result(self, t: ExprType) -> ExprType {
        match self {
            Func::Ln | Func::Log | Func::Exp | Func::Sqrt => ExprType::Float64,
            Func::Abs | Func::Min | Func::Max | Func::Round | Func::Floor | Func::Ceil => t,
        }
    }

    /// Evaluates on non-null arguments of the compiled types. Float results that are not
    /// finite (ln(0), sqrt(-1), overflow) are null.
    pub(crate) fn eval(self, args: &[Value]) -> Value {
        use Value::{Float64 as F, Int64 as I};
        let finite = |x: f64| if x.is_finite() { F(x) } else { Value::Null };
        let float = |d: &Value| match d {
            I(v) => Some(*v as f64),
            F(v) => Some(*v),
            _ => None,
        };
        match (self, args) {
            (Func::Abs, [I(v)]) => v.checked_abs().map_or(Value::Null, I),
            (Func::Abs, [F(v)]) => finite(v.abs()),
            (Func::Ln, [x]) => float(x).map_or(Value::Null, |x| finite(x.ln())),
            (Func::Log, [x]) => float(x).map_or(Value::Null, |x| finite(x.log10())),
            (Func::Exp, [x]) => float(x).map_or(Value::Null, |x| finite(x.exp())),
            (Func::Sqrt, [x]) => float(x).map_or(Value::Null, |x| finite(x.sqrt())),
            (Func::Min | Func::Max, [first, rest @ ..]) => {
                let mut best = first;
                for d in rest {
                    let better = match d.partial_cmp_scalar(best) {
                        Some(std::cmp::Ordering::Less) => self == Func::Min,
                        Some(std::cmp::Ordering::Greater) => self == Func::Max,
                        _ => false,
                    };
                    if better {
                        best = d;
                    }
                }
                best.clone()
            }
            (Func::Round | Func::Floor | Func::Ceil, [I(v)]) => I(*v),
            (Func::Round, [I(v), I(_)]) => I(*v),
            (Func::Round, [F(v)]) => finite(v.round()),
            (Func::Round, [F(v), I(d)]) => {
                let scale = 10f64.powi(i32::try_from(*d).unwrap_or(0));
                finite((v * scale).round() / scale)
            }
            (Func::Floor, [F(v)]) => finite(v.floor()),
            (Func::Ceil, [F(v)]) => finite(v.ceil()),
            _ => Value::Null,
        }
    }
}

/// Ordering of two non-null scalars of one type.
pub(crate) trait ScalarOrder {
    fn partial_cmp_scalar(&self, other: &Self) -> Option<std::cmp::Ordering>;
}

impl ScalarOrder for Value {
    fn partial_cmp_scalar(&self, other: &Value) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Value::Int64(a), Value::Int64(b)) => Some(a.cmp(b)),
            (Value::Float64(a), Value::Float64(b)) => a.partial_cmp(b),
            (Value::Int64(a), Value::Float64(b)) => (*a as f64).partial_cmp(b),
            (Value::Float64(a), Value::Int64(b)) => a.partial_cmp(&(*b as f64)),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}
