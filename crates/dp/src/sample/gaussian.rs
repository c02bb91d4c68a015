//! The discrete Gaussian distribution, sampled exactly (Canonne, Kamath & Steinke 2020,
//! Algorithm 3): P(x) ∝ exp(-x² / (2σ²)) over the integers, by rejection from a discrete
//! Laplace with scale ⌊σ⌋ + 1.

use super::bernoulli::bernoulli_exp;
use super::laplace::sample_laplace;
use super::rational::Rational;
use super::uniform::UniformSource;
use crate::error::{Error, Result};

/// The largest numerator of σ² (2^49, σ ≈ 2.4·10^7 with denominator 1): with it, the
/// acceptance test's integers fit in 128 bits for every Laplace proposal below 2^12·t, and
/// larger proposals (probability below exp(-4096)) are rejected.
pub const MAX_SIGMA2_NUM: u64 = 1 << 49;

/// A discrete Gaussian with rational variance parameter σ² = `num / den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscreteGaussian {
    sigma2: Rational,
    /// ⌊σ⌋ + 1: the scale of the Laplace proposal.
    t: u64,
    /// num·... precomputed: the acceptance probability is exp(-(|Y|·den·t - num)² / twice).
    twice: u128,
    dt: u128,
}

impl DiscreteGaussian {
    /// The distribution with σ² = `sigma2`; refuses parameters beyond the exact range
    /// ([`MAX_SIGMA2_NUM`], and den·t² ≤ 2^51).
    pub fn new(sigma2: Rational) -> Result<Self> {
        let (n, d) = (sigma2.num, sigma2.den);
        let t = (n / d).isqrt() + 1;
        let dt2 = u128::from(d) * u128::from(t) * u128::from(t);
        if n > MAX_SIGMA2_NUM || dt2 > 1u128 << 51 {
            return Err(Error::BadParameter(format!(
                "discrete Gaussian σ² = {n}/{d} is beyond the exact sampler's range \
                 (σ ≤ 2.4·10^7 units); narrow the bounds or coarsen the precision"
            )));
        }
        Ok(Self {
            sigma2,
            t,
            twice: 2 * u128::from(n) * dt2,
            dt: u128::from(d) * u128::from(t),
        })
    }

    /// σ².
    pub fn sigma2(&self) -> Rational {
        self.sigma2
    }

    /// The exact variance Σ x²·P(x) (slightly below σ²), summed numerically (for reporting).
    pub fn variance(&self) -> f64 {
        let s2 = self.sigma2.to_f64();
        let span = (s2.sqrt() * 40.0).ceil() as i64 + 2;
        let (mut z, mut m2) = (0.0, 0.0);
        for x in -span..=span {
            let w = (-(x as f64).powi(2) / (2.0 * s2)).exp();
            z += w;
            m2 += w * (x as f64).powi(2);
        }
        m2 / z
    }

    /// Its probability mass at `x` (for tests and reporting).
    pub fn pmf(&self, x: i64) -> f64 {
        let s2 = self.sigma2.to_f64();
        let span = (s2.sqrt() * 40.0).ceil() as i64 + 2;
        let z: f64 = (-span..=span)
            .map(|k| (-(k as f64).powi(2) / (2.0 * s2)).exp())
            .sum();
        (-(x as f64).powi(2) / (2.0 * s2)).exp() / z
    }

    /// One draw.
    pub fn sample<R: UniformSource + ?Sized>(&self, rng: &mut R) -> i64 {
        let n = u128::from(self.sigma2.num);
        loop {
            let y = sample_laplace(rng, self.t, 1);
            // γ = (|Y| - σ²/t)² / (2σ²) = (|Y|·d·t - n)² / (2·n·d·t²)
            let Some(a) = u128::from(y.unsigned_abs()).checked_mul(self.dt) else {
                continue;
            };
            let diff = a.abs_diff(n);
            if diff >= 1 << 63 {
                continue; // |Y| > 2^12·t: accepted with probability below exp(-4096)
            }
            if bernoulli_exp(rng, diff * diff, self.twice) {
                return y;
            }
        }
    }
}
