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
