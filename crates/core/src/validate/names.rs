//! Names: what a valid name is, per kind; and the purposes, whose only rule is their name.

use crate::catalog::{Catalog, ENTITY, PURPOSE, VIEW};
use crate::error::ValidationError;

use super::problem;

/// Letters, digits and `_`, starting with a letter or `_`.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reports `name` if it is not a valid name for its kind.
pub(super) fn check_name(
    name: &str,
    kind: &'static str,
    c: &Catalog,
    errs: &mut Vec<ValidationError>,
) {
    let ok = match kind {
        // Views and entities appear in `view:feature` and in `view__feature` columns.
        VIEW | ENTITY => is_identifier(name) && !name.contains("__"),
        _ => {
            !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
        }
    };
    if !ok {
        errs.push(problem(
            c,
            kind,
            name,
            "is not a valid name",
            "use letters, digits and `_` (views and entities: start with a letter, no `__`)",
        ));
    }
}

/// Purposes: a valid name (what they allow is typed, so it cannot be wrong).
pub(super) fn check_purposes(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for p in c.purposes().values() {
        check_name(&p.name, PURPOSE, c, errs);
    }
}
