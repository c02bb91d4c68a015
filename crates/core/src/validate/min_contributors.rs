//! k-thresholds of aggregations (`min_contributors: { k, by }`): `by` names a contributor,
//! which the view's own entity key cannot be (each entity would be its only contributor).
//! That `by` is a column of the source is checked with the other aggregation columns.

use crate::catalog::Catalog;
use crate::definitions::FeatureViewDef;

/// (message, hint) for each k-threshold of `view` that cannot mean anything.
pub(crate) fn check(c: &Catalog, view: &FeatureViewDef) -> Vec<(String, String)> {
    let keys = c.join_keys(view);
    let mut out = Vec::new();
    for (i, agg) in view.aggregations.iter().enumerate() {
        let Some(m) = &agg.min_contributors else {
            continue;
        };
        let by = m.by.trim();
        if by.is_empty() {
            out.push((
                format!(
                    "aggregation {} (`{}`): `min_contributors.by` is empty",
                    i + 1,
                    agg.function
                ),
                "name the column that identifies a contributor, e.g. `by: user_id`".into(),
            ));
        } else if keys.iter().any(|k| k == by) {
            out.push((
                format!(
                    "aggregation {} (`{}`): `min_contributors.by: {by}` is the view's own entity key, so every value has exactly one contributor",
                    i + 1,
                    agg.function
                ),
                "k-thresholds protect cohort features of a non-person entity (an item's plays): count contributors by another column, e.g. the user key of each event, or drop `min_contributors`".into(),
            ));
        }
    }
    out
}
