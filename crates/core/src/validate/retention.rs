//! Retention (`retention:` on sources and views): a positive duration, and nothing that
//! would need data the retention deletes — a view's TTL or an aggregation window longer
//! than the retention is refused (its values would silently be computed from less than it
//! says).

use crate::catalog::{Catalog, SOURCE, VIEW};
use crate::error::ValidationError;
use crate::retention::{of_view, parse};

use super::problem;

pub(super) fn check_retention(c: &Catalog, errs: &mut Vec<ValidationError>) {
    for s in c.sources().values() {
        if let Some(text) = &s.retention {
            if parse(text).is_none() {
                errs.push(problem(
                    c,
                    SOURCE,
                    &s.name,
                    format!("has an invalid `retention: {text}`"),
                    RETENTION_HINT,
                ));
            }
        }
    }
    for v in c.feature_views().values() {
        if let Some(text) = &v.retention {
            if parse(text).is_none() {
                errs.push(problem(
                    c,
                    VIEW,
                    &v.name,
                    format!("has an invalid `retention: {text}`"),
                    RETENTION_HINT,
                ));
                continue;
            }
        }
        let Some(retention) = of_view(c, v) else {
            continue;
        };
        let retention_us = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        let shown = tessera_aggregate::Window::duration(retention_us)
            .map_or_else(|_| format!("{retention:?}"), |w| w.to_string());
        if let Some(ttl) = v.ttl.duration() {
            if ttl > retention {
                errs.push(problem(
                    c,
                    VIEW,
                    &v.name,
                    format!("has a `ttl` longer than its retention ({shown}): rows that old are deleted"),
                    format!("shorten `ttl` to at most {shown}, or lengthen the retention"),
                ));
            }
        }
        for a in &v.aggregations {
            for w in &a.windows {
                let Ok(window) = tessera_aggregate::Window::parse(w) else {
                    continue; // the aggregation check reports it
                };
                let too_long = window.length().is_none_or(|us| us > retention_us);
                if too_long {
                    errs.push(problem(
                        c,
                        VIEW,
                        &v.name,
                        format!("aggregation `{}` has a window `{w}` longer than the view's retention ({shown}): it would be computed from less data than it says", a.function),
                        format!("use windows of at most {shown}, or lengthen the retention"),
                    ));
                }
            }
        }
    }
}

const RETENTION_HINT: &str =
    "write a positive duration such as `90d`, `12w` or `36h` (units s, m, h, d, w)";

#[cfg(test)]
mod tests {
    use crate::catalog::Catalog;
    use crate::definitions::Definitions;

    fn build(source_retention: &str, view_extra: &str, windows: &str) -> Result<Catalog, String> {
        let yaml = format!(
            r#"
entities: [{{ name: user, join_keys: [user_id] }}]
sources:
  - {{ name: plays, type: batch, path: p.parquet, timestamp_field: ts, {source_retention} }}
feature_views:
  - name: history
    entities: [user]
    source: plays
    classification: internal
    {view_extra}
    aggregations:
      - {{ function: count, windows: [{windows}] }}
"#
        );
        let defs =
            Definitions::from_yaml_str(&yaml, "r.yaml".as_ref()).map_err(|e| e.to_string())?;
        Catalog::build(vec![defs]).map_err(|e| e.to_string())
    }

    #[test]
    fn retention_must_be_positive_and_cover_windows_and_ttl() {
        assert!(build("retention: 90d", "", "7d, 90d").is_ok());
        let e = build("retention: 30d", "", "7d, 90d").unwrap_err();
        assert!(
            e.contains("window `90d` longer than the view's retention (30d)"),
            "{e}"
        );
        assert!(e.contains("feature_view `history`"), "{e}");
        let e = build("retention: 90d", "", "lifetime").unwrap_err();
        assert!(e.contains("window `lifetime`"), "{e}");
        // A view's own retention is the shorter one.
        let e = build("retention: 90d", "retention: 3d", "7d").unwrap_err();
        assert!(e.contains("retention (3d)"), "{e}");
        let e = build("retention: 90d", "ttl: 100d", "7d").unwrap_err();
        assert!(e.contains("`ttl` longer than its retention"), "{e}");
        for bad in ["retention: 0s", "retention: soon", "retention: -3d"] {
            let e = build(bad, "", "7d").unwrap_err();
            assert!(e.contains("invalid `retention"), "{bad}: {e}");
            assert!(e.contains("positive duration"), "{bad}: {e}");
        }
        let e = build("retention: 90d", "retention: 0s", "7d").unwrap_err();
        assert!(
            e.contains("feature_view `history`: has an invalid `retention: 0s`"),
            "{e}"
        );
    }
}
