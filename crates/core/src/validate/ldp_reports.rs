//! Checks of `ldp_reports:`: parameters in range, a device feature of a scalar type, a
//! domain, a cap that allows at least one report.

use crate::catalog::{Catalog, LDP_REPORT};
use crate::definitions::SourceType;
use crate::error::ValidationError;
use crate::feature_ref::FeatureRef;
use crate::feature_type::FeatureType;
use crate::validate::problem;

pub(crate) fn check_ldp_reports(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for r in c.ldp_reports().values() {
        let mut bad = |m: String, h: &str| errs.push(problem(c, LDP_REPORT, &r.name, m, h));
        if let Err(e) = r.params() {
            bad(
                e.to_string(),
                "see docs/LOCAL_DP.md#choosing-ε-k-and-m (e.g. `mechanism: cms, epsilon: 4, k: 16, m: 1024`)",
            );
        }
        match r.epsilon_cap() {
            Err(e) => bad(
                format!("bad `cap`: {e}"),
                "write `cap: { epsilon: 8, per: 1d }`",
            ),
            Ok(cap) => {
                if cap.epsilon() + 1e-9 < r.epsilon {
                    bad(
                        format!(
                            "its cap (ε = {} per {}) is below the ε of one report ({}), so a device could never report",
                            cap.epsilon(), r.cap.per, r.epsilon
                        ),
                        "raise `cap.epsilon` to at least `epsilon` (a multiple of it: the reports allowed per period)",
                    );
                }
            }
        }
        match (r.domain.values.is_empty(), r.domain.open) {
            (true, false) => bad(
                "has no domain".into(),
                "list the candidates, `domain: { values: [pop, rock] }`, or declare `domain: { open: true }` and give candidates to `tessera ldp estimate --candidates`",
            ),
            (false, true) => bad(
                "declares both `domain.values` and `domain.open: true`".into(),
                "keep one: a candidate list, or an open domain",
            ),
            _ => {}
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in &r.domain.values {
            if !seen.insert(v) {
                bad(
                    format!("lists the domain value `{v}` twice"),
                    "list each value once",
                );
            }
        }
        let Ok(fref) = FeatureRef::parse(&r.feature) else {
            bad(
                format!("`feature: {}` is not `view:feature`", r.feature),
                "name a feature of a view over a `type: device` source, e.g. `device_taste:genre`",
            );
            continue;
        };
        let resolved = match c.feature(&fref) {
            Ok(f) => f,
            Err(e) => {
                bad(
                    format!("`feature: {}`: {e}", r.feature),
                    "name a feature of a view over a `type: device` source",
                );
                continue;
            }
        };
        let on_device = c
            .source_of(resolved.view)
            .is_ok_and(|s| s.source_type == SourceType::Device);
        if !on_device {
            bad(
                format!(
                    "`feature: {}` is not computed on the device (its view `{}` is not over a `type: device` source)",
                    r.feature, resolved.view.name
                ),
                "local-DP reports are made by the device from its own store: name a feature of a view over a `type: device` source",
            );
        }
        if !matches!(
            resolved.feature.dtype,
            FeatureType::String | FeatureType::Int64 | FeatureType::Int32 | FeatureType::Bool
        ) {
            bad(
                format!(
                    "`feature: {}` has type {}, which is not a categorical value",
                    r.feature, resolved.feature.dtype
                ),
                "report a string, integer or bool feature (a category), e.g. a genre",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Catalog, Definitions};

    const BASE: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - { name: listening, type: device, timestamp_field: ts, device: { schema: { user_id: int64, genre: string, dwell: float64 } } }
  - { name: daily, type: batch, path: d.csv, timestamp_field: ts }
feature_views:
  - name: taste
    entities: [user]
    source: listening
    features:
      - { name: genre, type: string, classification: personal, placement: device_only }
      - { name: dwell, type: float64, classification: personal, placement: device_only }
  - name: cloud
    entities: [user]
    source: daily
    features: [{ name: genre, type: string, classification: personal }]
"#;

    fn build(reports: &str) -> Result<Catalog, String> {
        let text = format!("{BASE}ldp_reports:\n{reports}");
        let defs =
            Definitions::from_yaml_str(&text, "f.yaml".as_ref()).map_err(|e| e.to_string())?;
        Catalog::build(vec![defs]).map_err(|e| e.to_string())
    }

    #[test]
    fn a_good_report_registers() {
        let c = build("  - { name: g, feature: taste:genre, domain: { values: [a, b] }, mechanism: cms, epsilon: 4, k: 16, m: 1024, cap: { epsilon: 8, per: 1d } }\n").unwrap();
        let r = c.ldp_report("g").unwrap();
        assert_eq!(r.params().unwrap().m(), 1024);
        assert_eq!(r.epsilon_cap().unwrap().per_seconds(), 86_400);
        assert!(c.ldp_report("h").is_err());
        assert_eq!(c.definitions().ldp_reports.len(), 1);
    }

    #[test]
    fn consumers_name_the_reports_they_may_send() {
        let report = "  - { name: g, feature: taste:genre, domain: { values: [a, b] }, mechanism: cms, epsilon: 4, k: 16, m: 1024, cap: { epsilon: 8, per: 1d } }\n";
        let with = |consumer: &str| {
            let text = format!("{BASE}ldp_reports:\n{report}consumers:\n{consumer}");
            let defs = Definitions::from_yaml_str(&text, "f.yaml".as_ref()).unwrap();
            Catalog::build(vec![defs]).map_err(|e| e.to_string())
        };
        let c = with("  - { name: app, token_env: T, purposes: [], ldp_reports: [g] }\n").unwrap();
        assert_eq!(c.consumers()["app"].ldp_reports, ["g"]);
        let c = with("  - { name: app, token_env: T, purposes: [] }\n").unwrap();
        assert!(
            c.consumers()["app"].ldp_reports.is_empty(),
            "none by default"
        );
        let e = with("  - { name: app, token_env: T, purposes: [], ldp_reports: [h, g, g] }\n")
            .unwrap_err();
        assert!(
            e.contains("consumer `app`: `ldp_reports:` names `h`, which is not an `ldp_reports:` definition"),
            "{e}"
        );
        assert!(e.contains("names `g` twice"), "{e}");
    }

    #[test]
    fn every_problem_is_named_with_a_fix() {
        let e = build(concat!(
            "  - { name: a, feature: taste:genre, domain: { values: [x] }, mechanism: hcms, epsilon: 4, k: 16, m: 1000, cap: { epsilon: 8, per: 1d } }\n",
            "  - { name: b, feature: cloud:genre, domain: { values: [x, x] }, mechanism: cms, epsilon: 4, k: 16, m: 64, cap: { epsilon: 2, per: 1d } }\n",
            "  - { name: c, feature: taste:dwell, domain: {}, mechanism: laplace, epsilon: 0, k: 16, m: 64, cap: { epsilon: 8, per: 1 day } }\n",
            "  - { name: d, feature: taste:nope, domain: { open: true, values: [x] }, mechanism: cms, epsilon: 1, k: 1, m: 64, cap: { epsilon: 1, per: 1h } }\n",
        ))
        .unwrap_err();
        for expected in [
            "ldp_report `a`: invalid local-DP parameter `m`: 1000 is not a power of two",
            "use 1024",
            "ldp_report `b`",
            "is not computed on the device",
            "lists the domain value `x` twice",
            "is below the ε of one report",
            "ldp_report `c`",
            "`laplace` is not a mechanism",
            "bad `cap`",
            "has no domain",
            "has type float64, which is not a categorical value",
            "ldp_report `d`",
            "declares both `domain.values` and `domain.open: true`",
            "unknown feature",
        ] {
            assert!(e.contains(expected), "missing `{expected}` in:\n{e}");
        }
    }
}
