//! Aggregation views in the catalog: each (aggregation, window) of a view's `aggregations:`
//! becomes one [`FeatureDef`] (marked `derived`), so that resolution, the policy gate,
//! services and training-set columns treat it like any feature; [`Catalog::view_spec`]
//! builds the `tessera_aggregate::ViewSpec` the engines compute it with.

use std::collections::BTreeMap;

use tessera_aggregate::{
    AggFunction, Aggregation, FilterExpr, InputType, MinContributors, OutputType, ViewAggregation,
    ViewSpec, Window,
};

use crate::catalog::Catalog;
use crate::classification::Classification;
use crate::definitions::{FeatureDef, FeatureViewDef, SourceDef};
use crate::error::{Error, Result};
use crate::feature_type::FeatureType;

/// The aggregation input type of a column type (`None`: not aggregatable).
pub fn input_type(t: &FeatureType) -> Option<InputType> {
    match t {
        FeatureType::Int32 | FeatureType::Int64 => Some(InputType::Int64),
        FeatureType::Float32 | FeatureType::Float64 => Some(InputType::Float64),
        FeatureType::Bool => Some(InputType::Bool),
        FeatureType::String => Some(InputType::String),
        FeatureType::Timestamp => Some(InputType::Timestamp),
        FeatureType::Bytes | FeatureType::List(_) => None,
    }
}

/// The feature type of an aggregation's result.
pub fn output_feature_type(t: OutputType) -> FeatureType {
    let scalar = |i: InputType| match i {
        InputType::Int64 => FeatureType::Int64,
        InputType::Float64 => FeatureType::Float64,
        InputType::Bool => FeatureType::Bool,
        InputType::String => FeatureType::String,
        InputType::Timestamp => FeatureType::Timestamp,
    };
    match t {
        OutputType::Int64 => FeatureType::Int64,
        OutputType::Float64 => FeatureType::Float64,
        OutputType::Bool => FeatureType::Bool,
        OutputType::String => FeatureType::String,
        OutputType::Timestamp => FeatureType::Timestamp,
        OutputType::List(i) => FeatureType::List(Box::new(scalar(i))),
    }
}

/// The column types known without reading data: a stream or device source's declared schema.
pub(crate) fn declared_columns(source: Option<&SourceDef>) -> BTreeMap<String, FeatureType> {
    source
        .and_then(|s| {
            s.stream
                .as_ref()
                .map(|st| &st.schema)
                .or(s.device.as_ref().map(|d| &d.schema))
        })
        .cloned()
        .unwrap_or_default()
}

/// One parsed aggregation of a view (before windows are expanded).
struct Parsed {
    function: AggFunction,
    input: Option<InputType>,
    windows: Vec<(String, Window)>,
    filter: Option<FilterExpr>,
    min_contributors: Option<MinContributors>,
}

/// Adds the derived features of `view`'s aggregations to `view.features`; problems go to
/// `errs` as (message, hint).
pub(crate) fn derive_features(
    view: &mut FeatureViewDef,
    source: Option<&SourceDef>,
    errs: &mut Vec<(String, String)>,
) {
    if view.aggregations.is_empty() {
        return;
    }
    if !view.features.is_empty() {
        errs.push((
            "declares both `features:` and `aggregations:`".into(),
            "split it into two views: one of projected columns, one of aggregations".into(),
        ));
        return;
    }
    let declared = declared_columns(source);
    let mut derived = Vec::new();
    for (i, agg) in view.aggregations.iter().enumerate() {
        let what = format!("aggregation {} (`{}`)", i + 1, agg.function);
        let parsed = match parse(agg, &declared) {
            Ok(p) => p,
            Err((m, h)) => {
                errs.push((format!("{what}: {m}"), h));
                continue;
            }
        };
        let aggregation = match Aggregation::new(parsed.function.clone(), parsed.input) {
            Ok(a) => a,
            Err(e) => {
                errs.push((
                    format!("{what}: {e}"),
                    "pick a function that suits the column's type".into(),
                ));
                continue;
            }
        };
        let prefix = match (&agg.name, &agg.column) {
            (Some(n), _) => n.clone(),
            (None, Some(c)) => format!("{c}_{}", parsed.function.short_name()),
            (None, None) => parsed.function.short_name(),
        };
        if parsed.filter.is_some() && agg.name.is_none() {
            // Filtered and unfiltered aggregations of one column would share names.
            if view.aggregations.iter().enumerate().any(|(j, o)| {
                j != i
                    && o.name.is_none()
                    && o.column == agg.column
                    && o.function == agg.function
                    && o.windows.iter().any(|w| agg.windows.contains(w))
            }) {
                errs.push((
                    format!("{what}: has a filter and the same function, column and window as another aggregation, so their features would share a name"),
                    "give one of them a `name:`".into(),
                ));
                continue;
            }
        }
        for (j, (label, _)) in parsed.windows.iter().enumerate() {
            derived.push(FeatureDef {
                name: format!("{prefix}_{label}"),
                dtype: output_feature_type(aggregation.output_type()),
                classification: agg
                    .classification
                    .or(view.classification)
                    .unwrap_or(Classification::Personal),
                placement: agg.placement,
                column: agg.column.clone(),
                minimise: None,
                description: agg.description.clone(),
                derived: Some((i, j)),
            });
        }
    }
    view.features = derived;
}

