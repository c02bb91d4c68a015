//! Checks that sources hold what their feature views declare.

use std::path::Path;

use arrow::datatypes::Schema;
use datafusion::prelude::SessionContext;
use tessera_core::{Catalog, FeatureViewDef, ValidationError, ValidationErrors};

use crate::entity_keys::key_type;
use crate::source_scan::{arrow_schema, open_source};
use crate::timestamps::{is_created_type, unit_of};

/// Checks one view against its source's schema; returns every problem found.
pub fn check_view_schema(
    catalog: &Catalog,
    view: &FeatureViewDef,
    schema: &Schema,
) -> Vec<ValidationError> {
    let mut errs = Vec::new();
    let file = catalog.view_origin(&view.name).to_path_buf();
    let Ok(source) = catalog.source_of(view) else {
        return errs;
    };
    let columns = || {
        let mut names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        names.sort_unstable();
        names.join(", ")
    };
    let mut push = |message: String, hint: String| {
        errs.push(ValidationError {
            file: file.clone(),
            object: format!("feature_view `{}`", view.name),
            message,
            hint,
        })
    };
    let mut check_time = |col: &str, what: &str| match schema.field_with_name(col) {
        Err(_) => push(
            format!("source `{}` has no {what} column `{col}`", source.name),
            format!(
                "set the source's field to one of its columns: {}",
                columns()
            ),
        ),
        Ok(f) if unit_of(f.data_type()).is_none() => push(
            format!(
                "{what} column `{col}` of source `{}` has type {}, not a timestamp",
                source.name,
                f.data_type()
            ),
            "store it as a timestamp, a date or an ISO-8601 string".to_string(),
        ),
        Ok(_) => {}
    };
    check_time(&source.timestamp_field, "timestamp");
    if let Some(c) = &source.created_timestamp_field {
        match schema.field_with_name(c) {
            Ok(f) if is_created_type(f.data_type()) => {}
            _ => check_time(c, "created timestamp"),
        }
    }
    for key in catalog.join_keys(view) {
        match schema.field_with_name(&key) {
            Err(_) => push(
                format!("source `{}` has no join key column `{key}`", source.name),
                format!(
                    "the source must hold the entity's join keys; its columns are: {}",
                    columns()
                ),
            ),
            Ok(f) if key_type(f.data_type()).is_none() => push(
                format!(
                    "join key `{key}` has type {}, which cannot be a key",
                    f.data_type()
                ),
                "use integer or string keys".to_string(),
            ),
            Ok(_) => {}
        }
    }
    for feat in &view.features {
        let col = feat.source_column();
        match schema.field_with_name(col) {
            Err(_) => push(
                format!(
                    "feature `{}`: source `{}` has no column `{col}`",
                    feat.name, source.name
                ),
                format!(
                    "fix the name or set `column:`; the source's columns are: {}",
                    columns()
                ),
            ),
            Ok(f) if !feat.dtype.accepts(f.data_type()) => push(
                format!(
                    "feature `{}` is declared {} but column `{col}` holds {}",
                    feat.name,
                    feat.dtype,
                    f.data_type()
                ),
                "declare the type the data has, or convert the data".to_string(),
            ),
            Ok(_) => {}
        }
    }
    errs
}

/// Opens the source of each given view and checks its schema.
pub async fn check_views(
    ctx: &SessionContext,
    root: &Path,
    catalog: &Catalog,
    views: &[&FeatureViewDef],
) -> Result<(), ValidationErrors> {
    let mut errs = Vec::new();
    for view in views {
        let Ok(source) = catalog.source_of(view) else {
            continue;
        };
        match open_source(ctx, root, source).await {
            Ok((df, _)) => errs.extend(check_view_schema(catalog, view, &arrow_schema(&df))),
            Err(e) => errs.push(ValidationError {
                file: catalog.source_origin(&source.name).to_path_buf(),
                object: format!("source `{}`", source.name),
                message: format!("cannot read `{}`: {e}", source.path),
                hint: "check the path (relative to the repository) and that the file is Parquet or CSV with a header".to_string(),
            }),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errs))
    }
}

/// Checks every feature view in the catalog against its source.
pub async fn check_sources(
    ctx: &SessionContext,
    root: &Path,
    catalog: &Catalog,
) -> Result<(), ValidationErrors> {
    let views: Vec<&FeatureViewDef> = catalog.feature_views.values().collect();
    check_views(ctx, root, catalog, &views).await
}
