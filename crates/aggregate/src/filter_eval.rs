//! Evaluation of a parsed [`crate::FilterExpr`]: SQL comparisons and
//! three-valued logic, without allocating.

use std::cmp::Ordering;

use crate::filter_expr::{Node, Operand};
use crate::row::Row;
use tessera_value::Value;

/// Exact comparison of an integer with a float (`None` for NaN).
fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() {
        return None;
    }
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let whole = f.trunc();
    // `whole` is an integer in [-2^63, 2^63): the cast is exact.
    match i.cmp(&(whole as i64)) {
        Ordering::Equal => (0.0).partial_cmp(&(f - whole)),
        o => Some(o),
    }
}

/// SQL comparison of two non-null values; `None` when incomparable.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    use Value as D;
    match (a, b) {
        (D::Int64(x), D::Int64(y))
        | (D::Timestamp(x), D::Timestamp(y))
        | (D::Timestamp(x), D::Int64(y))
        | (D::Int64(x), D::Timestamp(y)) => Some(x.cmp(y)),
        (D::Float64(x), D::Float64(y)) => x.partial_cmp(y),
        (D::Int64(x), D::Float64(y)) => cmp_int_float(*x, *y),
        (D::Float64(x), D::Int64(y)) => cmp_int_float(*y, *x).map(Ordering::reverse),
        (D::String(x), D::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (D::Bool(x), D::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn value<'r, R: Row + ?Sized>(o: &'r Operand, row: &'r R) -> Option<&'r Value> {
    match o {
        Operand::Column { name, .. } => row.get(name),
        Operand::Literal(d) => Some(d),
    }
    .filter(|d| !d.is_null())
}

pub(crate) fn eval_node<R: Row + ?Sized>(node: &Node, row: &R) -> Option<bool> {
    match node {
        Node::Const(b) => Some(*b),
        Node::Truthy { column, .. } => match row.get(column) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        },
        Node::Not(inner) => eval_node(inner, row).map(|b| !b),
        Node::And(items) => {
            let mut result = Some(true);
            for item in items {
                match eval_node(item, row) {
                    Some(false) => return Some(false),
                    None => result = None,
                    Some(true) => {}
                }
            }
            result
        }
        Node::Or(items) => {
            let mut result = Some(false);
            for item in items {
                match eval_node(item, row) {
                    Some(true) => return Some(true),
                    None => result = None,
                    Some(false) => {}
                }
            }
            result
        }
        Node::Compare {
            left, op, right, ..
        } => {
            let o = compare(value(left, row)?, value(right, row)?)?;
            Some(op.test(o))
        }
        Node::In {
            operand,
            list,
            negated,
            ..
        } => {
            let v = value(operand, row)?;
            let mut saw_null = false;
            for item in list {
                if item.is_null() {
                    saw_null = true;
                } else if compare(v, item) == Some(Ordering::Equal) {
                    return Some(!negated);
                }
            }
            if saw_null {
                None
            } else {
                Some(*negated)
            }
        }
        Node::IsNull { operand, negated } => {
            let is_null = match operand {
                Operand::Column { name, .. } => row.get(name).is_none_or(Value::is_null),
                Operand::Literal(d) => d.is_null(),
            };
            Some(is_null != *negated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_float_comparison_is_exact() {
        assert_eq!(
            cmp_int_float(i64::MAX, 9.223_372_036_854_776e18),
            Some(Ordering::Less)
        );
        assert_eq!(
            cmp_int_float(i64::MIN, -9.223_372_036_854_776e18),
            Some(Ordering::Equal)
        );
        assert_eq!(cmp_int_float(3, 3.5), Some(Ordering::Less));
        assert_eq!(cmp_int_float(-3, -3.5), Some(Ordering::Greater));
        assert_eq!(cmp_int_float(1, f64::NAN), None);
        assert_eq!(cmp_int_float(2, 2.0), Some(Ordering::Equal));
    }
}
