//! [`Value`]: one feature value, as every tier holds it, and its total order.

use std::cmp::Ordering;
use std::fmt;

/// One feature value: what a source column, an online row, an event, an expression, an
/// aggregation's input or result and a read answer hold. Narrower Arrow types widen on the
/// way in: `int32` is kept as [`Value::Int64`], `float32` as [`Value::Float64`], dates as
/// [`Value::Timestamp`].
///
/// It deliberately implements neither `Serialize` nor `Deserialize`: a value crosses a
/// wire only through an explicit codec (the device relies on this: nothing it records can be
/// put into a request by accident).
///
/// `PartialEq` is structural with IEEE float equality (`NaN != NaN`,
/// `0.0 == -0.0`); [`Value::total_cmp`] is the total order aggregations use to
/// break ties.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No value. Ignored by every aggregation except `count` without a column.
    Null,
    /// Boolean.
    Bool(bool),
    /// 64-bit signed integer.
    Int64(i64),
    /// 64-bit float. `NaN` is ignored by aggregations, like `Null`.
    Float64(f64),
    /// UTF-8 string.
    String(String),
    /// Raw bytes. Aggregations and expressions ignore them, like `Null`.
    Bytes(Vec<u8>),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// A list of values (the result of `last_k`; elements may be null).
    List(Vec<Value>),
}

impl Value {
    /// `true` for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// `true` for values every aggregation skips: `Null`, float `NaN` and `Bytes`.
    pub fn is_missing(&self) -> bool {
        match self {
            Value::Null | Value::Bytes(_) => true,
            Value::Float64(x) => x.is_nan(),
            _ => false,
        }
    }

    /// Position of the variant in the total order.
    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int64(_) => 2,
            Value::Float64(_) => 3,
            Value::String(_) => 4,
            Value::Bytes(_) => 5,
            Value::Timestamp(_) => 6,
            Value::List(_) => 7,
        }
    }

    /// The total order used to break ties (`last`, `last_k`) and for `min`/`max`:
    /// `Null < Bool < Int64 < Float64 < String < Bytes < Timestamp < List`; within
    /// a variant, `false < true`, integers and timestamps by value, floats by
    /// [`f64::total_cmp`] (so `-0.0 < 0.0`), strings and bytes by bytes, lists
    /// lexicographically. Two values compare `Equal` only when they are identical.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// use tessera_value::Value;
    /// assert_eq!(Value::Int64(7).total_cmp(&Value::Float64(1.0)), Ordering::Less);
    /// assert_eq!(Value::from("b").total_cmp(&Value::from("a")), Ordering::Greater);
    /// ```
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int64(a), Value::Int64(b)) => a.cmp(b),
            (Value::Float64(a), Value::Float64(b)) => a.total_cmp(b),
            (Value::String(a), Value::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            (Value::Timestamp(a), Value::Timestamp(b)) => a.cmp(b),
            (Value::List(a), Value::List(b)) => {
                for (x, y) in a.iter().zip(b) {
                    let o = x.total_cmp(y);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            _ => self.rank().cmp(&other.rank()),
        }
    }

    /// The value as `f64` for numeric aggregations: `Int64` (rounded to the
    /// nearest float) and non-NaN `Float64`; `None` otherwise.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int64(v) => Some(*v as f64),
            Value::Float64(x) if !x.is_nan() => Some(*x),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    /// Human-readable: text quoted, bytes in hex, timestamps as µs since the epoch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int64(v) => write!(f, "{v}"),
            Value::Float64(v) => write!(f, "{v}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|x| write!(f, "{x:02x}"))
            }
            Value::Timestamp(us) => write!(f, "{us}us"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int64(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float64(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_order_across_variants() {
        let ordered = [
            Value::Null,
            Value::Bool(false),
            Value::Bool(true),
            Value::Int64(i64::MIN),
            Value::Int64(5),
            Value::Float64(f64::NEG_INFINITY),
            Value::Float64(-0.0),
            Value::Float64(0.0),
            Value::Float64(f64::NAN),
            Value::from(""),
            Value::from("a"),
            Value::from("ab"),
            Value::Bytes(vec![]),
            Value::Bytes(vec![0]),
            Value::Timestamp(-1),
            Value::List(vec![]),
            Value::List(vec![Value::Int64(1)]),
            Value::List(vec![Value::Int64(1), Value::Null]),
            Value::List(vec![Value::Int64(2)]),
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(a.total_cmp(b), i.cmp(&j), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn missing_values() {
        assert!(Value::Null.is_missing());
        assert!(Value::Float64(f64::NAN).is_missing());
        assert!(!Value::Float64(0.0).is_missing());
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(Value::Int64(3).as_f64(), Some(3.0));
        assert_eq!(Value::from("x").as_f64(), None);
    }
}
