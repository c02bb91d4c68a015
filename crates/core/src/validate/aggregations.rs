//! Aggregation views: their `aggregations:` expand into derived features, and the columns
//! they read must be declared by a stream or device source's schema.

use crate::catalog::{Catalog, VIEW};
use crate::error::ValidationError;

use super::problem;

/// Expands every view's `aggregations:` into derived features, reporting what cannot be.
pub(crate) fn derive_aggregation_features(c: &mut Catalog, errs: &mut Vec<ValidationError>) {
    let names: Vec<String> = c.feature_views.keys().cloned().collect();
    for name in names {
        let Some(mut view) = c.feature_views.remove(&name) else {
            continue;
        };
        let source = c.sources.get(&view.source);
        let mut problems = Vec::new();
        crate::aggregation_catalog::derive_features(&mut view, source, &mut problems);
        let declared = source.and_then(|s| {
            let stream = s.stream.as_ref().map(|st| (s, "stream", &st.schema));
            stream.or(s.device.as_ref().map(|d| (s, "device", &d.schema)))
        });
        if let Some((s, kind, schema)) = declared {
            for col in c.aggregation_columns(&view) {
                if col != s.timestamp_field && !schema.contains_key(&col) {
                    let guess = crate::did_you_mean(&col, schema.keys().map(String::as_str))
                        .map_or(String::new(), |g| format!("did you mean `{g}`? Else "));
                    problems.push((
                        format!(
                            "reads column `{col}`, which {kind} source `{}` does not declare",
                            s.name
                        ),
                        format!(
                            "{guess}add it to the source's `{kind}.schema` (declared: {})",
                            schema.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
        }
        problems.extend(crate::validate::min_contributors::check(c, &view));
        if let Some(s) = source.filter(|s| s.device.is_some()) {
            problems.extend(crate::device_def::check_device_view(&view, s));
        }
        for (message, hint) in problems {
            errs.push(problem(c, VIEW, &name, message, hint));
        }
        c.feature_views.insert(name, view);
    }
}
