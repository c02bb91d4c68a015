//! Differential privacy: purposes' budgets resolve, and releases name what exists, with a
//! consistent shape.

use crate::catalog::{Catalog, PURPOSE, RELEASE};
use crate::definitions::SourceType;
use crate::dp_def::ReleaseDef;
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
        for (message, hint) in r.problems_in(c) {
            errs.push(problem(c, RELEASE, &r.name, message, hint));
        }
    }
}

impl ReleaseDef {
    /// Every problem of the release in catalog `c`: its shape ([`ReleaseDef::check_shape`])
    /// and the names it uses. What `plan` reports for a declared release, and what refuses an
    /// ad-hoc one before it runs; (message, hint) pairs.
    pub fn problems_in(&self, c: &Catalog) -> Vec<(String, String)> {
        let r = self;
        let mut out = r.check_shape();
        let mut push = |m: String, h: String| out.push((m, h));
        let sources = || c.sources().keys().map(String::as_str);
        let mut source_name = r.source.clone();
        if let Some(s) = &r.source {
            if !c.sources().contains_key(s) {
                push(
                    format!("unknown source `{s}`"),
                    format!("declare it under `sources:`{}", known_hint(s, sources())),
                );
            }
            if r.entity.is_none() {
                push(
                    "reads a source but names no `entity`".into(),
                    "add `entity: user` (whose contributions are bounded)".into(),
                );
            }
        }
        if let Some(v) = &r.view {
            match c.feature_views().get(v) {
                None => push(
                    format!("unknown feature view `{v}`"),
                    format!(
                        "fix the name{}",
                        known_hint(v, c.feature_views().keys().map(String::as_str))
                    ),
                ),
                Some(view) => {
                    source_name = Some(view.source.clone());
                    if r.entity.is_none() && view.entities.len() != 1 {
                        push(
                            format!("view `{v}` has several entities"),
                            "add `entity:` naming the one whose contributions are bounded".into(),
                        );
                    }
                }
            }
        }
        if let Some(s) = source_name.as_deref().and_then(|s| c.sources().get(s)) {
            if s.source_type == SourceType::Device {
                push(
                    format!(
                        "source `{}` is a device source, whose rows never leave the device",
                        s.name
                    ),
                    "release from a batch or stream source".into(),
                );
            }
        }
        if let Some(e) = &r.entity {
            if !c.entities().contains_key(e) {
                push(
                    format!("unknown entity `{e}`"),
                    format!(
                        "declare it under `entities:`{}",
                        known_hint(e, c.entities().keys().map(String::as_str))
                    ),
                );
            }
        }
        if let Some(l) = &r.lookup {
            if !c.sources().contains_key(&l.source) {
                push(
                    format!("unknown lookup source `{}`", l.source),
                    format!("fix `lookup.source`{}", known_hint(&l.source, sources())),
                );
            }
            if l.columns.is_empty() {
                push(
                    "`lookup.columns` is empty".into(),
                    "list the public columns to join".into(),
                );
            }
        }
        out
    }
}
