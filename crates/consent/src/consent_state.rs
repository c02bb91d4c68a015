//! [`ConsentState`] and the time of a consent change.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Whether an entity consents to a purpose from a point in time on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Consent given.
    Granted,
    /// Consent withdrawn (or refused).
    Withdrawn,
}

impl ConsentState {
    /// `granted` or `withdrawn` (case-insensitive).
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "granted" => Ok(ConsentState::Granted),
            "withdrawn" => Ok(ConsentState::Withdrawn),
            _ => Err(Error::BadState(text.to_string())),
        }
    }

    /// `granted` or `withdrawn`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentState::Granted => "granted",
            ConsentState::Withdrawn => "withdrawn",
        }
    }
}

/// An RFC 3339 time (`2026-12-01T00:00:00Z`, or a date `2026-12-01`, read as midnight
/// UTC) as µs since the epoch.
pub fn parse_time(text: &str) -> Result<i64> {
    let t = text.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(d.timestamp_micros());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return Ok(dt.and_utc().timestamp_micros());
        }
    }
    Err(Error::BadTime(text.to_string()))
}

/// µs since the epoch as RFC 3339 (UTC).
pub fn format_time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map_or_else(
        || us.to_string(),
        |d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

/// Now, as µs since the epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            ConsentState::parse("Granted").unwrap(),
            ConsentState::Granted
        );
        assert!(matches!(
            ConsentState::parse("yes"),
            Err(Error::BadState(_))
        ));
        let t = parse_time("2026-12-01T00:00:00Z").unwrap();
        assert_eq!(parse_time("2026-12-01").unwrap(), t);
        assert_eq!(format_time(t), "2026-12-01T00:00:00Z");
        assert!(parse_time("yesterday").is_err());
    }
}
