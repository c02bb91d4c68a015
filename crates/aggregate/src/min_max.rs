//! Min and max states: the extreme value under [`Value::total_cmp`].

use std::cmp::Ordering;

use crate::encoding::{put_datum, Reader};
use crate::error::Result;
use tessera_value::Value;

/// Which extreme a [`MinMax`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extreme {
    Min,
    Max,
}

/// The smallest or largest non-missing value seen. Integers, timestamps compare
/// by value, floats by `total_cmp` (`-0.0 < 0.0`; NaN never gets here), strings
/// by bytes, booleans `false < true`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MinMax {
    extreme: Extreme,
    value: Option<Value>,
}

impl MinMax {
    pub(crate) fn new(extreme: Extreme) -> Self {
        MinMax {
            extreme,
            value: None,
        }
    }

    pub(crate) fn extreme(&self) -> Extreme {
        self.extreme
    }

    fn better(&self, candidate: &Value, current: &Value) -> bool {
        let o = candidate.total_cmp(current);
        match self.extreme {
            Extreme::Min => o == Ordering::Less,
            Extreme::Max => o == Ordering::Greater,
        }
    }

    /// Offers a non-missing value.
    pub(crate) fn update(&mut self, v: &Value) {
        match &self.value {
            Some(cur) if !self.better(v, cur) => {}
            _ => self.value = Some(v.clone()),
        }
    }

    pub(crate) fn merge(&mut self, other: &MinMax) {
        if let Some(v) = &other.value {
            self.update(v);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.value.is_none()
    }

    pub(crate) fn finish(&self) -> Value {
        self.value.clone().unwrap_or(Value::Null)
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match &self.value {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                put_datum(out, v);
            }
        }
    }

    pub(crate) fn decode(extreme: Extreme, r: &mut Reader<'_>) -> Result<Self> {
        let value = match r.u8()? {
            0 => None,
            1 => {
                let v = r.datum()?;
                if v.is_missing() {
                    return Err(r.error("min/max holds a missing value"));
                }
                Some(v)
            }
            _ => return Err(r.error("bad min/max presence byte")),
        };
        Ok(MinMax { extreme, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_and_max() {
        let mut lo = MinMax::new(Extreme::Min);
        let mut hi = MinMax::new(Extreme::Max);
        assert_eq!(lo.finish(), Value::Null);
        for v in [3.0, -0.0, 0.0, 7.5, -2.0] {
            lo.update(&Value::Float64(v));
            hi.update(&Value::Float64(v));
        }
        assert_eq!(lo.finish(), Value::Float64(-2.0));
        assert_eq!(hi.finish(), Value::Float64(7.5));
        let mut s = MinMax::new(Extreme::Max);
        s.update(&Value::from("apple"));
        s.update(&Value::from("banana"));
        assert_eq!(s.finish(), Value::from("banana"));
    }
}
