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
    if !view.aggregations.is_empty() {
        check_aggregation_columns(catalog, view, schema, &mut push, &columns);
    }
    for feat in view.features.iter().filter(|f| f.derived.is_none()) {
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

/// Aggregation views: every column they read exists with an aggregatable type, the
/// declared `column_type` matches the data, and filters type-check.
fn check_aggregation_columns(
    catalog: &Catalog,
    view: &FeatureViewDef,
    schema: &Schema,
    push: &mut impl FnMut(String, String),
    columns: &impl Fn() -> String,
) {
    let mut types = std::collections::BTreeMap::new();
    for col in catalog.aggregation_columns(view) {
        match schema.field_with_name(&col) {
            Err(_) => push(
                format!("an aggregation reads column `{col}`, which the source does not have"),
                format!(
                    "fix the column name{}; the source's columns are: {}",
                    tessera_core::did_you_mean(
                        &col,
                        schema.fields().iter().map(|f| f.name().as_str())
                    )
                    .map_or(String::new(), |c| format!(" (did you mean `{c}`?)")),
                    columns()
                ),
            ),
            Ok(f) => match feature_type_of(f.data_type())
                .as_ref()
                .and_then(tessera_core::input_type)
            {
                Some(t) => {
                    types.insert(col, t);
                }
                None => push(
                    format!("an aggregation reads column `{col}` of type {}, which cannot be aggregated", f.data_type()),
                    "aggregate scalar columns (integers, floats, bools, strings, timestamps)".into(),
                ),
            },
        }
    }
    for agg in &view.aggregations {
        if let (Some(c), Some(declared)) = (&agg.column, &agg.column_type) {
            if let Ok(f) = schema.field_with_name(c) {
                if !declared.accepts(f.data_type()) {
                    push(
                        format!(
                            "aggregation column `{c}` is declared {declared} but holds {}",
                            f.data_type()
                        ),
                        "remove `column_type:` (it is read from the source) or fix it".into(),
                    );
                }
            }
        }
    }
    match catalog.view_spec(view) {
        Ok(Some(spec)) => {
            if let Err(e) = spec.check(&types) {
                push(e.to_string(), "fix the filter or the column".into());
            }
        }
        Ok(None) => {}
        Err(e) => push(e.to_string(), "fix the aggregation".into()),
    }
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
        if source.source_type == tessera_core::SourceType::Device {
            continue; // no files: typed by its declared schema (checked by the catalog)
        }
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

/// Checks every feature view in the catalog against its source, and the columns every
/// declared release reads.
pub async fn check_sources(
    ctx: &SessionContext,
    root: &Path,
    catalog: &Catalog,
) -> Result<(), ValidationErrors> {
    let views: Vec<&FeatureViewDef> = catalog.feature_views().values().collect();
    let mut errs = match check_views(ctx, root, catalog, &views).await {
        Ok(()) => Vec::new(),
        Err(ValidationErrors(e)) => e,
    };
    errs.extend(crate::release_schema::check_release_columns(ctx, root, catalog).await);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errs))
    }
}

/// The feature type an Arrow column holds (`None` for types Tessera does not read).
pub fn feature_type_of(dt: &arrow::datatypes::DataType) -> Option<tessera_core::FeatureType> {
    use arrow::datatypes::DataType as D;
    use tessera_core::FeatureType as F;
    Some(match dt {
        D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16 => F::Int32,
        D::Int64 | D::UInt32 => F::Int64,
        D::Float16 | D::Float32 => F::Float32,
        D::Float64 => F::Float64,
        D::Boolean => F::Bool,
        D::Utf8 | D::LargeUtf8 | D::Utf8View => F::String,
        D::Binary | D::LargeBinary | D::BinaryView => F::Bytes,
        D::Timestamp(_, _) | D::Date32 | D::Date64 => F::Timestamp,
        D::List(f) | D::LargeList(f) => F::List(Box::new(feature_type_of(f.data_type())?)),
        _ => return None,
    })
}

