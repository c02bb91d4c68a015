//! The unbiased frequency estimator and its variance in closed form.
//!
//! The derivation is in `docs/LOCAL_DP.md`; in short, with n reports, p the
//! realised flip probability, `c = 1/(1−2p)`, `a = (1/m)(1 − 1/m)`, f the true
//! count of the value d, and `S2 = Σ f_{d'}²` over the other values:
//!
//! ```text
//! f̂(d) = m/(m−1) · ( Σ_j M[j][h_j(d)] / k − n/m )            (unbiased)
//! CMS:  Var f̂ = (m/(m−1))² · ( n(c²−1)/4 + (n−f)·a·(1−1/k) + S2·a/k )
//! HCMS: Var f̂ = (m/(m−1))² · ( f(c²−1) + (n−f)(c² − 1/m² − a/k) + S2·a/k )
//! ```
//!
//! over the randomisation, the devices' choices of row (and coefficient) and a
//! hash family drawn at random (the `S2` term is the error of heavy values that
//! collide with d; it shrinks with k).

use crate::hash_family::HashFamily;
use crate::params::{LdpParams, Mechanism};
use crate::sketch::Sketch;

/// One estimated frequency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The unbiased estimate of the number of reports of the value (may be
    /// negative for a rare value: it is not clipped, which would bias it).
    pub estimate: f64,
    /// The standard deviation of the estimate from the closed form, with the
    /// estimates of the candidates (clipped at 0) plugged in for the unknown counts.
    pub sd: f64,
}

/// Estimates frequencies from a sketch: build once, ask for many values.
#[derive(Debug, Clone)]
pub struct Estimator {
    params: LdpParams,
    hashes: HashFamily,
    reports: u64,
    /// Apple's sketch matrix M divided by k, row-major k × m.
    matrix: Vec<f64>,
}

impl Estimator {
    /// The estimator over `sketch`, with the hash family keyed by `hash_key` (the
    /// report's name; the same key the devices use).
    pub fn new(sketch: &Sketch, hash_key: &[u8]) -> Self {
        let params = *sketch.params();
        let m = params.m() as usize;
        let c = params.flip().debias();
        let mut matrix = vec![0.0; sketch.cells().len()];
        for (j, (row, out)) in sketch
            .cells()
            .chunks(m)
            .zip(matrix.chunks_mut(m))
            .enumerate()
        {
            match params.mechanism() {
                Mechanism::Cms => {
                    // Σ over the row's reports of (c·ṽ_i + 1)/2, with ṽ_i = ±1:
                    // c·(ones − n_j/2) + n_j/2.
                    let half = sketch.row_reports()[j] as f64 / 2.0;
                    for (o, &ones) in out.iter_mut().zip(row) {
                        *o = c * (ones as f64 - half) + half;
                    }
                }
                Mechanism::Hcms => {
                    let mut transformed = row.to_vec();
                    walsh_hadamard(&mut transformed);
                    for (o, t) in out.iter_mut().zip(transformed) {
                        *o = c * t as f64;
                    }
                }
            }
        }
        Self {
            params,
            hashes: HashFamily::new(hash_key, params.m()),
            reports: sketch.reports(),
            matrix,
        }
    }

    /// The number of reports in the sketch.
    pub fn reports(&self) -> u64 {
        self.reports
    }

    /// The unbiased estimate of how many reports carried `value`.
    pub fn frequency(&self, value: &[u8]) -> f64 {
        let m = self.params.m() as usize;
        let sum: f64 = (0..self.params.k())
            .map(|j| self.matrix[j as usize * m + self.hashes.bucket(j, value) as usize])
            .sum();
        let mf = m as f64;
        mf / (mf - 1.0) * (sum - self.reports as f64 / mf)
    }

    /// Estimates of every candidate, each with the closed-form standard deviation
    /// (the candidates' clipped estimates stand in for the unknown true counts).
    pub fn estimates(&self, candidates: &[&[u8]]) -> Vec<Estimate> {
        let raw: Vec<f64> = candidates.iter().map(|v| self.frequency(v)).collect();
        let clipped: Vec<f64> = raw.iter().map(|e| e.max(0.0)).collect();
        let total_sq: f64 = clipped.iter().map(|e| e * e).sum();
        let n = self.reports as f64;
        raw.iter()
            .zip(&clipped)
            .map(|(&estimate, &f)| Estimate {
                estimate,
                sd: variance(&self.params, n, f.min(n), (total_sq - f * f).max(0.0)).sqrt(),
            })
            .collect()
    }
}

/// The variance of [`Estimator::frequency`] for a value with true count `count`
/// among `n` reports, where the other values' counts have sum of squares
/// `others_sum_of_squares` (see the module docs).
pub fn variance(params: &LdpParams, n: f64, count: f64, others_sum_of_squares: f64) -> f64 {
    let m = f64::from(params.m());
    let k = f64::from(params.k());
    let c = params.flip().debias();
    let a = (1.0 / m) * (1.0 - 1.0 / m);
    let scale = (m / (m - 1.0)).powi(2);
    let others = n - count;
    let inner = match params.mechanism() {
        Mechanism::Cms => {
            n * (c * c - 1.0) / 4.0 + others * a * (1.0 - 1.0 / k) + others_sum_of_squares * a / k
        }
        Mechanism::Hcms => {
            count * (c * c - 1.0)
                + others * (c * c - 1.0 / (m * m) - a / k)
                + others_sum_of_squares * a / k
        }
    };
    scale * inner
}

/// The in-place fast Walsh–Hadamard transform (Sylvester order, unnormalised):
/// `out[h] = Σ_l (−1)^popcount(h & l) · in[l]`. The length is a power of two.
fn walsh_hadamard(values: &mut [i64]) {
    let n = values.len();
    let mut half = 1;
    while half < n {
        for start in (0..n).step_by(2 * half) {
            for i in start..start + half {
                let (x, y) = (values[i], values[i + half]);
                values[i] = x + y;
                values[i + half] = x - y;
            }
        }
        half *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hadamard_matches_definition() {
        let input: Vec<i64> = vec![3, -1, 4, 1, -5, 9, 2, -6];
        let mut fast = input.clone();
        walsh_hadamard(&mut fast);
        for (h, &v) in fast.iter().enumerate() {
            let slow: i64 = input
                .iter()
                .enumerate()
                .map(|(l, &x)| if (h & l).count_ones() % 2 == 0 { x } else { -x })
                .sum();
            assert_eq!(v, slow);
        }
    }
}
