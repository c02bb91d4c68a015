//! Sum and mean states: an exact integer sum, and a compensated float sum.

use crate::encoding::{put_f64, put_varint, put_zigzag128, Reader};
use crate::error::Result;
use tessera_value::Value;

/// Exact sum of `Int64` inputs in an `i128` (2^64 additions of any `i64` cannot
/// overflow it), so the result is the same in every order. `finish` saturates to
/// the `i64` range.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct IntSum {
    sum: i128,
    count: u64,
}

impl IntSum {
    pub(crate) fn update(&mut self, v: i64) {
        self.sum = self.sum.saturating_add(i128::from(v));
        self.count = self.count.saturating_add(1);
    }

    pub(crate) fn merge(&mut self, other: &IntSum) {
        self.sum = self.sum.saturating_add(other.sum);
        self.count = self.count.saturating_add(other.count);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The sum, saturated to `i64`; `Null` when nothing was added.
    pub(crate) fn finish_sum(&self) -> Value {
        if self.count == 0 {
            return Value::Null;
        }
        let clamped = self.sum.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        Value::Int64(i64::try_from(clamped).unwrap_or(if self.sum < 0 {
            i64::MIN
        } else {
            i64::MAX
        }))
    }

    /// The mean, rounded once from the exact sum; `Null` when nothing was added.
    pub(crate) fn finish_mean(&self) -> Value {
        if self.count == 0 {
            return Value::Null;
        }
        Value::Float64(self.sum as f64 / self.count as f64)
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.count);
        put_zigzag128(out, self.sum);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let count = r.varint()?;
        let sum = r.zigzag128()?;
        if count == 0 && sum != 0 {
            return Err(r.error("non-zero sum of no values"));
        }
        Ok(IntSum { sum, count })
    }
}

/// Neumaier-compensated float sum: `sum + comp` carries about twice the
/// precision of a plain `f64` sum, so sums in different orders (arrival order vs
/// sorted order, different merge trees) agree to ~1e-15 relative to the sum of
/// magnitudes. Infinite inputs are tracked by flags so they never poison the
/// compensation; `+inf` and `-inf` together give `NaN`, as in IEEE arithmetic.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct FloatSum {
    sum: f64,
    comp: f64,
    count: u64,
    pos_inf: bool,
    neg_inf: bool,
}

const FLAG_POS_INF: u64 = 1;
const FLAG_NEG_INF: u64 = 2;

impl FloatSum {
    /// Adds a non-NaN value (callers filter NaN).
    pub(crate) fn update(&mut self, x: f64) {
        self.count = self.count.saturating_add(1);
        self.add(x);
    }

    fn add(&mut self, x: f64) {
        if x.is_infinite() {
            self.mark_inf(x);
            return;
        }
        let t = self.sum + x;
        if t.is_infinite() {
            // The running sum left the f64 range: the result is that infinity.
            self.mark_inf(t);
            return;
        }
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn mark_inf(&mut self, x: f64) {
        if x > 0.0 {
            self.pos_inf = true;
        } else {
            self.neg_inf = true;
        }
    }

    pub(crate) fn merge(&mut self, other: &FloatSum) {
        self.count = self.count.saturating_add(other.count);
        self.pos_inf |= other.pos_inf;
        self.neg_inf |= other.neg_inf;
        self.add(other.sum);
        self.add(other.comp);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn total(&self) -> f64 {
        match (self.pos_inf, self.neg_inf) {
            (true, true) => f64::NAN,
            (true, false) => f64::INFINITY,
            (false, true) => f64::NEG_INFINITY,
            (false, false) => self.sum + self.comp,
        }
    }

    /// The sum; `Null` when nothing was added.
    pub(crate) fn finish_sum(&self) -> Value {
        if self.count == 0 {
            return Value::Null;
        }
        Value::Float64(self.total())
    }

    /// The mean; `Null` when nothing was added.
    pub(crate) fn finish_mean(&self) -> Value {
        if self.count == 0 {
            return Value::Null;
        }
        Value::Float64(self.total() / self.count as f64)
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.count);
        let mut flags = 0;
        if self.pos_inf {
            flags |= FLAG_POS_INF;
        }
        if self.neg_inf {
            flags |= FLAG_NEG_INF;
        }
        put_varint(out, flags);
        put_f64(out, self.sum);
        put_f64(out, self.comp);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let count = r.varint()?;
        let flags = r.varint()?;
        if flags & !(FLAG_POS_INF | FLAG_NEG_INF) != 0 {
            return Err(r.error("unknown float sum flags"));
        }
        let sum = r.f64()?;
        let comp = r.f64()?;
        if !sum.is_finite() || !comp.is_finite() {
            return Err(r.error("float sum is not finite"));
        }
        Ok(FloatSum {
            sum,
            comp,
            count,
            pos_inf: flags & FLAG_POS_INF != 0,
            neg_inf: flags & FLAG_NEG_INF != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_sum_saturates_on_finish() {
        let mut s = IntSum::default();
        assert_eq!(s.finish_sum(), Value::Null);
        s.update(i64::MAX);
        s.update(i64::MAX);
        assert_eq!(s.finish_sum(), Value::Int64(i64::MAX));
        s.update(i64::MIN);
        s.update(i64::MIN);
        s.update(-5);
        assert_eq!(s.finish_sum(), Value::Int64(-7));
        assert_eq!(s.finish_mean(), Value::Float64(-7.0 / 5.0));
    }

    #[test]
    fn compensated_sum_survives_cancellation() {
        let mut s = FloatSum::default();
        for x in [1e16, 1.0, -1e16, 1.0] {
            s.update(x);
        }
        assert_eq!(s.finish_sum(), Value::Float64(2.0));
        let mut t = FloatSum::default();
        t.update(0.1);
        let mut u = FloatSum::default();
        u.update(0.2);
        t.merge(&u);
        assert_eq!(t.finish_mean(), Value::Float64((0.1 + 0.2) / 2.0));
    }

    #[test]
    fn infinities() {
        let mut s = FloatSum::default();
        s.update(1.0);
        s.update(f64::INFINITY);
        assert_eq!(s.finish_sum(), Value::Float64(f64::INFINITY));
        s.update(f64::NEG_INFINITY);
        assert!(matches!(s.finish_sum(), Value::Float64(x) if x.is_nan()));
        let mut o = FloatSum::default();
        o.update(f64::MAX);
        o.update(f64::MAX);
        assert_eq!(o.finish_sum(), Value::Float64(f64::INFINITY));
    }
}
