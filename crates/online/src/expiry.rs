//! Expiry: whether a stored row is still fresh under its view's TTL.
//!
//! Stores keep rows until they are replaced or erased; expiry is decided when reading, with
//! the same rule as the point-in-time join: a row is usable at `now` when
//! `now - ttl <= event_ts`. An expired row is reported as [`Freshness::Expired`] and its
//! values must not be served as fresh.

use tessera_core::Ttl;

use crate::feature_row::{FeatureRow, Stamp};

/// What a read found for one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Freshness {
    /// The store holds no row for the entity.
    Missing,
    /// The row is older than the view's TTL allows at `now`.
    Expired,
    /// The row is within the TTL (or the TTL is unlimited).
    Present,
}

impl Freshness {
    /// `missing`, `expired` or `present`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Freshness::Missing => "missing",
            Freshness::Expired => "expired",
            Freshness::Present => "present",
        }
    }
}

impl std::fmt::Display for Freshness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies a read row at `now_us` (µs since the epoch) under `ttl`.
///
/// ```
/// use std::time::Duration;
/// use tessera_core::Ttl;
/// use tessera_online::{freshness, FeatureRow, Freshness, Stamp};
/// let row = FeatureRow { stamp: Stamp::new(1_000_000, Stamp::NO_CREATED), values: Default::default() };
/// let ttl = Ttl::Limited(Duration::from_secs(10));
/// assert_eq!(freshness(Some(&row), ttl, 11_000_000), Freshness::Present); // exactly at the bound
/// assert_eq!(freshness(Some(&row), ttl, 11_000_001), Freshness::Expired);
/// assert_eq!(freshness(Some(&row), Ttl::Unlimited, i64::MAX), Freshness::Present);
/// assert_eq!(freshness(None, ttl, 0), Freshness::Missing);
/// ```
pub fn freshness(row: Option<&FeatureRow>, ttl: Ttl, now_us: i64) -> Freshness {
    stamp_freshness(row.map(|r| r.stamp), ttl, now_us)
}

/// As [`freshness`], for a row known by its stamp alone (`None`: no row).
pub fn stamp_freshness(stamp: Option<Stamp>, ttl: Ttl, now_us: i64) -> Freshness {
    let Some(stamp) = stamp else {
        return Freshness::Missing;
    };
    match ttl.duration() {
        None => Freshness::Present,
        Some(d) => {
            let ttl_us = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
            if stamp.event_ts < now_us.saturating_sub(ttl_us) {
                Freshness::Expired
            } else {
                Freshness::Present
            }
        }
    }
}