/// Fills in `column_type` of aggregations over batch sources from the sources' schemas, so
/// that the catalog can type the derived features. Sources that cannot be read are left
/// alone (validation then reports the problem). Returns one problem per column that an
/// aggregation or its filter reads and a readable source lacks, naming the source's columns.
pub async fn fill_aggregation_types(
    ctx: &SessionContext,
    root: &Path,
    files: &mut [(std::path::PathBuf, tessera_core::Definitions)],
) -> Vec<ValidationError> {
    let mut missing = Vec::new();
    let sources: std::collections::BTreeMap<String, tessera_core::SourceDef> = files
        .iter()
        .flat_map(|(_, d)| d.sources.iter().map(|s| (s.name.clone(), s.clone())))
        .collect();
    let mut schemas: std::collections::BTreeMap<String, Option<arrow::datatypes::SchemaRef>> =
        std::collections::BTreeMap::new();
    for (file, defs) in files.iter_mut() {
        for view in &mut defs.feature_views {
            if view
                .aggregations
                .iter()
                .all(|a| a.column.is_none() || a.column_type.is_some())
            {
                continue;
            }
            let Some(source) = sources.get(&view.source) else {
                continue;
            };
            if source.stream.is_some() || source.source_type == tessera_core::SourceType::Device {
                continue; // typed by its declared schema
            }
            if !schemas.contains_key(&source.name) {
                let schema = open_source(ctx, root, source)
                    .await
                    .ok()
                    .map(|(df, _)| arrow_schema(&df));
                schemas.insert(source.name.clone(), schema);
            }
            let Some(Some(schema)) = schemas.get(&source.name) else {
                continue;
            };
            missing.extend(missing_columns(file, view, source, schema));
            for agg in &mut view.aggregations {
                if agg.column_type.is_some() {
                    continue;
                }
                if let Some(c) = &agg.column {
                    agg.column_type = schema
                        .field_with_name(c)
                        .ok()
                        .and_then(|f| feature_type_of(f.data_type()));
                }
            }
        }
    }
    missing
}

/// The columns an aggregation view reads (aggregated and filter columns) that `schema`, its
/// batch source's, lacks: one problem each, with a suggestion and the real columns.
fn missing_columns(
    file: &Path,
    view: &FeatureViewDef,
    source: &tessera_core::SourceDef,
    schema: &Schema,
) -> Vec<ValidationError> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    let mut read: Vec<String> = Vec::new();
    for agg in &view.aggregations {
        read.extend(agg.column.clone());
        let filter = agg
            .filter
            .as_deref()
            .and_then(|f| tessera_core::aggregate::FilterExpr::parse(f).ok());
        if let Some(f) = filter {
            read.extend(f.columns().into_iter().map(str::to_string));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    read.retain(|c| seen.insert(c.clone()));
    read.into_iter()
        .filter(|c| !names.contains(&c.as_str()))
        .map(|c| ValidationError {
            file: file.to_path_buf(),
            object: format!("feature_view `{}`", view.name),
            message: format!(
                "an aggregation reads column `{c}`, which source `{}` does not have",
                source.name
            ),
            hint: format!(
                "fix the column name{}; the source's columns are: {}",
                tessera_core::did_you_mean(&c, names.iter().copied())
                    .map_or(String::new(), |m| format!(" (did you mean `{m}`?)")),
                sorted.join(", ")
            ),
        })
        .collect()
}

/// Loads a feature repository, typing aggregations over batch sources from the sources'
/// schemas (see [`fill_aggregation_types`]). Does not check the other source schemas; use
/// [`check_sources`] for that.
pub async fn load_repo(root: &Path) -> tessera_core::Result<tessera_core::FeatureRepo> {
    use tessera_core::Error;
    let (config, mut files) = tessera_core::FeatureRepo::read_definitions(root)?;
    let missing = fill_aggregation_types(&crate::source_scan::session(1), root, &mut files).await;
    match tessera_core::FeatureRepo::from_definitions(root, config, files) {
        Ok(repo) if missing.is_empty() => Ok(repo),
        Ok(_) => Err(Error::Invalid(ValidationErrors(missing))),
        Err(Error::Invalid(ValidationErrors(mut errs))) => {
            // "cannot tell the type" of a column the source lacks: say that it lacks it.
            errs.retain(|e| {
                !missing.iter().any(|m| {
                    m.object == e.object && e.message.contains("cannot tell the type of column")
                })
            });
            errs.extend(missing);
            Err(Error::Invalid(ValidationErrors(errs)))
        }
        Err(e) => Err(e),
    }
}
