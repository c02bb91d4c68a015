//! The policy gate of ad-hoc releases: a query sent with a request, not reviewed in
//! `plan`, reads only what the purpose it runs for may read.
//!
//! Sources declare no classification per column; a column is classified by the features
//! that read it: a view's feature over the source that projects it, or an aggregation that
//! aggregates or filters on it. Its classification is the strictest of those. An ad-hoc
//! release may read a column (its measure, its filter's columns) only if the column is
//! classified and the purpose allows that classification, and may group only by columns
//! classified `public` (their values appear in the answer). The entity's join keys and the
//! source's timestamp are read for bounding and the time range only; they never appear in
//! an answer. See `docs/DIFFERENTIAL_PRIVACY.md#ad-hoc-releases`.

use crate::aggregate::FilterExpr;
use crate::catalog::Catalog;
use crate::classification::Classification;
use crate::definitions::PurposeDef;
use crate::dp_def::ReleaseDef;

/// The classification of `column` of source `source`: the strictest among the features
/// that read it (`None`: no feature does, so it has none).
pub fn column_classification(
    catalog: &Catalog,
    source: &str,
    column: &str,
) -> Option<Classification> {
    let mut out: Option<Classification> = None;
    for view in catalog
        .feature_views()
        .values()
        .filter(|v| v.source == source)
    {
        for f in &view.features {
            let reads = match f.derived {
                None => f.source_column() == column,
                Some((i, _)) => view.aggregations.get(i).is_some_and(|a| {
                    a.column.as_deref() == Some(column)
                        || a.filter
                            .as_deref()
                            .and_then(|t| FilterExpr::parse(t).ok())
                            .is_some_and(|e| e.columns().contains(&column))
                }),
            };
            if reads {
                out = Some(out.map_or(f.classification, |c| c.max(f.classification)));
            }
        }
    }
    out
}

