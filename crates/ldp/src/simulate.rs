//! Simulated devices: the same randomiser and the same sketch as production, over
//! a synthetic population, to choose ε, k and m before shipping.

use std::sync::atomic::{AtomicU64, Ordering};

use rand_core::RngCore;

use crate::error::{invalid, Result};
use crate::estimator::{variance, Estimator};
use crate::params::LdpParams;
use crate::randomiser::{seeded_rng, Randomiser};
use crate::report::Report;
use crate::sketch::Sketch;

/// Devices per unit of work; each unit has its own random stream, so the result
/// depends on the seed only, not on the number of threads.
const CHUNK: u64 = 16_384;

/// The population and parameters of a simulation.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The mechanism's parameters.
    pub params: LdpParams,
    /// The hash family's key (a real report uses its name).
    pub hash_key: Vec<u8>,
    /// The domain: every value a device may hold.
    pub values: Vec<String>,
    /// The relative weight of each value (same length as `values`).
    pub weights: Vec<f64>,
    /// How many devices report once each.
    pub devices: u64,
    /// The seed of every random draw (the devices' values and their randomness).
    pub seed: u64,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

/// Zipf weights `1 / (i + 1)^s` for a domain of `size` values.
pub fn zipf_weights(size: usize, s: f64) -> Vec<f64> {
    (0..size).map(|i| 1.0 / ((i + 1) as f64).powf(s)).collect()
}

/// One value's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedValue {
    /// The value.
    pub value: String,
    /// How many devices held it.
    pub true_count: u64,
    /// The estimate from the sketch.
    pub estimate: f64,
    /// The theoretical standard deviation of the estimate (closed form, with the
    /// true counts).
    pub sd: f64,
}

/// The outcome of a simulation.
#[derive(Debug, Clone)]
pub struct SimulationOutcome {
    /// One entry per domain value, in domain order.
    pub values: Vec<SimulatedValue>,
    /// The merged sketch of every device's report.
    pub sketch: Sketch,
    /// The threads that ran.
    pub threads: usize,
}

impl Simulation {
    /// Runs every device's randomiser and accumulates the reports.
    pub fn run(&self) -> Result<SimulationOutcome> {
        if self.values.is_empty() || self.values.len() != self.weights.len() {
            return Err(invalid(
                "domain",
                "the domain needs at least one value, and one weight per value",
            ));
        }
        if self.weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
            || self.weights.iter().sum::<f64>() <= 0.0
        {
            return Err(invalid(
                "distribution",
                "weights must be ≥ 0 with a positive sum",
            ));
        }
        let total: f64 = self.weights.iter().sum();
        let mut cdf = Vec::with_capacity(self.weights.len());
        let mut acc = 0.0;
        for w in &self.weights {
            acc += w / total;
            cdf.push(acc);
        }
        let randomiser = Randomiser::new(self.params, &self.hash_key);
        let threads = if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        };
        let chunks = self.devices.div_ceil(CHUNK);
        let next = AtomicU64::new(0);
        let parts: Vec<Result<(Sketch, Vec<u64>)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    let (randomiser, cdf, next) = (&randomiser, &cdf, &next);
                    scope.spawn(move || self.worker(randomiser, cdf, next, chunks))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        Err(invalid("simulation", "a simulation thread panicked"))
                    })
                })
                .collect()
        });
        let mut sketch = Sketch::new(self.params);
        let mut counts = vec![0u64; self.values.len()];
        for part in parts {
            let (s, c) = part?;
            sketch.merge(&s)?;
            for (a, b) in counts.iter_mut().zip(c) {
                *a += b;
            }
        }
        let estimator = Estimator::new(&sketch, &self.hash_key);
        let n = self.devices as f64;
        let total_sq: f64 = counts.iter().map(|&c| (c as f64).powi(2)).sum();
        let values = self
            .values
            .iter()
            .zip(&counts)
            .map(|(value, &count)| {
                let f = count as f64;
                SimulatedValue {
                    value: value.clone(),
                    true_count: count,
                    estimate: estimator.frequency(value.as_bytes()),
                    sd: variance(&self.params, n, f, total_sq - f * f).sqrt(),
                }
            })
            .collect();
        Ok(SimulationOutcome {
            values,
            sketch,
            threads,
        })
    }

    fn worker(
        &self,
        randomiser: &Randomiser,
        cdf: &[f64],
        next: &AtomicU64,
        chunks: u64,
    ) -> Result<(Sketch, Vec<u64>)> {
        let mut sketch = Sketch::new(self.params);
        let mut counts = vec![0u64; cdf.len()];
        let mut report = Report::Cms(Default::default());
        loop {
            let chunk = next.fetch_add(1, Ordering::Relaxed);
            if chunk >= chunks {
                break;
            }
            let mut rng = seeded_rng(self.seed, chunk);
            let start = chunk * CHUNK;
            let end = (start + CHUNK).min(self.devices);
            for _ in start..end {
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let i = cdf.partition_point(|&c| c <= u).min(cdf.len() - 1);
                counts[i] += 1;
                randomiser.randomise_into(self.values[i].as_bytes(), &mut rng, &mut report);
                sketch.add(&report)?;
            }
        }
        Ok((sketch, counts))
    }
}
