//! Feature views: entities and source that exist, features with distinct identifier names
//! that read neither a join key nor a timestamp, and the rules of content views.

use std::collections::BTreeSet;

use crate::catalog::{Catalog, VIEW};
use crate::definitions::{FeatureViewDef, SourceDef, ViewProvider};
use crate::error::{known_hint, ValidationError};

use super::names::{check_name, is_identifier};
use super::problem;

pub(super) fn check_views(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for v in c.feature_views().values() {
        check_name(&v.name, VIEW, c, errs);
        check_content_view(c, v, errs);
        let keys = check_entities_of(c, v, errs);
        let source = c.sources().get(&v.source);
        if source.is_none() {
            errs.push(problem(
                c,
                VIEW,
                &v.name,
                format!("unknown source `{}`", v.source),
                format!(
                    "declare it under `sources:` or fix the name{}",
                    known_hint(&v.source, c.sources().keys().map(String::as_str))
                ),
            ));
        }
        if v.features.is_empty() && v.aggregations.is_empty() {
            errs.push(problem(
                c,
                VIEW,
                &v.name,
                "has no features",
                "list at least one feature under `features:`",
            ));
        }
        check_features(c, v, &keys, source, errs);
    }
}

/// A `provider: content` view must be a plain online view over a batch source.
fn check_content_view(c: &Catalog, v: &FeatureViewDef, errs: &mut Vec<ValidationError>) {
    if v.provider != ViewProvider::Content {
        return;
    }
    let stream = c
        .sources()
        .get(&v.source)
        .is_some_and(|s| s.stream.is_some());
    if stream || !v.aggregations.is_empty() || !v.online {
        errs.push(problem(
            c,
            VIEW,
            &v.name,
            "has `provider: content` but is not a plain online view over a batch source",
            "content views hold features (not aggregations) of a `type: batch` source and are online; drop `provider: content` or change the view",
        ));
    }
}

/// Checks the view's entities; returns the join keys of those that exist.
fn check_entities_of(
    c: &Catalog,
    v: &FeatureViewDef,
    errs: &mut Vec<ValidationError>,
) -> BTreeSet<String> {
    if v.entities.is_empty() {
        errs.push(problem(
            c,
            VIEW,
            &v.name,
            "has no entities",
            "list the entities it describes, e.g. `entities: [user]`",
        ));
    }
    let mut keys = BTreeSet::new();
    for e in &v.entities {
        match c.entities().get(e) {
            None => errs.push(problem(
                c,
                VIEW,
                &v.name,
                format!("unknown entity `{e}`"),
                format!(
                    "declare it under `entities:` or fix the name{}",
                    known_hint(e, c.entities().keys().map(String::as_str))
                ),
            )),
            Some(ent) => keys.extend(ent.join_keys.iter().cloned()),
        }
    }
    keys
}

/// Distinct identifier names; projected features read neither a join key nor a timestamp.
fn check_features(
    c: &Catalog,
    v: &FeatureViewDef,
    keys: &BTreeSet<String>,
    source: Option<&SourceDef>,
    errs: &mut Vec<ValidationError>,
) {
    let mut names = BTreeSet::new();
    for f in &v.features {
        if !names.insert(f.name.as_str()) {
            errs.push(problem(
                c,
                VIEW,
                &v.name,
                format!("declares feature `{}` twice", f.name),
                "rename or remove one",
            ));
        }
        if !is_identifier(&f.name) {
            errs.push(problem(
                c,
                VIEW,
                &v.name,
                format!("feature name `{}` is not an identifier", f.name),
                "use letters, digits and `_`, starting with a letter or `_`",
            ));
        }
        if f.derived.is_some() {
            continue; // aggregations may read any column; checked where derived
        }
        let column = f.source_column();
        if keys.contains(column) {
            errs.push(problem(
                c,
                VIEW,
                &v.name,
                format!("feature `{}` reads the join key column `{column}`", f.name),
                "join keys are not features; remove it or read another column",
            ));
        }
        let reads_time = source.is_some_and(|s| {
            column == s.timestamp_field || s.created_timestamp_field.as_deref() == Some(column)
        });
        if reads_time {
            errs.push(problem(
                c,
                VIEW,
                &v.name,
                format!("feature `{}` reads the timestamp column `{column}`", f.name),
                "timestamps are not features; set `column:` to another column",
            ));
        }
    }
}
