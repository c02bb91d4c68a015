//! [`ValueColumn`]: one aggregated column of the kept events, stored compactly.
//!
//! A window join keeps every event of the scanned range in memory; as `Value`s that is 32
//! bytes per value. A column whose values are all integers, floats or timestamps (the usual
//! case: a column has one type) is kept as 8-byte words plus a null flag instead, and turns
//! back into `Value`s only when a value of another kind arrives.

use tessera_core::aggregate::Value;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// No value but nulls yet.
    Unknown,
    Int,
    Float,
    Time,
    /// Anything else, or a mix: `Value`s.
    Datums,
}

/// One column's values, indexed by event.
#[derive(Debug)]
pub(crate) struct ValueColumn {
    kind: Kind,
    words: Vec<u64>,
    nulls: Vec<bool>,
    datums: Vec<Value>,
}

impl Default for ValueColumn {
    fn default() -> Self {
        ValueColumn {
            kind: Kind::Unknown,
            words: Vec::new(),
            nulls: Vec::new(),
            datums: Vec::new(),
        }
    }
}

impl ValueColumn {
    /// Bytes held (strings' heap not counted).
    pub(crate) fn memory_size(&self) -> usize {
        self.words.capacity() * 8
            + self.nulls.capacity()
            + self.datums.capacity() * std::mem::size_of::<Value>()
    }

    /// Appends a value.
    pub(crate) fn push(&mut self, d: Value) {
        let word = match (self.kind, &d) {
            (Kind::Datums, _) => {
                self.datums.push(d);
                return;
            }
            (_, Value::Null) => None,
            (Kind::Unknown | Kind::Int, Value::Int64(v)) => {
                self.kind = Kind::Int;
                Some(*v as u64)
            }
            (Kind::Unknown | Kind::Float, Value::Float64(x)) => {
                self.kind = Kind::Float;
                Some(x.to_bits())
            }
            (Kind::Unknown | Kind::Time, Value::Timestamp(v)) => {
                self.kind = Kind::Time;
                Some(*v as u64)
            }
            _ => {
                self.datums = (0..self.nulls.len()).map(|i| self.get(i)).collect();
                self.words = Vec::new();
                self.nulls = Vec::new();
                self.kind = Kind::Datums;
                self.datums.push(d);
                return;
            }
        };
        self.words.push(word.unwrap_or(0));
        self.nulls.push(word.is_none());
    }

    /// The value of event `i` (`Null` past the end).
    pub(crate) fn get(&self, i: usize) -> Value {
        if self.kind == Kind::Datums {
            return self.datums.get(i).cloned().unwrap_or(Value::Null);
        }
        match (self.nulls.get(i), self.words.get(i)) {
            (Some(false), Some(&w)) => match self.kind {
                Kind::Int => Value::Int64(w as i64),
                Kind::Float => Value::Float64(f64::from_bits(w)),
                Kind::Time => Value::Timestamp(w as i64),
                Kind::Unknown | Kind::Datums => Value::Null,
            },
            _ => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_values_and_falls_back_on_a_mix() {
        let mut c = ValueColumn::default();
        let values = [
            Value::Null,
            Value::Int64(-5),
            Value::Int64(i64::MAX),
            Value::Null,
        ];
        for v in values.clone() {
            c.push(v);
        }
        assert_eq!(c.kind, Kind::Int);
        assert_eq!((0..4).map(|i| c.get(i)).collect::<Vec<_>>(), values);
        c.push(Value::from("x"));
        assert_eq!(c.kind, Kind::Datums);
        assert_eq!((0..4).map(|i| c.get(i)).collect::<Vec<_>>(), values);
        assert_eq!(c.get(4), Value::from("x"));
        assert_eq!(c.get(5), Value::Null);
        let mut f = ValueColumn::default();
        f.push(Value::Float64(-0.0));
        f.push(Value::Float64(f64::NAN));
        assert!(matches!(f.get(0), Value::Float64(x) if x == 0.0 && x.is_sign_negative()));
        assert!(matches!(f.get(1), Value::Float64(x) if x.is_nan()));
        let mut t = ValueColumn::default();
        t.push(Value::Timestamp(7));
        t.push(Value::Int64(7));
        assert_eq!(t.get(0), Value::Timestamp(7));
        assert_eq!(t.get(1), Value::Int64(7));
    }
}
