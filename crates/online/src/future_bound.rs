//! [`FutureBound`]: how far ahead of the clock a written row may be stamped — the one check
//! every write path applies (HTTP writes and row pushes, stream events, materialisation,
//! device records), set by `writes: { max_future: 5m }` in `tessera.yaml`.
//!
//! "Newer wins" keeps a stored row until a row with a later stamp arrives, so a row stamped
//! `9999-12-31` would hide every real write until then. Rows beyond the bound are refused
//! (stream events: counted as `future` and not applied); rows already pinned are found and
//! dropped with [`crate::OnlineStore::future_rows`] (`tessera online repair`).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tessera_core::{RepoConfig, Span};

/// The setting that moves the bound, as named in messages.
pub const MAX_FUTURE_SETTING: &str = "writes.max_future";

/// How far ahead of the clock a row may be stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FutureBound {
    max_ahead_us: i64,
}

impl Default for FutureBound {
    /// Five minutes (clocks of writers drift; a row is rarely stamped ahead on purpose).
    fn default() -> Self {
        Self::from_config(&tessera_core::WritesConfig::default().max_future)
    }
}

impl FutureBound {
    /// A bound of `max_ahead` past the clock.
    pub fn new(max_ahead: Duration) -> Self {
        Self {
            max_ahead_us: i64::try_from(max_ahead.as_micros()).unwrap_or(i64::MAX),
        }
    }

    /// The bound `writes.max_future` sets.
    pub fn from_config(max_future: &Span) -> Self {
        Self::new(max_future.0)
    }

    /// The bound of a repository's `tessera.yaml`.
    pub fn of_repo(config: &RepoConfig) -> Self {
        Self::from_config(&config.writes.max_future)
    }

    /// How far ahead of the clock a row may be stamped (µs).
    pub fn max_ahead_us(&self) -> i64 {
        self.max_ahead_us
    }

    /// The latest event time a row may have when the clock reads `now_us`.
    pub fn limit(&self, now_us: i64) -> i64 {
        now_us.saturating_add(self.max_ahead_us)
    }

    /// Whether a row stamped `ts_us` may be written when the clock reads `now_us`.
    pub fn allows(&self, ts_us: i64, now_us: i64) -> bool {
        ts_us <= self.limit(now_us)
    }

    /// Why a row stamped `ts_us` is refused, with the bound and the setting to change.
    pub fn refusal(&self, ts_us: i64, now_us: i64) -> String {
        format!(
            "event time {} is more than {} ahead of the clock (the bound is {}): it would hide every real write of the row until then (hint: send the real event time, or raise `{MAX_FUTURE_SETTING}` in tessera.yaml)",
            format_us(ts_us),
            self.max_ahead(),
            format_us(self.limit(now_us)),
        )
    }

    /// The bound as written in `tessera.yaml` (`5m`).
    pub fn max_ahead(&self) -> String {
        Span(Duration::from_micros(
            self.max_ahead_us.max(0).unsigned_abs(),
        ))
        .to_string()
    }

    /// The system clock, µs since the epoch.
    pub fn now_us() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
    }
}

/// µs since the epoch as RFC 3339 (UTC), or the number when out of chrono's range.
pub fn format_us(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us).map_or_else(
        || format!("{us}µs after the epoch"),
        |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_explains() {
        let b = FutureBound::default();
        assert_eq!(b.max_ahead(), "5m");
        let now = 1_700_000_000_000_000;
        assert!(b.allows(now + 300_000_000, now));
        assert!(!b.allows(now + 300_000_001, now));
        let far = 253_402_300_799_000_000; // 9999-12-31T23:59:59Z
        assert!(!b.allows(far, now));
        let m = b.refusal(far, now);
        assert!(m.contains("9999-12-31T23:59:59Z"), "{m}");
        assert!(m.contains("2023-11-14T22:18:20Z"), "{m}");
        assert!(m.contains(MAX_FUTURE_SETTING), "{m}");
        assert!(FutureBound::new(Duration::MAX).allows(i64::MAX, now));
    }
}
