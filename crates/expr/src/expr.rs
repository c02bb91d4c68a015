//! [`Expr`]: a compiled expression, and its evaluation.

use tessera_aggregate::Value;

use crate::compile::{Compiler, Node};
use crate::error::{Error, Result};
use crate::expr_type::ExprType;
use crate::function::ScalarOrder;
use crate::parser::{parse, ArithOp};

/// A checked expression over named, typed inputs. Compiling finds every error (syntax,
/// unknown names and functions, type mismatches); evaluating a compiled expression on
/// values of the declared types cannot fail and is deterministic: the same inputs give
/// the same result, bit for bit, wherever it runs.
///
/// Semantics: `null` propagates through arithmetic, comparisons and functions; `and` /
/// `or` / `not` use three-valued logic (`false and null` is `false`); `if(c, a, b)` takes
/// `b` when `c` is false or null; integer `+ - * %` are exact, with overflow and `% 0`
/// giving null; `/` always gives a float; a float result that is not finite (`x / 0`,
/// `ln(0)`, `sqrt(-1)`) is null, and so is a non-finite float input.
///
/// ```
/// use tessera_aggregate::Value;
/// use tessera_expr::{Expr, ExprType};
/// let e = Expr::compile(
///     "if(plays > 0, dwell / plays, null)",
///     &[("plays".into(), ExprType::Int64), ("dwell".into(), ExprType::Float64)],
/// )?;
/// assert_eq!(e.result_type(), ExprType::Float64);
/// assert_eq!(e.eval(&[Value::Int64(4), Value::Float64(10.0)])?, Value::Float64(2.5));
/// assert_eq!(e.eval(&[Value::Int64(0), Value::Float64(10.0)])?, Value::Null);
/// assert!(Expr::compile("plays + 'x'", &[("plays".into(), ExprType::Int64)]).is_err());
/// # Ok::<_, tessera_expr::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    src: String,
    inputs: Vec<(String, ExprType)>,
    node: Node,
    ty: ExprType,
}

