//! Throughput of the exact samplers: `cargo run --release -p tessera-dp --example
//! sampler_throughput [SAMPLES]` prints samples per second of the discrete Gaussian at
//! σ = 10 (σ² = 100) and σ = 1000, the discrete Laplace at scale 10, and Bernoulli(exp(-1/3)),
//! each from a ChaCha20 generator seeded by the operating system (as releases use).

use std::hint::black_box;
use std::time::Instant;

use tessera_dp::sample::{
    bernoulli_exp, ChaChaSource, DiscreteGaussian, DiscreteLaplace, Rational,
};

fn main() -> Result<(), tessera_dp::Error> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let mut rng = ChaChaSource::from_os()?;
    let g10 = DiscreteGaussian::new(Rational::new(100, 1)?)?;
    let g1000 = DiscreteGaussian::new(Rational::new(1_000_000, 1)?)?;
    let lap = DiscreteLaplace::new(Rational::new(10, 1)?)?;
    let mut run = |name: &str, f: &mut dyn FnMut(&mut ChaChaSource) -> i64| {
        let t = Instant::now();
        let mut acc = 0i64;
        for _ in 0..n {
            acc = acc.wrapping_add(f(&mut rng));
        }
        black_box(acc);
        let s = t.elapsed().as_secs_f64();
        println!(
            "{name:<34} {n:>10} samples in {s:>7.3} s: {:>6.2} M samples/s",
            n as f64 / s / 1e6
        );
    };
    run("discrete Gaussian σ = 10", &mut |r| g10.sample(r));
    run("discrete Gaussian σ = 1000", &mut |r| g1000.sample(r));
    run("discrete Laplace scale 10", &mut |r| lap.sample(r));
    run("Bernoulli(exp(-1/3))", &mut |r| {
        i64::from(bernoulli_exp(r, 1, 3))
    });
    Ok(())
}
