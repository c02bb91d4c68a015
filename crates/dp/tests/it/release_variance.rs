//! A release's empirical error over many seeded runs matches the variance it states.

use tessera_core::{
    GroupByDef, MeasureDef, ReleaseCostDef, ReleaseDef, ReleaseMechanism, ReleaseQuery,
};
use tessera_dp::sample::ChaChaSource;
use tessera_dp::{GroupKey, Groups, Plan, Row};

fn def(query: ReleaseQuery, measure: Option<MeasureDef>, max_rows: u32) -> ReleaseDef {
    ReleaseDef {
        name: "t".into(),
        source: Some("s".into()),
        view: None,
        entity: Some("user".into()),
        filter: None,
        lookup: None,
        query,
        group_by: Some(GroupByDef::domain(
            "g",
            vec!["a".into(), "b".into(), "c".into()],
        )),
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
            group: Some(vec![["a", "b", "c"][i % 3].to_string()]),
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
                .filter(|r| r.group.as_deref() == Some(&[g.to_string()][..]))
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

/// 400 entities × 3 rows over a 2 × 3 tuple domain (country × genre), plus rows outside it.
fn tuple_rows() -> Vec<Row> {
    let mut rows: Vec<Row> = (0..1200)
        .map(|i| Row {
            entity: format!("u{}", i % 400),
            identity: vec![],
            group: Some(vec![
                ["fr", "de"][i % 2].to_string(),
                ["pop", "rock", "jazz"][(i / 2) % 3].to_string(),
            ]),
            value: None,
        })
        .collect();
    rows.push(Row {
        entity: "u0".into(),
        identity: vec![],
        group: Some(vec!["us".into(), "pop".into()]),
        value: None,
    });
    rows
}

#[test]
fn a_grouping_by_two_columns_states_each_tuples_variance() {
    let d: ReleaseDef = serde_json::from_str(
        r#"{"name": "t", "source": "s", "entity": "user", "query": "histogram", "max_rows": 3,
            "group_by": {"columns": ["country", "genre"],
                         "domain": {"country": ["fr", "de"], "genre": ["pop", "rock", "jazz"]}}}"#,
    )
    .unwrap();
    let plan = Plan::new(
        &d,
        Some(ReleaseCostDef {
            rho: Some(0.1),
            epsilon: None,
        }),
    )
    .unwrap();
    let rows: Vec<Row> = tuple_rows().into_iter().filter(|r| plan.keeps(r)).collect();
    assert_eq!(
        rows.len(),
        1200,
        "the `us` row is outside the country domain"
    );
    let keys: Vec<Vec<String>> = [
        ("fr", "pop"),
        ("fr", "rock"),
        ("fr", "jazz"),
        ("de", "pop"),
        ("de", "rock"),
        ("de", "jazz"),
    ]
    .iter()
    .map(|(c, g)| vec![c.to_string(), g.to_string()])
    .collect();
    let exact: Vec<f64> = keys
        .iter()
        .map(|k| rows.iter().filter(|r| r.group.as_ref() == Some(k)).count() as f64)
        .collect();
    assert_eq!(exact, [200.0; 6]);
    let (mut ss, mut n, mut stated) = (0.0, 0.0, 0.0);
    for seed in 0..1000 {
        let got = plan.aggregate(&rows, &mut ChaChaSource::seeded(seed));
        assert_eq!(got.len(), 6, "every tuple of the product, in order");
        for ((g, k), e) in got.iter().zip(&keys).zip(&exact) {
            assert_eq!(g.group, Some(GroupKey::Tuple(k.clone())));
            let err = g.value.unwrap() - e;
            ss += err * err;
            n += 1.0;
            stated = g.variance;
        }
    }
    // σ² = 3² / (2·0.1) = 45: the bound is on rows per entity across all tuples.
    assert!((stated - 45.0).abs() < 0.5, "{stated}");
    let emp = ss / n;
    assert!(
        (emp / stated - 1.0).abs() < 0.08,
        "empirical {emp} vs stated {stated}"
    );
}

#[test]
fn a_rare_tuple_never_passes_the_threshold() {
    let d: ReleaseDef = serde_json::from_str(
        r#"{"name": "t", "source": "s", "entity": "user", "query": "count", "max_rows": 3,
            "group_by": {"columns": ["country", "genre"], "domain": {"genre": ["pop", "rock", "jazz"]},
                         "threshold_delta": 1e-6}}"#,
    )
    .unwrap();
    let plan = Plan::new(
        &d,
        Some(ReleaseCostDef {
            rho: Some(0.5),
            epsilon: None,
        }),
    )
    .unwrap();
    let Groups::Threshold { tau, delta } = plan.groups else {
        panic!("{:?}", plan.groups)
    };
    assert_eq!(delta, 1e-6);
    assert_eq!(plan.cost.delta, 1e-6, "the selection's δ is charged");
    // σ² = 9: τ = max_rows + k with 3·P(Z ≥ k) ≤ 10⁻⁶.
    assert!(tau > 3 + 12 && tau < 3 + 20, "{tau}");
    let rows: Vec<Row> = tuple_rows().into_iter().filter(|r| plan.keeps(r)).collect();
    assert_eq!(
        rows.len(),
        1201,
        "`us` has no declared domain: the threshold decides"
    );
    let rare = GroupKey::Tuple(vec!["us".into(), "pop".into()]);
    for seed in 0..2000 {
        let got = plan.aggregate(&rows, &mut ChaChaSource::seeded(seed));
        assert!(
            got.iter().all(|g| g.group.as_ref() != Some(&rare)),
            "seed {seed}"
        );
        assert_eq!(
            got.len(),
            6,
            "every common tuple (200 rows) passes, seed {seed}"
        );
    }
    // Declared in the public domain instead, the same tuple is released (its presence
    // reveals nothing), with its noisy count.
    let declared: ReleaseDef = serde_json::from_str(
        r#"{"name": "t", "source": "s", "entity": "user", "query": "count", "max_rows": 3,
            "group_by": {"columns": ["country", "genre"], "domain": {"country": ["us"], "genre": ["pop"]}}}"#,
    )
    .unwrap();
    let plan = Plan::new(
        &declared,
        Some(ReleaseCostDef {
            rho: Some(0.5),
            epsilon: None,
        }),
    )
    .unwrap();
    let rows: Vec<Row> = tuple_rows().into_iter().filter(|r| plan.keeps(r)).collect();
    let got = plan.aggregate(&rows, &mut ChaChaSource::seeded(1));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].group, Some(rare));
}
