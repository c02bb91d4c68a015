//! Differential privacy: purposes' budgets resolve, and releases name what exists, with a
//! consistent shape.

use crate::catalog::{Catalog, PURPOSE, RELEASE};
use crate::definitions::SourceType;
use crate::error::{known_hint, ValidationError};

use super::names::check_name;
use super::problem;

pub(super) fn check_dp_budgets(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for p in c.purposes().values() {
        if let Some(dp) = &p.dp {
            if let Err(e) = dp.budget.resolve() {
                errs.push(problem(
                    c,
                    PURPOSE,
                    &p.name,
                    format!("`dp.budget`: {e}"),
                    "e.g. `dp: { budget: { rho: 0.5, per: 30d } }` or `{ epsilon: 1.0, delta: 1e-6, per: 30d }`",
                ));
            }
        }
    }
}

pub(super) fn check_releases(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for r in c.releases().values() {
        check_name(&r.name, RELEASE, c, errs);
        for (message, hint) in r.check_shape() {
            errs.push(problem(c, RELEASE, &r.name, message, hint));
        }
        let sources = || c.sources().keys().map(String::as_str);
        let mut source_name = r.source.clone();
        if let Some(s) = &r.source {
            if !c.sources().contains_key(s) {
                errs.push(problem(
                    c,
                    RELEASE,
                    &r.name,
                    format!("unknown source `{s}`"),
                    format!("declare it under `sources:`{}", known_hint(s, sources())),
                ));
            }
            if r.entity.is_none() {
                errs.push(problem(
                    c,
                    RELEASE,
                    &r.name,
                    "reads a source but names no `entity`",
                    "add `entity: user` (whose contributions are bounded)",
                ));
            }
        }
        if let Some(v) = &r.view {
            match c.feature_views().get(v) {
                None => errs.push(problem(
                    c,
                    RELEASE,
                    &r.name,
                    format!("unknown feature view `{v}`"),
                    format!(
                        "fix the name{}",
                        known_hint(v, c.feature_views().keys().map(String::as_str))
                    ),
                )),
                Some(view) => {
                    source_name = Some(view.source.clone());
                    if r.entity.is_none() && view.entities.len() != 1 {
                        errs.push(problem(
                            c,
                            RELEASE,
                            &r.name,
                            format!("view `{v}` has several entities"),
                            "add `entity:` naming the one whose contributions are bounded",
                        ));
                    }
                }
            }
        }
        if let Some(s) = source_name.as_deref().and_then(|s| c.sources().get(s)) {
            if s.source_type == SourceType::Device {
                errs.push(problem(
                    c,
                    RELEASE,
                    &r.name,
                    format!(
                        "source `{}` is a device source, whose rows never leave the device",
                        s.name
                    ),
                    "release from a batch or stream source",
                ));
            }
        }
        if let Some(e) = &r.entity {
            if !c.entities().contains_key(e) {
                errs.push(problem(
                    c,
                    RELEASE,
                    &r.name,
                    format!("unknown entity `{e}`"),
                    format!(
                        "declare it under `entities:`{}",
                        known_hint(e, c.entities().keys().map(String::as_str))
                    ),
                ));
            }
        }
        if let Some(l) = &r.lookup {
            if !c.sources().contains_key(&l.source) {
                errs.push(problem(
                    c,
                    RELEASE,
                    &r.name,
                    format!("unknown lookup source `{}`", l.source),
                    format!("fix `lookup.source`{}", known_hint(&l.source, sources())),
                ));
            }
            if l.columns.is_empty() {
                errs.push(problem(
                    c,
                    RELEASE,
                    &r.name,
                    "`lookup.columns` is empty",
                    "list the public columns to join",
                ));
            }
        }
    }
}
