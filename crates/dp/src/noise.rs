//! Noise calibrated to a sensitivity and a cost: the discrete Gaussian for ρ-zCDP
//! (σ² = Δ₂² / (2ρ)) and the discrete Laplace for ε-DP (scale Δ₁ / ε), with parameters
//! rounded **up** to rationals, so the privacy spent is never more than charged.

use serde::Serialize;

use crate::error::Result;
use crate::sample::{
    DiscreteGaussian, DiscreteLaplace, Rational, UniformSource, MAX_LAPLACE_PART, MAX_SIGMA2_NUM,
};

/// Calibrated integer noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// Discrete Gaussian.
    Gaussian(DiscreteGaussian),
    /// Discrete Laplace.
    Laplace(DiscreteLaplace),
}

/// What a release states about its noise, in the units of the value it perturbs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoiseInfo {
    /// `discrete_gaussian` or `discrete_laplace`.
    pub mechanism: &'static str,
    /// σ² of the discrete Gaussian (in value units²).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma2: Option<f64>,
    /// The discrete Laplace scale (in value units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// The noise's exact variance (in value units²): for a 95% interval, ±1.96·√variance
    /// (Gaussian), or the Laplace quantiles.
    pub variance: f64,
    /// The sensitivity the noise was calibrated to (in value units): L2 for the Gaussian,
    /// L1 for the Laplace.
    pub sensitivity: f64,
}

impl Noise {
    /// Discrete Gaussian noise for L2 sensitivity `delta2` (integer units) at cost `rho`.
    pub fn gaussian(delta2: u64, rho: f64) -> Result<Self> {
        let d = delta2 as f64;
        let s2 = Rational::at_least(d * d / (2.0 * rho), MAX_SIGMA2_NUM)?;
        Ok(Self::Gaussian(DiscreteGaussian::new(s2)?))
    }

    /// Discrete Laplace noise for L1 sensitivity `delta1` (integer units) at cost `epsilon`.
    pub fn laplace(delta1: u64, epsilon: f64) -> Result<Self> {
        let t = Rational::at_least(delta1 as f64 / epsilon, MAX_LAPLACE_PART)?;
        Ok(Self::Laplace(DiscreteLaplace::new(t)?))
    }

    /// One draw.
    pub fn sample<R: UniformSource + ?Sized>(&self, rng: &mut R) -> i64 {
        match self {
            Self::Gaussian(g) => g.sample(rng),
            Self::Laplace(l) => l.sample(rng),
        }
    }

    /// The variance in integer units².
    pub fn variance(&self) -> f64 {
        match self {
            Self::Gaussian(g) => g.variance(),
            Self::Laplace(l) => l.variance(),
        }
    }

    /// P(Z ≥ k) for k ≥ 1.
    pub fn tail(&self, k: i64) -> f64 {
        match self {
            Self::Laplace(l) => {
                let q = (-1.0 / l.scale().to_f64()).exp();
                q.powf(k as f64) / (1.0 + q)
            }
            Self::Gaussian(g) => {
                let s2 = g.sigma2().to_f64();
                let span = (s2.sqrt() * 40.0).ceil() as i64 + 2;
                let w = |x: i64| (-(x as f64).powi(2) / (2.0 * s2)).exp();
                let z: f64 = (-span..=span).map(w).sum();
                (k..=k.max(0) + span).map(w).sum::<f64>() / z
            }
        }
    }

    /// The smallest threshold τ such that a group held by one entity (true count at most
    /// `max_rows`, in at most `max_rows` groups) passes `noisy count ≥ τ` with probability at
    /// most `delta`: τ = max_rows + k with max_rows · P(Z ≥ k) ≤ δ.
    pub fn threshold(&self, max_rows: u64, delta: f64) -> i64 {
        let per_group = delta / max_rows.max(1) as f64;
        // Doubling, then bisection: the tail decreases in k.
        let mut hi: i64 = 1;
        while self.tail(hi) > per_group && hi < i64::MAX / 4 {
            hi *= 2;
        }
        let mut lo = hi / 2;
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if self.tail(mid) > per_group {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        max_rows as i64 + hi
    }

    /// What to state about it, for values in units of `unit` (1 for counts).
    pub fn info(&self, sensitivity_units: u64, unit: f64) -> NoiseInfo {
        match self {
            Self::Gaussian(g) => NoiseInfo {
                mechanism: "discrete_gaussian",
                sigma2: Some(g.sigma2().to_f64() * unit * unit),
                scale: None,
                variance: g.variance() * unit * unit,
                sensitivity: sensitivity_units as f64 * unit,
            },
            Self::Laplace(l) => NoiseInfo {
                mechanism: "discrete_laplace",
                sigma2: None,
                scale: Some(l.scale().to_f64() * unit),
                variance: l.variance() * unit * unit,
                sensitivity: sensitivity_units as f64 * unit,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_rounds_noise_up() {
        let Noise::Gaussian(g) = Noise::gaussian(10, 0.5).unwrap() else {
            panic!()
        };
        assert!(g.sigma2().to_f64() >= 100.0);
        let Noise::Laplace(l) = Noise::laplace(3, 0.7).unwrap() else {
            panic!()
        };
        assert!(l.scale().to_f64() >= 3.0 / 0.7);
    }

    #[test]
    fn thresholds_bound_the_tail() {
        for n in [
            Noise::gaussian(1, 0.1).unwrap(),
            Noise::laplace(1, 1.0).unwrap(),
        ] {
            let t = n.threshold(5, 1e-6);
            assert!(5.0 * n.tail(t - 5) <= 1e-6);
            assert!(5.0 * n.tail(t - 6) > 1e-6, "the smallest such threshold");
        }
    }
}
