//! Validation of a [`Catalog`], one check per kind of object. Every check reports all of
//! its problems (file, object, what is wrong, a hint) and never stops at the first.
//!
//! To add a check, write `fn(&Catalog, &mut Vec<ValidationError>)` in the file of the kind
//! it checks (or a new file named for what it checks) and list it in [`CHECKS`].

mod aggregations;
mod consumers;
mod entities;
mod ldp_reports;
mod min_contributors;
mod minimise;
mod names;
mod on_demand;
mod releases;
mod retention;
mod services;
mod sources;
mod token_envs;
mod views;

use crate::catalog::Catalog;
use crate::error::ValidationError;

pub(crate) use aggregations::derive_aggregation_features;
pub(crate) use on_demand::compile_on_demand;

/// A check over the whole catalog: pushes one [`ValidationError`] per problem found.
type Check = fn(&Catalog, &mut Vec<ValidationError>);

/// Every check, in the order their problems are reported.
const CHECKS: &[Check] = &[
    entities::check_entities,
    sources::check_sources,
    views::check_views,
    names::check_purposes,
    consumers::check_consumers,
    token_envs::check_shared_token_envs,
    services::check_services,
    minimise::check_minimise,
    retention::check_retention,
    ldp_reports::check_ldp_reports,
    releases::check_dp_budgets,
    releases::check_releases,
];

/// Runs every check.
pub(crate) fn validate(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for check in CHECKS {
        check(c, errs);
    }
}

/// One problem of the object `kind` `name`, located at the file that declares it.
pub(crate) fn problem(
    c: &Catalog,
    kind: &'static str,
    name: &str,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> ValidationError {
    ValidationError {
        file: c.origin(kind, name).to_path_buf(),
        object: format!("{kind} `{name}`"),
        message: message.into(),
        hint: hint.into(),
    }
}
