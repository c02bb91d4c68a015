//! Entities: a valid name and distinct, non-empty join keys.

use std::collections::BTreeSet;

use crate::catalog::{Catalog, ENTITY};
use crate::error::ValidationError;

use super::names::check_name;
use super::problem;

pub(super) fn check_entities(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for e in c.entities().values() {
        check_name(&e.name, ENTITY, c, errs);
        if e.join_keys.is_empty() {
            errs.push(problem(
                c,
                ENTITY,
                &e.name,
                "has no join keys",
                "list the key columns, e.g. `join_keys: [user_id]`",
            ));
        }
        let uniq: BTreeSet<_> = e.join_keys.iter().collect();
        if uniq.len() != e.join_keys.len() {
            errs.push(problem(
                c,
                ENTITY,
                &e.name,
                "lists a join key twice",
                "remove the duplicate",
            ));
        }
        if e.join_keys.iter().any(|k| k.trim().is_empty()) {
            errs.push(problem(
                c,
                ENTITY,
                &e.name,
                "has an empty join key",
                "name each key column",
            ));
        }
    }
}
