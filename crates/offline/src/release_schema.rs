//! Checks that declared releases (`releases:`) read columns their sources have: the
//! entity's join keys, the measure, the group columns, the filter's columns and the lookup's
//! columns, so that `plan` reports a misspelt column instead of the first release failing.

use std::path::Path;

use arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;
use tessera_core::{Catalog, ReleaseDef, ValidationError};

use crate::source_scan::{arrow_schema, open_source};

/// The schema of source `name`, or `None` when it cannot be read (the views' checks, or the
/// first run, report that).
async fn schema_of(
    ctx: &SessionContext,
    root: &Path,
    catalog: &Catalog,
    name: &str,
) -> Option<SchemaRef> {
    let source = catalog.sources().get(name)?;
    if source.source_type == tessera_core::SourceType::Device {
        return None;
    }
    open_source(ctx, root, source)
        .await
        .ok()
        .map(|(df, _)| arrow_schema(&df))
}

fn names(schema: &SchemaRef) -> Vec<&str> {
    let mut n: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    n.sort_unstable();
    n
}

/// One problem per column a release reads that its source (or lookup source) lacks.
pub(crate) async fn check_release_columns(
    ctx: &SessionContext,
    root: &Path,
    catalog: &Catalog,
) -> Vec<ValidationError> {
    let mut errs = Vec::new();
    for r in catalog.releases().values() {
        errs.extend(check_one(ctx, root, catalog, r).await);
    }
    errs
}

async fn check_one(
    ctx: &SessionContext,
    root: &Path,
    catalog: &Catalog,
    r: &ReleaseDef,
) -> Vec<ValidationError> {
    let mut errs = Vec::new();
    let source = match (&r.source, &r.view) {
        (Some(s), _) => s.clone(),
        (None, Some(v)) => match catalog.feature_views().get(v) {
            Some(view) => view.source.clone(),
            None => return errs,
        },
        _ => return errs,
    };
    let entity = r.entity.clone().or_else(|| {
        r.view
            .as_ref()
            .and_then(|v| catalog.feature_views().get(v))
            .filter(|v| v.entities.len() == 1)
            .map(|v| v.entities[0].clone())
    });
    let Some(schema) = schema_of(ctx, root, catalog, &source).await else {
        return errs;
    };
    let mut push = |message: String, hint: String| {
        errs.push(ValidationError {
            file: catalog.origin("release", &r.name).to_path_buf(),
            object: format!("release `{}`", r.name),
            message,
            hint,
        })
    };
    let lookup_cols: Vec<&str> = r
        .lookup
        .as_ref()
        .map(|l| l.columns.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let mut wanted: Vec<(String, &str)> = Vec::new();
    if let Some(keys) = entity
        .as_ref()
        .and_then(|e| catalog.entities().get(e))
        .map(|e| e.join_keys.clone())
    {
        wanted.extend(keys.into_iter().map(|k| (k, "the entity's join key")));
    }
    if let Some(m) = &r.measure {
        wanted.push((m.column.clone(), "the measure"));
    }
    if let Some(g) = &r.group_by {
        wanted.extend(g.columns().iter().map(|c| (c.clone(), "a group column")));
    }
    if let Some(f) = r
        .filter
        .as_deref()
        .and_then(|f| tessera_core::aggregate::FilterExpr::parse(f).ok())
    {
        wanted.extend(
            f.columns()
                .into_iter()
                .map(|c| (c.to_string(), "the filter's column")),
        );
    }
    if let Some(l) = &r.lookup {
        wanted.push((l.on.clone(), "the lookup's `on` column"));
    }
    let have = names(&schema);
    let mut seen = std::collections::BTreeSet::new();
    for (c, what) in wanted {
        if !seen.insert(c.clone()) || lookup_cols.contains(&c.as_str()) {
            continue;
        }
        if !have.contains(&c.as_str()) {
            let from_lookup = if r.lookup.is_some() {
                " (or list it under `lookup.columns`)"
            } else {
                ""
            };
            push(
                format!("{what} `{c}` is not a column of source `{source}`"),
                format!(
                    "fix the name{}{from_lookup}; the source's columns are: {}",
                    tessera_core::did_you_mean(&c, have.iter().copied())
                        .map_or(String::new(), |m| format!(" (did you mean `{m}`?)")),
                    have.join(", ")
                ),
            );
        }
    }
    if let Some(l) = &r.lookup {
        if let Some(ls) = schema_of(ctx, root, catalog, &l.source).await {
            let lhave = names(&ls);
            for c in std::iter::once(&l.on).chain(&l.columns) {
                if !lhave.contains(&c.as_str()) {
                    push(
                        format!("lookup source `{}` has no column `{c}`", l.source),
                        format!(
                            "fix the name{}; its columns are: {}",
                            tessera_core::did_you_mean(c, lhave.iter().copied())
                                .map_or(String::new(), |m| format!(" (did you mean `{m}`?)")),
                            lhave.join(", ")
                        ),
                    );
                }
            }
        }
    }
    errs
}
