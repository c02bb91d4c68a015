//! The samplers' empirical distributions against their exact probability mass functions.

use tessera_dp::sample::{
    bernoulli, bernoulli_exp, ChaChaSource, DiscreteGaussian, DiscreteLaplace, Rational,
};

const N: usize = 200_000;

/// Pearson's chi-square statistic of `samples` against `pmf`, over the bins of expected
/// count ≥ 5 (the two tails merged into one bin each), and its degrees of freedom.
fn chi_square(samples: &[i64], pmf: impl Fn(i64) -> f64) -> (f64, usize) {
    let n = samples.len() as f64;
    let mut lo = 0;
    while pmf(lo - 1) * n >= 5.0 {
        lo -= 1;
    }
    let mut hi = 0;
    while pmf(hi + 1) * n >= 5.0 {
        hi += 1;
    }
    let mut observed = vec![0f64; (hi - lo + 3) as usize];
    for &x in samples {
        let bin = if x < lo {
            0
        } else if x > hi {
            observed.len() - 1
        } else {
            (x - lo + 1) as usize
        };
        observed[bin] += 1.0;
    }
    let inner: Vec<f64> = (lo..=hi).map(&pmf).collect();
    let inner_sum: f64 = inner.iter().sum();
    // The two tails share the mass outside [lo, hi] by symmetry.
    let tail = ((1.0 - inner_sum) / 2.0).max(0.0);
    let mut expected = vec![tail];
    expected.extend(inner);
    expected.push(tail);
    let mut chi = 0.0;
    let mut bins = 0;
    for (o, p) in observed.iter().zip(&expected) {
        let e = p * n;
        if e < 5.0 {
            // An (almost) empty tail bin: any observation there is a strong signal.
            if *o > 10.0 * e.max(1e-9) && *o > 5.0 {
                chi += 1e6;
            }
            continue;
        }
        chi += (o - e) * (o - e) / e;
        bins += 1;
    }
    (chi, bins - 1)
}

/// A threshold a correct sampler exceeds with probability about 1e-6 (df + 7·√(2·df)).
fn threshold(df: usize) -> f64 {
    df as f64 + 7.0 * (2.0 * df as f64).sqrt()
}

fn draws(mut f: impl FnMut() -> i64) -> Vec<i64> {
    (0..N).map(|_| f()).collect()
}

#[test]
fn bernoulli_means_match() {
    let mut rng = ChaChaSource::seeded(11);
    let p = 3.0 / 10.0;
    let hits = (0..N).filter(|_| bernoulli(&mut rng, 3, 10)).count() as f64;
    let sd = (p * (1.0 - p) / N as f64).sqrt();
    assert!((hits / N as f64 - p).abs() < 5.0 * sd, "{hits}");
}

#[test]
fn bernoulli_exp_means_match() {
    let mut rng = ChaChaSource::seeded(12);
    for (n, d) in [(0u128, 1u128), (3, 10), (1, 3), (1, 1), (27, 10), (5, 1)] {
        let p = (-(n as f64) / d as f64).exp();
        let hits = (0..N).filter(|_| bernoulli_exp(&mut rng, n, d)).count() as f64;
        let sd = (p * (1.0 - p) / N as f64).sqrt().max(1e-12);
        let mean = hits / N as f64;
        assert!(
            (mean - p).abs() <= 5.0 * sd,
            "exp(-{n}/{d}) = {p}, got {mean}"
        );
    }
}

#[test]
fn discrete_laplace_matches_its_pmf() {
    let mut rng = ChaChaSource::seeded(13);
    for scale in [
        Rational::new(3, 2).unwrap(),
        Rational::new(10, 1).unwrap(),
        Rational::new(1, 3).unwrap(),
    ] {
        let lap = DiscreteLaplace::new(scale).unwrap();
        let xs = draws(|| lap.sample(&mut rng));
        let (chi, df) = chi_square(&xs, |x| lap.pmf(x));
        assert!(
            chi < threshold(df),
            "scale {scale:?}: chi² {chi:.1} with {df} df"
        );
        let mean = xs.iter().sum::<i64>() as f64 / N as f64;
        let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / N as f64;
        assert!(
            (var / lap.variance() - 1.0).abs() < 0.05,
            "{var} vs {}",
            lap.variance()
        );
    }
}

#[test]
fn discrete_gaussian_matches_its_pmf() {
    let mut rng = ChaChaSource::seeded(14);
    for s2 in [
        Rational::new(100, 1).unwrap(),
        Rational::new(7, 3).unwrap(),
        Rational::new(1, 2).unwrap(),
        Rational::at_least(1234.5678, tessera_dp::sample::MAX_SIGMA2_NUM).unwrap(),
    ] {
        let g = DiscreteGaussian::new(s2).unwrap();
        let xs = draws(|| g.sample(&mut rng));
        let (chi, df) = chi_square(&xs, |x| g.pmf(x));
        assert!(chi < threshold(df), "σ² {s2:?}: chi² {chi:.1} with {df} df");
        let var = xs.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / N as f64;
        assert!(
            (var / g.variance() - 1.0).abs() < 0.03,
            "{var} vs {}",
            g.variance()
        );
    }
}

#[test]
fn the_test_rejects_a_wrong_sampler() {
    // The same statistic, for a sampler 5% too wide: it must fail, or the tests above
    // could not catch one.
    let mut rng = ChaChaSource::seeded(15);
    let wide = DiscreteGaussian::new(Rational::new(105, 1).unwrap()).unwrap();
    let claimed = DiscreteGaussian::new(Rational::new(100, 1).unwrap()).unwrap();
    let xs = draws(|| wide.sample(&mut rng));
    let (chi, df) = chi_square(&xs, |x| claimed.pmf(x));
    assert!(chi > threshold(df), "chi² {chi:.1} with {df} df");
    let lap = DiscreteLaplace::new(Rational::new(10, 1).unwrap()).unwrap();
    let claimed = DiscreteLaplace::new(Rational::new(21, 2).unwrap()).unwrap();
    let xs = draws(|| lap.sample(&mut rng));
    let (chi, df) = chi_square(&xs, |x| claimed.pmf(x));
    assert!(chi > threshold(df), "chi² {chi:.1} with {df} df");
}

#[test]
fn parameters_beyond_the_exact_range_are_refused() {
    assert!(DiscreteGaussian::new(Rational::new(1 << 50, 1).unwrap()).is_err());
    assert!(DiscreteLaplace::new(Rational::new(1 << 41, 1).unwrap()).is_err());
    assert!(Rational::new(0, 1).is_err());
}