/// Why the ad-hoc release `def` may not run for `purpose` (empty: it may): one (message,
/// hint) per column it reads that the purpose may not, or groups by that is not public.
pub fn adhoc_refusals(
    catalog: &Catalog,
    purpose: &PurposeDef,
    def: &ReleaseDef,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let source = match (&def.source, &def.view) {
        (Some(s), _) => s.clone(),
        (None, Some(v)) => match catalog.feature_views().get(v) {
            Some(view) => view.source.clone(),
            None => return out, // reported by the release's own checks
        },
        (None, None) => return out,
    };
    let allows = purpose
        .allows
        .iter()
        .map(Classification::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let unclassified_hint = format!(
        "an ad-hoc release reads only classified columns: declare it as a feature of a view over `{source}` with its classification, or declare the release under `releases:` (reviewed in `plan`)"
    );
    let read = |column: &str, what: &str, out: &mut Vec<(String, String)>| {
        match column_classification(catalog, &source, column) {
            None => out.push((
                format!("{what} `{column}` of source `{source}` has no classification (no feature reads it)"),
                unclassified_hint.clone(),
            )),
            Some(c) if !purpose.allows.contains(&c) => out.push((
                format!(
                    "{what} `{column}` of source `{source}` is {c}, which purpose `{}` does not allow (it allows {allows})",
                    purpose.name
                ),
                "release under a purpose that allows it, or ask for a release declared under `releases:`".into(),
            )),
            Some(_) => {}
        }
    };
    if let Some(m) = &def.measure {
        read(&m.column, "measure column", &mut out);
    }
    if let Some(f) = def
        .filter
        .as_deref()
        .and_then(|t| FilterExpr::parse(t).ok())
    {
        let mut cols: Vec<&str> = f.columns();
        cols.sort_unstable();
        cols.dedup();
        for c in cols {
            read(c, "filter column", &mut out);
        }
    }
    if let Some(g) = &def.group_by {
        for c in g.columns() {
            match column_classification(catalog, &source, c) {
                Some(Classification::Public) => {}
                None => out.push((
                    format!("group column `{c}` of source `{source}` has no classification (no feature reads it)"),
                    unclassified_hint.clone(),
                )),
                Some(other) => out.push((
                    format!("group column `{c}` of source `{source}` is {other}; an ad-hoc release groups only by public columns, whose values may appear in its answer"),
                    "group by a column classified `public`, or ask for a release declared under `releases:`".into(),
                )),
            }
        }
    }
    if def.lookup.is_some() {
        out.push((
            "an ad-hoc release takes no `lookup`".into(),
            "declare the release under `releases:`: a lookup source is trusted as public".into(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AdhocReleaseDef, Definitions};

    const DEFS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - { name: plays, type: batch, path: p.parquet, timestamp_field: ts }
feature_views:
  - name: content
    entities: [user]
    source: plays
    features:
      - { name: genre, type: string, classification: public }
      - { name: country, type: string, classification: internal }
      - { name: dwell, type: float64, classification: internal }
  - name: history
    entities: [user]
    source: plays
    classification: personal
    aggregations:
      - { function: count, windows: [7d], filter: "action = 'play'", name: plays }
      - { column: secs, column_type: float64, function: sum, windows: [7d] }
purposes:
  - { name: analytics, allows: [public, internal], dp: { budget: { rho: 1, per: 30d } } }
"#;

    fn catalog() -> Catalog {
        Catalog::build(vec![
            Definitions::from_yaml_str(DEFS, "f.yaml".as_ref()).unwrap()
        ])
        .unwrap()
    }

    fn refusals(query: &str) -> Vec<String> {
        let c = catalog();
        let q: AdhocReleaseDef = serde_json::from_str(query).unwrap();
        adhoc_refusals(&c, c.purpose("analytics").unwrap(), &q.to_release())
            .into_iter()
            .map(|(m, h)| format!("{m} (hint: {h})"))
            .collect()
    }

    #[test]
    fn columns_are_classified_by_the_features_that_read_them() {
        let c = catalog();
        let cls = |col| column_classification(&c, "plays", col);
        assert_eq!(cls("genre"), Some(Classification::Public));
        assert_eq!(cls("dwell"), Some(Classification::Internal));
        assert_eq!(cls("secs"), Some(Classification::Personal), "aggregated");
        assert_eq!(cls("action"), Some(Classification::Personal), "filtered on");
        assert_eq!(cls("user_id"), None);
        assert_eq!(column_classification(&c, "other", "genre"), None);
    }

    #[test]
    fn an_adhoc_release_reads_only_what_its_purpose_allows() {
        let ok = refusals(
            r#"{"source": "plays", "entity": "user", "query": "sum", "max_rows": 2,
                "measure": {"column": "dwell", "lo": 0, "hi": 60},
                "group_by": {"column": ["genre"], "domain": {"genre": ["pop"]}}}"#,
        );
        assert!(ok.is_empty(), "{ok:?}");
        let r = refusals(
            r#"{"source": "plays", "entity": "user", "query": "sum", "max_rows": 2,
                "filter": "action = 'play'", "measure": {"column": "secs", "lo": 0, "hi": 60},
                "group_by": {"column": ["country", "genre", "nope"], "threshold_delta": 1e-7}}"#,
        )
        .join("\n");
        for expected in [
            "measure column `secs` of source `plays` is personal, which purpose `analytics` does not allow (it allows public, internal)",
            "filter column `action` of source `plays` is personal",
            "group column `country` of source `plays` is internal; an ad-hoc release groups only by public columns",
            "group column `nope` of source `plays` has no classification",
            "declare it as a feature of a view over `plays`",
        ] {
            assert!(r.contains(expected), "missing {expected:?} in:\n{r}");
        }
        assert!(!r.contains("`genre`"), "genre is public: {r}");
    }

    #[test]
    fn an_adhoc_release_needs_its_bounds() {
        let no_bounds = serde_json::from_str::<AdhocReleaseDef>(
            r#"{"source": "plays", "entity": "user", "query": "sum", "max_rows": 2, "measure": {"column": "dwell"}}"#,
        );
        assert!(no_bounds
            .unwrap_err()
            .to_string()
            .contains("missing field `lo`"));
        let no_rows = serde_json::from_str::<AdhocReleaseDef>(
            r#"{"source": "plays", "entity": "user", "query": "count"}"#,
        );
        assert!(no_rows
            .unwrap_err()
            .to_string()
            .contains("missing field `max_rows`"));
        let lookup = serde_json::from_str::<AdhocReleaseDef>(
            r#"{"source": "plays", "entity": "user", "query": "count", "max_rows": 1, "lookup": {"source": "x", "on": "y", "columns": ["z"]}}"#,
        );
        assert!(lookup
            .unwrap_err()
            .to_string()
            .contains("unknown field `lookup`"));
    }
}
