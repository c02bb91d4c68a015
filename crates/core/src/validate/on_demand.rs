//! On-demand views: a name no feature view has, and expressions that check and compile.

use std::collections::BTreeMap;

use crate::catalog::{Catalog, ON_DEMAND};
use crate::error::ValidationError;
use crate::on_demand::OnDemandViewDef;

use super::problem;

/// Checks and compiles the on-demand views into the catalog.
pub(crate) fn compile_on_demand(
    c: &mut Catalog,
    defs: BTreeMap<String, OnDemandViewDef>,
    errs: &mut Vec<ValidationError>,
) {
    for (name, def) in defs {
        let mut problems = Vec::new();
        if c.feature_views.contains_key(&name) {
            problems.push((
                "has the name of a feature view".to_string(),
                "names are unique across feature views and on-demand views; rename one".to_string(),
            ));
        }
        match crate::on_demand::check(&def, &c.feature_views) {
            Ok(v) if problems.is_empty() => {
                c.on_demand_views.insert(name.clone(), v);
            }
            Ok(_) => {}
            Err(p) => problems.extend(p),
        }
        for (message, hint) in problems {
            errs.push(problem(c, ON_DEMAND, &name, message, hint));
        }
    }
}