impl Expr {
    /// Parses and checks `src` against `inputs` (the names it may use, with their types);
    /// [`Expr::eval`] takes values in the same order.
    pub fn compile(src: &str, inputs: &[(String, ExprType)]) -> Result<Self> {
        let tree = parse(src)?;
        let (node, ty) = Compiler { src, inputs }.compile(&tree)?;
        let ty = ty.ok_or_else(|| Error::Type {
            expr: src.to_string(),
            position: 1,
            message: "the expression is always null (hint: give it a value of a type)".into(),
        })?;
        Ok(Self {
            src: src.to_string(),
            inputs: inputs.to_vec(),
            node,
            ty,
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// The type of its results (nulls aside).
    pub fn result_type(&self) -> ExprType {
        self.ty
    }

    /// The inputs it was compiled for, in order.
    pub fn inputs(&self) -> &[(String, ExprType)] {
        &self.inputs
    }

    /// The names of the inputs the expression actually uses.
    pub fn used_inputs(&self) -> Vec<&str> {
        let mut used = vec![false; self.inputs.len()];
        mark(&self.node, &mut used);
        self.inputs
            .iter()
            .zip(used)
            .filter(|(_, u)| *u)
            .map(|((n, _), _)| n.as_str())
            .collect()
    }

    /// Evaluates on one row of input values, in the order of [`Expr::inputs`]. A value of
    /// another type than declared is an error (convert `int32` to `Int64` and `float32`
    /// to `Float64` first).
    pub fn eval(&self, values: &[Value]) -> Result<Value> {
        if values.len() != self.inputs.len() {
            return Err(Error::InputCount {
                want: self.inputs.len(),
                got: values.len(),
            });
        }
        for ((name, ty), v) in self.inputs.iter().zip(values) {
            if !ty.holds(v) {
                return Err(Error::InputType {
                    name: name.clone(),
                    expected: ty.as_str(),
                    got: format!("{v:?}"),
                });
            }
        }
        Ok(eval(&self.node, values))
    }
}

fn mark(n: &Node, used: &mut [bool]) {
    match n {
        Node::Input(i) => {
            if let Some(u) = used.get_mut(*i) {
                *u = true;
            }
        }
        Node::Lit(_) => {}
        Node::ToFloat(a) | Node::Neg(a) | Node::Not(a) | Node::IsNull(a, _) => mark(a, used),
        Node::Arith(_, _, a, b) | Node::Cmp(_, a, b) | Node::And(a, b) | Node::Or(a, b) => {
            mark(a, used);
            mark(b, used);
        }
        Node::If(a, b, c) => {
            mark(a, used);
            mark(b, used);
            mark(c, used);
        }
        Node::Coalesce(items) | Node::Func(_, items) => items.iter().for_each(|i| mark(i, used)),
    }
}

fn finite(x: f64) -> Value {
    if x.is_finite() {
        Value::Float64(x)
    } else {
        Value::Null
    }
}

fn truth(d: &Value) -> Option<bool> {
    match d {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

fn eval(n: &Node, row: &[Value]) -> Value {
    use Value::{Float64 as F, Int64 as I, Null};
    match n {
        Node::Input(i) => match row.get(*i) {
            Some(F(x)) if !x.is_finite() => Null,
            Some(d) => d.clone(),
            None => Null,
        },
        Node::Lit(d) => d.clone(),
        Node::ToFloat(a) => match eval(a, row) {
            I(v) => F(v as f64),
            other => other,
        },
        Node::Neg(a) => match eval(a, row) {
            I(v) => v.checked_neg().map_or(Null, I),
            F(v) => F(-v),
            _ => Null,
        },
        Node::Not(a) => truth(&eval(a, row)).map_or(Null, |b| Value::Bool(!b)),
        Node::And(a, b) => match (truth(&eval(a, row)), truth(&eval(b, row))) {
            (Some(false), _) | (_, Some(false)) => Value::Bool(false),
            (Some(true), Some(true)) => Value::Bool(true),
            _ => Null,
        },
        Node::Or(a, b) => match (truth(&eval(a, row)), truth(&eval(b, row))) {
            (Some(true), _) | (_, Some(true)) => Value::Bool(true),
            (Some(false), Some(false)) => Value::Bool(false),
            _ => Null,
        },
        Node::IsNull(a, negated) => Value::Bool(eval(a, row).is_null() != *negated),
        Node::Arith(op, _, a, b) => match (eval(a, row), eval(b, row)) {
            (I(x), I(y)) => match op {
                ArithOp::Add => x.checked_add(y).map_or(Null, I),
                ArithOp::Sub => x.checked_sub(y).map_or(Null, I),
                ArithOp::Mul => x.checked_mul(y).map_or(Null, I),
                ArithOp::Rem => x.checked_rem(y).map_or(Null, I),
                ArithOp::Div => finite(x as f64 / y as f64),
            },
            (F(x), F(y)) => finite(match op {
                ArithOp::Add => x + y,
                ArithOp::Sub => x - y,
                ArithOp::Mul => x * y,
                ArithOp::Div => x / y,
                ArithOp::Rem => x % y,
            }),
            _ => Null,
        },
        Node::Cmp(op, a, b) => {
            let (x, y) = (eval(a, row), eval(b, row));
            match x.partial_cmp_scalar(&y) {
                Some(o) => Value::Bool(op.test(o)),
                None => Null,
            }
        }
        Node::If(c, a, b) => {
            if truth(&eval(c, row)) == Some(true) {
                eval(a, row)
            } else {
                eval(b, row)
            }
        }
        Node::Coalesce(items) => items
            .iter()
            .map(|i| eval(i, row))
            .find(|d| !d.is_null())
            .unwrap_or(Null),
        Node::Func(f, args) => {
            let values: Vec<Value> = args.iter().map(|a| eval(a, row)).collect();
            if values.iter().any(Value::is_null) {
                Null
            } else {
                f.eval(&values)
            }
        }
    }
}
