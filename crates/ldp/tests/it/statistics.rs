//! The estimator is unbiased and its spread matches the closed-form variance, for
//! both mechanisms, over many seeded simulations (each with its own hash key, as
//! the variance is over a random hash family too).

use tessera_ldp::{zipf_weights, LdpParams, Mechanism, Simulation};

/// Per value index: the mean and variance of the standardised errors
/// `(estimate − true) / sd` over `runs` runs.
fn standardised(params: LdpParams, indices: &[usize], runs: u64) -> Vec<(f64, f64)> {
    let values: Vec<String> = (0..8).map(|i| format!("value-{i}")).collect();
    let mut zs = vec![Vec::new(); indices.len()];
    for run in 0..runs {
        let outcome = Simulation {
            params,
            hash_key: format!("run-{run}").into_bytes(),
            values: values.clone(),
            weights: zipf_weights(values.len(), 1.0),
            devices: 3_000,
            seed: 1_000 + run,
            threads: 2,
        }
        .run()
        .unwrap();
        for (z, &index) in zs.iter_mut().zip(indices) {
            let v = &outcome.values[index];
            z.push((v.estimate - v.true_count as f64) / v.sd);
        }
    }
    zs.iter()
        .map(|z| {
            let n = z.len() as f64;
            let mean = z.iter().sum::<f64>() / n;
            let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (mean, var)
        })
        .collect()
}

fn check(mechanism: Mechanism, epsilon: f64, k: u32, m: u32) {
    let params = LdpParams::new(mechanism, epsilon, k, m).unwrap();
    let runs = std::env::var("LDP_RUNS").map_or(1000, |v| v.parse().unwrap());
    // The most frequent value and a rare one (collisions with heavy values matter most there).
    let indices = [0, 5];
    for (index, (mean_z, var_z)) in indices.iter().zip(standardised(params, &indices, runs)) {
        eprintln!("{params}, value {index}: mean z = {mean_z:.4}, var z = {var_z:.4}");
        // Unbiased: the mean standardised error is within 4 standard errors of 0.
        let bound = 4.0 / (runs as f64).sqrt();
        assert!(
            mean_z.abs() < bound,
            "{params}, value {index}: mean z = {mean_z} (bound {bound})"
        );
        // The variance matches the closed form: the sample variance of z is near 1.
        assert!(
            (0.8..1.25).contains(&var_z),
            "{params}, value {index}: var z = {var_z}"
        );
    }
}

#[test]
fn cms_is_unbiased_with_the_stated_variance() {
    check(Mechanism::Cms, 3.0, 16, 64);
}

#[test]
fn hcms_is_unbiased_with_the_stated_variance() {
    check(Mechanism::Hcms, 3.0, 16, 64);
}

#[test]
fn a_wrong_variance_would_be_caught() {
    // The check above can fail: halving ε doubles the noise, and the standardised
    // errors of a simulation at ε = 1.5 scored with the variance at ε = 3 are wider.
    let wide = LdpParams::new(Mechanism::Hcms, 1.5, 16, 64).unwrap();
    let narrow = LdpParams::new(Mechanism::Hcms, 3.0, 16, 64).unwrap();
    let values: Vec<String> = (0..8).map(|i| format!("value-{i}")).collect();
    let mut sum_sq = 0.0;
    let runs = 100;
    for run in 0..runs {
        let outcome = Simulation {
            params: wide,
            hash_key: format!("run-{run}").into_bytes(),
            values: values.clone(),
            weights: zipf_weights(values.len(), 1.0),
            devices: 3_000,
            seed: run,
            threads: 1,
        }
        .run()
        .unwrap();
        let v = &outcome.values[0];
        let counts: Vec<f64> = outcome.values.iter().map(|v| v.true_count as f64).collect();
        let f = v.true_count as f64;
        let s2 = counts.iter().map(|c| c * c).sum::<f64>() - f * f;
        let sd_narrow = tessera_ldp::variance(&narrow, 3_000.0, f, s2).sqrt();
        sum_sq += ((v.estimate - f) / sd_narrow).powi(2);
    }
    let var_z = sum_sq / f64::from(runs as u32);
    assert!(var_z > 1.5, "{var_z}");
}

#[test]
fn simulation_is_reproducible_and_thread_count_free() {
    let params = LdpParams::new(Mechanism::Cms, 4.0, 8, 128).unwrap();
    let sim = |threads| Simulation {
        params,
        hash_key: b"k".to_vec(),
        values: vec!["a".into(), "b".into(), "c".into()],
        weights: vec![3.0, 2.0, 1.0],
        devices: 40_000,
        seed: 9,
        threads,
    };
    let one = sim(1).run().unwrap();
    let two = sim(2).run().unwrap();
    assert_eq!(one.sketch, two.sketch);
    assert_eq!(one.values, two.values);
    assert_eq!(one.values.iter().map(|v| v.true_count).sum::<u64>(), 40_000);
}
