//! Consumers: a token variable, purposes that exist (the default among them), `writes:`
//! that name feature views or sources, and `ldp_reports:` that name local-DP reports.

use crate::catalog::{Catalog, CONSUMER};
use crate::definitions::ConsumerDef;
use crate::error::{known_hint, ValidationError};

use super::names::check_name;
use super::problem;

pub(super) fn check_consumers(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for consumer in c.consumers().values() {
        check_name(&consumer.name, CONSUMER, c, errs);
        if consumer.token_env.trim().is_empty() {
            errs.push(problem(
                c,
                CONSUMER,
                &consumer.name,
                "has an empty `token_env`",
                "name the environment variable that holds its bearer token",
            ));
        }
        check_purposes_of(c, consumer, errs);
        check_writes(c, consumer, errs);
        check_ldp_reports(c, consumer, errs);
    }
}

fn check_purposes_of(c: &Catalog, consumer: &ConsumerDef, errs: &mut Vec<ValidationError>) {
    for p in &consumer.purposes {
        if !c.purposes().contains_key(p) {
            errs.push(problem(
                c,
                CONSUMER,
                &consumer.name,
                format!("unknown purpose `{p}`"),
                format!(
                    "declare it under `purposes:`{}",
                    known_hint(p, c.purposes().keys().map(String::as_str))
                ),
            ));
        }
    }
    if let Some(d) = &consumer.default_purpose {
        if !consumer.purposes.contains(d) {
            errs.push(problem(
                c,
                CONSUMER,
                &consumer.name,
                format!("default purpose `{d}` is not one of its purposes"),
                "add it to `purposes:` or change `default_purpose`",
            ));
        }
    }
}

fn check_writes(c: &Catalog, consumer: &ConsumerDef, errs: &mut Vec<ValidationError>) {
    for w in &consumer.writes {
        if !c.feature_views().contains_key(w) && !c.sources().contains_key(w) {
            let known = c.feature_views().keys().chain(c.sources().keys());
            errs.push(problem(
                c,
                CONSUMER,
                &consumer.name,
                format!("`writes:` names `{w}`, which is neither a feature view nor a source"),
                format!(
                    "list the feature views and sources it may push to{}",
                    known_hint(w, known.map(String::as_str))
                ),
            ));
        }
    }
}

fn check_ldp_reports(c: &Catalog, consumer: &ConsumerDef, errs: &mut Vec<ValidationError>) {
    let mut seen = std::collections::BTreeSet::new();
    for r in &consumer.ldp_reports {
        if !c.ldp_reports().contains_key(r) {
            errs.push(problem(
                c,
                CONSUMER,
                &consumer.name,
                format!("`ldp_reports:` names `{r}`, which is not an `ldp_reports:` definition"),
                format!(
                    "list the local-DP reports it may send{}",
                    known_hint(r, c.ldp_reports().keys().map(String::as_str))
                ),
            ));
        } else if !seen.insert(r) {
            errs.push(problem(
                c,
                CONSUMER,
                &consumer.name,
                format!("`ldp_reports:` names `{r}` twice"),
                "name each report once",
            ));
        }
    }
}
