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
            Err(e) => bad(format!("bad `cap`: {e}"), "write `cap: { epsilon: 8, per: 1d }`"),
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
                bad(format!("lists the domain value `{v}` twice"), "list each value once");
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
