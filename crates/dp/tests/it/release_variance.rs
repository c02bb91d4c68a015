//! A release's empirical error over many seeded runs matches the variance it states.

use tessera_core::{
    GroupByDef, MeasureDef, ReleaseCostDef, ReleaseDef, ReleaseMechanism, ReleaseQuery,
};
use tessera_dp::sample::ChaChaSource;
use tessera_dp::{Plan, Row};

fn def(query: ReleaseQuery, measure: Option<MeasureDef>, max_rows: u32) -> ReleaseDef {
    ReleaseDef {
        name: "t".into(),
        source: Some("s".into()),
        view: None,
        entity: Some("user".into()),
        filter: None,
        lookup: None,
        query,
        group_by: Some(GroupByDef {
            column: "g".into(),
            domain: Some(vec!["a".into(), "b".into(), "c".into()]),
            threshold_delta: None,
        }),
        measure,
        max_rows,
        mechanism: None,
        cost: None,
        description: None,
    }
}

fn rows() -> Vec<Row> {
    (0..300)
        .map(|i| Row {
            entity: format!("u{}", i % 100),
            identity: vec![],
            group: Some(["a", "b", "c"][i % 3].to_string()),
            value: Some((i % 7) as f64 * 1.3),
        })
        .collect()
}

/// The exact per-group values (count, or sum of clipped values in units × precision).
fn exact(plan: &Plan) -> Vec<f64> {
    ["a", "b", "c"]
        .iter()
        .map(|g| {
            let rs = rows()
                .into_iter()
                .filter(|r| r.group.as_deref() == Some(g))
                .collect::<Vec<_>>();
            match plan.scaling {
                None => rs.len() as f64,
                Some(s) => {
                    rs.iter()
                        .map(|r| s.units(r.value.unwrap()) as f64)
                        .sum::<f64>()
                        * s.precision
                }
            }
        })
        .collect()
}

/// Pooled empirical variance of (noisy - exact) over `runs` seeded runs, and the stated one.
fn empirical(plan: &Plan, runs: u64) -> (f64, f64) {
    let exact = exact(plan);
    let (mut ss, mut n, mut stated) = (0.0, 0.0, 0.0);
    for seed in 0..runs {
        let got = plan.aggregate(&rows(), &mut ChaChaSource::seeded(seed));
        for (g, e) in got.iter().zip(&exact) {
            let err = g.value.unwrap() - e;
            ss += err * err;
            n += 1.0;
            stated = g.variance;
        }
    }
    (ss / n, stated)
}

#[test]
fn gaussian_histogram_error_matches_stated_variance() {
    let d = def(ReleaseQuery::Histogram, None, 3);
    let plan = Plan::new(
        &d,
        Some(ReleaseCostDef {
            rho: Some(0.1),
            epsilon: None,
        }),
    )
    .unwrap();
    assert_eq!(plan.mechanism, ReleaseMechanism::Gaussian);
    let (emp, stated) = empirical(&plan, 3000);
    // σ² = 3² / (2·0.1) = 45.
    assert!((stated - 45.0).abs() < 0.5, "{stated}");
    assert!(
        (emp / stated - 1.0).abs() < 0.08,
        "empirical {emp} vs stated {stated}"
    );
}

#[test]
fn laplace_sum_error_matches_stated_variance() {
    let m = MeasureDef {
        column: "v".into(),
        lo: 0.0,
        hi: 10.0,
        precision: Some(0.5),
    };
    let d = def(ReleaseQuery::Sum, Some(m), 2);
    let plan = Plan::new(
        &d,
        Some(ReleaseCostDef {
            rho: None,
            epsilon: Some(1.0),
        }),
    )
    .unwrap();
    let (emp, stated) = empirical(&plan, 3000);
    // Δ₁ = 2 rows · 20 units = 40 units; scale 40; variance 2q/(1-q)² units², × 0.5².
    let q = (-1.0f64 / 40.0).exp();
    assert!(
        (stated - 2.0 * q / (1.0 - q).powi(2) * 0.25).abs() < 1e-6,
        "{stated}"
    );
    assert!(
        (emp / stated - 1.0).abs() < 0.1,
        "empirical {emp} vs stated {stated}"
    );
}

#[test]
fn noise_never_leaves_a_value_raw() {
    // With real randomness some group differs from its exact value.
    let d = def(ReleaseQuery::Histogram, None, 3);
    let plan = Plan::new(
        &d,
        Some(ReleaseCostDef {
            rho: Some(0.1),
            epsilon: None,
        }),
    )
    .unwrap();
    assert_eq!(exact(&plan), [100.0, 100.0, 100.0]);
    let noisy = plan.aggregate(&rows(), &mut ChaChaSource::seeded(5));
    let values: Vec<f64> = noisy.iter().map(|g| g.value.unwrap()).collect();
    assert_ne!(values, [100.0, 100.0, 100.0]);
}
