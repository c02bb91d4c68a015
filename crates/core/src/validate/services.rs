//! Feature services: a purpose that exists, features that resolve, and a purpose that
//! allows every feature's classification.

use crate::catalog::{Catalog, SERVICE};
use crate::definitions::{FeatureDef, FeatureServiceDef, PurposeDef};
use crate::error::{known_hint, ValidationError};
use crate::feature_ref::FeatureRef;

use super::names::check_name;
use super::problem;

pub(super) fn check_services(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for s in c.feature_services().values() {
        check_name(&s.name, SERVICE, c, errs);
        let purpose = c.purposes().get(&s.purpose);
        if purpose.is_none() {
            errs.push(problem(
                c,
                SERVICE,
                &s.name,
                format!("unknown purpose `{}`", s.purpose),
                format!(
                    "declare it under `purposes:`{}",
                    known_hint(&s.purpose, c.purposes().keys().map(String::as_str))
                ),
            ));
        }
        if s.features.is_empty() {
            errs.push(problem(
                c,
                SERVICE,
                &s.name,
                "has no features",
                "list `view:feature` references",
            ));
        }
        for r in &s.features {
            check_reference(c, s, r, purpose, errs);
        }
    }
}

/// One `view:feature` (or `view:*`) of a service: it resolves, and the purpose allows it.
fn check_reference(
    c: &Catalog,
    s: &FeatureServiceDef,
    r: &FeatureRef,
    purpose: Option<&PurposeDef>,
    errs: &mut Vec<ValidationError>,
) {
    let Some(view) = c.feature_views().get(&r.view) else {
        errs.push(problem(
            c,
            SERVICE,
            &s.name,
            format!("unknown feature view `{}` in `{r}`", r.view),
            format!(
                "fix the reference{}",
                known_hint(&r.view, c.feature_views().keys().map(String::as_str))
            ),
        ));
        return;
    };
    let feats: Vec<&FeatureDef> = if r.feature == "*" {
        view.features.iter().collect()
    } else {
        match view.feature(&r.feature) {
            Some(f) => vec![f],
            None => {
                errs.push(problem(
                    c,
                    SERVICE,
                    &s.name,
                    format!("unknown feature `{r}`"),
                    format!(
                        "fix the reference{}",
                        known_hint(&r.feature, view.features.iter().map(|f| f.name.as_str()))
                    ),
                ));
                return;
            }
        }
    };
    let Some(p) = purpose else {
        return;
    };
    for f in feats {
        let minimised = p
            .minimise
            .contains_key(&format!("{}:{}", view.name, f.name));
        if !p.allows.contains(&f.classification) && !minimised {
            errs.push(problem(
                c,
                SERVICE,
                &s.name,
                format!(
                    "its purpose `{}` does not allow `{}:{}`, which is classified `{}`",
                    p.name, view.name, f.name, f.classification
                ),
                format!(
                    "drop the feature, reclassify it, add `{}` to purpose `{}`'s `allows`, or give the purpose a `minimise` entry for it",
                    f.classification, p.name
                ),
            ));
        }
    }
}