fn parse(
    agg: &crate::aggregation_def::AggregationDef,
    declared: &BTreeMap<String, FeatureType>,
) -> std::result::Result<Parsed, (String, String)> {
    let function = AggFunction::parse(&agg.function, agg.k).map_err(|e| {
        (
            e.to_string(),
            "see docs/AGGREGATIONS.md#window-aggregations".to_string(),
        )
    })?;
    let input = match &agg.column {
        None if function.needs_column() => {
            return Err((
                format!("`{}` needs a `column`", agg.function),
                "name the column to aggregate, e.g. `column: dwell_s`".into(),
            ))
        }
        None => None,
        Some(c) => {
            let t = agg.column_type.clone().or_else(|| declared.get(c).cloned());
            let Some(t) = t else {
                return Err((
                    format!("cannot tell the type of column `{c}`"),
                    "run `tessera plan` or `tessera apply`, which read it from the source, or set `column_type:`".into(),
                ));
            };
            let Some(i) = input_type(&t) else {
                return Err((
                    format!("column `{c}` has type {t}, which cannot be aggregated"),
                    "aggregate a scalar column: int, float, bool, string or timestamp".into(),
                ));
            };
            function.check_input(i).map_err(|e| {
                (
                    e.to_string(),
                    "pick a function that suits the column's type".into(),
                )
            })?;
            Some(i)
        }
    };
    if agg.windows.is_empty() {
        return Err((
            "has no windows".into(),
            "list at least one, e.g. `windows: [1h, 1d, 7d]` or `[lifetime]`".into(),
        ));
    }
    let mut windows = Vec::new();
    for w in &agg.windows {
        let label = w.trim().to_string();
        let parsed = Window::parse(&label).map_err(|e| {
            (
                format!("window `{w}`: {e}"),
                "write a duration (`1h`, `7d`, `1d12h`) or `lifetime`".into(),
            )
        })?;
        if windows.iter().any(|(l, _)| *l == label) {
            return Err((
                format!("lists window `{label}` twice"),
                "remove the duplicate".into(),
            ));
        }
        windows.push((label, parsed));
    }
    let filter = match &agg.filter {
        None => None,
        Some(f) => Some(FilterExpr::parse(f).map_err(|e| {
            (
                format!("filter `{f}`: {e}"),
                "write e.g. `action = 'play'`, `dwell_s >= 30 and action != 'skip'`".into(),
            )
        })?),
    };
    let min_contributors = match &agg.min_contributors {
        None => None,
        Some(m) => Some(MinContributors::new(m.k, m.by.trim()).map_err(|_| {
            (
                "`min_contributors.k` must be at least 1".to_string(),
                "write e.g. `min_contributors: { k: 50, by: user_id }`".to_string(),
            )
        })?),
    };
    Ok(Parsed {
        function,
        input,
        windows,
        filter,
        min_contributors,
    })
}

impl Catalog {
    /// The aggregation spec of an aggregation view, one entry per derived feature in the
    /// order of `view.features`; `None` for a view of projected features.
    pub fn view_spec(&self, view: &FeatureViewDef) -> Result<Option<ViewSpec>> {
        if view.aggregations.is_empty() {
            return Ok(None);
        }
        let source = self.source_of(view).ok();
        let declared = declared_columns(source);
        let bad = |message: String| Error::Aggregation {
            view: view.name.clone(),
            message,
        };
        let mut out = Vec::with_capacity(view.features.len());
        for f in &view.features {
            let Some((i, j)) = f.derived else {
                continue;
            };
            let agg = view
                .aggregations
                .get(i)
                .ok_or_else(|| bad(format!("feature `{}` has no aggregation", f.name)))?;
            let p = parse(agg, &declared).map_err(|(m, _)| bad(m))?;
            let aggregation =
                Aggregation::new(p.function, p.input).map_err(|e| bad(e.to_string()))?;
            let window = p
                .windows
                .get(j)
                .map(|(_, w)| *w)
                .ok_or_else(|| bad(format!("feature `{}` has no window", f.name)))?;
            let mut va = ViewAggregation::new(agg.column.as_deref(), aggregation, window)
                .map_err(|e| bad(e.to_string()))?;
            if let Some(filter) = p.filter {
                va = va.with_filter(filter);
            }
            if let Some(m) = p.min_contributors {
                va = va.with_min_contributors(m);
            }
            out.push(va);
        }
        Ok(Some(ViewSpec::new(out)))
    }

    /// The source columns an aggregation view reads: aggregated columns and filter columns.
    pub fn aggregation_columns(&self, view: &FeatureViewDef) -> Vec<String> {
        let mut cols: Vec<String> = Vec::new();
        let mut add = |c: &str| {
            if !cols.iter().any(|x| x == c) {
                cols.push(c.to_string());
            }
        };
        for agg in &view.aggregations {
            if let Some(c) = &agg.column {
                add(c);
            }
            if let Some(f) = agg
                .filter
                .as_deref()
                .and_then(|f| FilterExpr::parse(f).ok())
            {
                for c in f.columns() {
                    add(c);
                }
            }
            if let Some(m) = &agg.min_contributors {
                add(m.by.trim());
            }
        }
        cols
    }
}
