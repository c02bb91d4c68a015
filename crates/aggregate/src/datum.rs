//! [`Datum`], the one value type aggregations read and produce, and its total order.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::data_type::InputType;

/// A single value: an aggregation's input or its result.
///
/// `PartialEq` is structural with IEEE float equality (`NaN != NaN`,
/// `0.0 == -0.0`); [`Datum::total_cmp`] is the total order aggregations use to
/// break ties.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Datum {
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
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// A list of values (the result of `last_k`).
    List(Vec<Datum>),
}

impl Datum {
    /// `true` for [`Datum::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// `true` for values every aggregation skips: `Null` and float `NaN`.
    pub fn is_missing(&self) -> bool {
        match self {
            Datum::Null => true,
            Datum::Float64(x) => x.is_nan(),
            _ => false,
        }
    }

    /// The input type of a scalar, `None` for `Null` and `List`.
    pub fn input_type(&self) -> Option<InputType> {
        match self {
            Datum::Null | Datum::List(_) => None,
            Datum::Bool(_) => Some(InputType::Bool),
            Datum::Int64(_) => Some(InputType::Int64),
            Datum::Float64(_) => Some(InputType::Float64),
            Datum::String(_) => Some(InputType::String),
            Datum::Timestamp(_) => Some(InputType::Timestamp),
        }
    }

    /// Position of the variant in the total order.
    fn rank(&self) -> u8 {
        match self {
            Datum::Null => 0,
            Datum::Bool(_) => 1,
            Datum::Int64(_) => 2,
            Datum::Float64(_) => 3,
            Datum::String(_) => 4,
            Datum::Timestamp(_) => 5,
            Datum::List(_) => 6,
        }
    }

    /// The total order used to break ties (`last`, `last_k`) and for `min`/`max`:
    /// `Null < Bool < Int64 < Float64 < String < Timestamp < List`; within a
    /// variant, `false < true`, integers and timestamps by value, floats by
    /// [`f64::total_cmp`] (so `-0.0 < 0.0`), strings by bytes, lists
    /// lexicographically. Two values compare `Equal` only when they are identical.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// use tessera_aggregate::Datum;
    /// assert_eq!(Datum::Int64(7).total_cmp(&Datum::Float64(1.0)), Ordering::Less);
    /// assert_eq!(Datum::from("b").total_cmp(&Datum::from("a")), Ordering::Greater);
    /// ```
    pub fn total_cmp(&self, other: &Datum) -> Ordering {
        match (self, other) {
            (Datum::Null, Datum::Null) => Ordering::Equal,
            (Datum::Bool(a), Datum::Bool(b)) => a.cmp(b),
            (Datum::Int64(a), Datum::Int64(b)) => a.cmp(b),
            (Datum::Float64(a), Datum::Float64(b)) => a.total_cmp(b),
            (Datum::String(a), Datum::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Datum::Timestamp(a), Datum::Timestamp(b)) => a.cmp(b),
            (Datum::List(a), Datum::List(b)) => {
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
            Datum::Int64(v) => Some(*v as f64),
            Datum::Float64(x) if !x.is_nan() => Some(*x),
            _ => None,
        }
    }
}

impl From<bool> for Datum {
    fn from(v: bool) -> Self {
        Datum::Bool(v)
    }
}

impl From<i64> for Datum {
    fn from(v: i64) -> Self {
        Datum::Int64(v)
    }
}

impl From<f64> for Datum {
    fn from(v: f64) -> Self {
        Datum::Float64(v)
    }
}

impl From<&str> for Datum {
    fn from(v: &str) -> Self {
        Datum::String(v.to_owned())
    }
}

impl From<String> for Datum {
    fn from(v: String) -> Self {
        Datum::String(v)
    }
}

impl<T: Into<Datum>> From<Option<T>> for Datum {
    fn from(v: Option<T>) -> Self {
        v.map_or(Datum::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_order_across_variants() {
        let ordered = [
            Datum::Null,
            Datum::Bool(false),
            Datum::Bool(true),
            Datum::Int64(i64::MIN),
            Datum::Int64(5),
            Datum::Float64(f64::NEG_INFINITY),
            Datum::Float64(-0.0),
            Datum::Float64(0.0),
            Datum::Float64(f64::NAN),
            Datum::from(""),
            Datum::from("a"),
            Datum::from("ab"),
            Datum::Timestamp(-1),
            Datum::List(vec![]),
            Datum::List(vec![Datum::Int64(1)]),
            Datum::List(vec![Datum::Int64(1), Datum::Null]),
            Datum::List(vec![Datum::Int64(2)]),
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(a.total_cmp(b), i.cmp(&j), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn missing_values() {
        assert!(Datum::Null.is_missing());
        assert!(Datum::Float64(f64::NAN).is_missing());
        assert!(!Datum::Float64(0.0).is_missing());
        assert_eq!(Datum::from(None::<i64>), Datum::Null);
        assert_eq!(Datum::Int64(3).as_f64(), Some(3.0));
        assert_eq!(Datum::from("x").as_f64(), None);
        assert_eq!(Datum::Timestamp(1).input_type(), Some(InputType::Timestamp));
    }
}
