//! Positive rationals `num / den` for the samplers' parameters, and their conservative
//! construction from decimal numbers.

use crate::error::{Error, Result};

/// A positive rational `num / den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rational {
    /// Numerator.
    pub num: u64,
    /// Denominator (positive).
    pub den: u64,
}

impl Rational {
    /// `num / den`; refuses a zero numerator or denominator.
    pub fn new(num: u64, den: u64) -> Result<Self> {
        if num == 0 || den == 0 {
            return Err(Error::BadParameter(format!(
                "{num}/{den}: a noise parameter must be a positive rational"
            )));
        }
        Ok(Self { num, den })
    }

    /// The smallest rational with denominator 2^k (k ≤ 20, as large as `num` stays within
    /// `max_num`) that is **at least** `x`: rounding up, so noise calibrated with it is
    /// never smaller than asked for. Refuses non-finite, non-positive or too large `x`.
    pub fn at_least(x: f64, max_num: u64) -> Result<Self> {
        if !x.is_finite() || x <= 0.0 {
            return Err(Error::BadParameter(format!(
                "{x}: a noise parameter must be a positive finite number"
            )));
        }
        let mut k = 20;
        loop {
            let den = 1u64 << k;
            let n = (x * den as f64).ceil();
            if n <= max_num as f64 {
                // `n` is a positive whole number below 2^64 here.
                return Self::new((n as u64).max(1), den).map(Self::reduced);
            }
            if k == 0 {
                return Err(Error::BadParameter(format!(
                    "{x} is too large for the exact samplers (the limit is {max_num}); \
                     narrow the bounds or coarsen the precision"
                )));
            }
            k -= 1;
        }
    }

    /// The same value in lowest terms.
    pub fn reduced(self) -> Self {
        let (mut a, mut b) = (self.num, self.den);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        Self {
            num: self.num / a,
            den: self.den / a,
        }
    }

    /// The value as a float (for reporting only; sampling never uses it).
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_rounds_up() {
        let r = Rational::at_least(0.1, u64::MAX >> 1).unwrap();
        assert!(r.to_f64() >= 0.1 && r.to_f64() < 0.1 + 1e-6, "{r:?}");
        let r = Rational::at_least(100.0, 1 << 30).unwrap();
        assert_eq!(r, Rational { num: 100, den: 1 });
        assert!(Rational::at_least(1e12, 1 << 30).is_err());
        assert!(Rational::at_least(-1.0, 1 << 30).is_err());
        assert!(Rational::at_least(f64::NAN, 1 << 30).is_err());
    }
}
