//! The discrete Laplace distribution, sampled exactly (Canonne, Kamath & Steinke 2020,
//! Algorithm 2): P(x) ∝ exp(-|x| / scale) over the integers.

use super::bernoulli::{bernoulli, bernoulli_exp};
use super::rational::Rational;
use super::uniform::UniformSource;
use crate::error::{Error, Result};

/// The largest numerator and denominator of a discrete Laplace scale (2^40): keeps every
/// intermediate of the sampler within 64 bits except with probability below exp(-2^23).
pub const MAX_LAPLACE_PART: u64 = 1 << 40;

/// A discrete Laplace distribution with rational scale `t = num / den`:
/// P(x) = (1 - e^{-1/t}) / (1 + e^{-1/t}) · e^{-|x|/t}.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscreteLaplace {
    scale: Rational,
}

impl DiscreteLaplace {
    /// The distribution with the given scale; both parts at most [`MAX_LAPLACE_PART`].
    pub fn new(scale: Rational) -> Result<Self> {
        if scale.num > MAX_LAPLACE_PART || scale.den > MAX_LAPLACE_PART {
            return Err(Error::BadParameter(format!(
                "discrete Laplace scale {}/{} is too large for the exact sampler",
                scale.num, scale.den
            )));
        }
        Ok(Self { scale })
    }

    /// Its scale.
    pub fn scale(&self) -> Rational {
        self.scale
    }

    /// Its variance, 2q / (1 - q)² with q = e^{-1/t} (for reporting).
    pub fn variance(&self) -> f64 {
        let q = (-1.0 / self.scale.to_f64()).exp();
        2.0 * q / ((1.0 - q) * (1.0 - q))
    }

    /// Its probability mass at `x` (for tests and reporting).
    pub fn pmf(&self, x: i64) -> f64 {
        let q = (-1.0 / self.scale.to_f64()).exp();
        (1.0 - q) / (1.0 + q) * q.powi(x.unsigned_abs().min(i32::MAX as u64) as i32)
    }

    /// One draw.
    pub fn sample<R: UniformSource + ?Sized>(&self, rng: &mut R) -> i64 {
        sample_laplace(rng, self.scale.num, self.scale.den)
    }
}

/// Algorithm 2 for scale `t / s` (pmf ∝ exp(-|x|·s/t)).
#[inline]
pub(crate) fn sample_laplace<R: UniformSource + ?Sized>(rng: &mut R, t: u64, s: u64) -> i64 {
    loop {
        let u = rng.below(t);
        if !bernoulli_exp(rng, u128::from(u), u128::from(t)) {
            continue;
        }
        let mut v: u64 = 0;
        while bernoulli_exp(rng, 1, 1) {
            v += 1;
        }
        // X = U + t·V overflows only for V > 2^24 (probability below exp(-2^24)).
        let Some(x) = t.checked_mul(v).and_then(|tv| tv.checked_add(u)) else {
            continue;
        };
        let Ok(y) = i64::try_from(x / s) else {
            continue;
        };
        let negative = bernoulli(rng, 1, 2);
        if negative && y == 0 {
            continue;
        }
        return if negative { -y } else { y };
    }
}
