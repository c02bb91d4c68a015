//! Retention: how long a source's (or a view's) data is kept.
//!
//! `retention: 90d` on a source means rows whose event time is older than `now − 90d` are
//! deleted from every tier Tessera manages (the offline log, the stream engine's states,
//! the online store, the device's local store) by a retention pass, and are never read
//! meanwhile: training sets filter them out of every source scan, online reads report them
//! `expired`. A view may declare a shorter retention than its source's.
//!
//! The boundary is inclusive on the kept side, as TTLs are: a row exactly `retention` old
//! stays; one microsecond older goes. See `docs/RETENTION.md`.

use std::time::Duration;

use crate::catalog::Catalog;
use crate::definitions::{FeatureViewDef, SourceDef};
use crate::duration::{parse_duration, Ttl};

/// The retention declared on a source, if any (and if it parses; validation refuses one
/// that does not).
pub fn of_source(source: &SourceDef) -> Option<Duration> {
    parse(source.retention.as_deref()?)
}

/// A view's effective retention: the shorter of its own and its source's.
pub fn of_view(catalog: &Catalog, view: &FeatureViewDef) -> Option<Duration> {
    let own = view.retention.as_deref().and_then(parse);
    let source = catalog.sources().get(&view.source).and_then(of_source);
    match (own, source) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The oldest event time (µs since the epoch) kept at `now_us` under `retention`: rows with
/// an event time before it go.
pub fn cutoff_us(retention: Duration, now_us: i64) -> i64 {
    let r = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
    now_us.saturating_sub(r)
}

/// The TTL online reads apply to a view: its own, capped by its retention, so a row older
/// than the retention is never served (it reads as expired).
pub fn online_ttl(catalog: &Catalog, view: &FeatureViewDef) -> Ttl {
    match (view.ttl.duration(), of_view(catalog, view)) {
        (Some(t), Some(r)) => Ttl::Limited(t.min(r)),
        (None, Some(r)) => Ttl::Limited(r),
        _ => view.ttl,
    }
}

/// Parses a retention: a positive duration.
pub(crate) fn parse(text: &str) -> Option<Duration> {
    parse_duration(text).ok().filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_saturates() {
        assert_eq!(cutoff_us(Duration::from_secs(1), 10_000_000), 9_000_000);
        assert_eq!(cutoff_us(Duration::from_secs(1), i64::MIN), i64::MIN);
        assert_eq!(parse("0s"), None);
        assert_eq!(parse("90d"), Some(Duration::from_secs(90 * 86_400)));
    }
}
