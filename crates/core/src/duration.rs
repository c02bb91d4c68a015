use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// How far back a point-in-time join may look for a feature row.
///
/// Written as a duration ([`parse_duration`]: `90s`, `15m`, `1h`, `7d`, `2w`, `500ms`,
/// `1d12h`) or a bare number of seconds (`3600`, as in Feast). `0`, `none` or `unlimited`
/// (or leaving `ttl` out) means no limit, as in Feast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ttl {
    /// Any earlier row qualifies.
    #[default]
    Unlimited,
    /// Rows older than this before the spine timestamp are not used.
    Limited(Duration),
}

impl Ttl {
    /// Parses a TTL (see the type docs for the syntax).
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        if matches!(t, "0" | "none" | "unlimited" | "lifetime") {
            return Ok(Ttl::Unlimited);
        }
        // A bare number is seconds, as Feast's `ttl` (and YAML `ttl: 3600`) reads it.
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return parse_duration(&format!("{t}s")).map(|d| {
                if d.is_zero() {
                    Ttl::Unlimited
                } else {
                    Ttl::Limited(d)
                }
            });
        }
        let d = parse_duration(t)?;
        if d.is_zero() {
            Ok(Ttl::Unlimited)
        } else {
            Ok(Ttl::Limited(d))
        }
    }

    /// The limit as a [`Duration`], or `None` when unlimited.
    pub fn duration(&self) -> Option<Duration> {
        match self {
            Ttl::Unlimited => None,
            Ttl::Limited(d) => Some(*d),
        }
    }
}

/// Parses a duration in Tessera's one grammar of durations (the same as windows'):
/// whole numbers and units `us`, `ms`, `s`, `m`, `h`, `d`, `w`, combinable (`90s`, `15m`,
/// `1h`, `7d`, `2w`, `1d12h`, `500ms`). Zero (`0s`) is allowed.
///
/// Every duration of the platform (`ttl`, `allowed_lateness`, cache TTLs, command-line
/// flags) goes through here, so they all accept exactly the same forms.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let micros = tessera_aggregate::parse_duration_micros(text).map_err(|e| {
        let reason = match e {
            tessera_aggregate::Error::InvalidDuration { reason, .. } => reason,
            other => other.to_string(),
        };
        Error::BadDuration {
            text: text.to_string(),
            reason,
        }
    })?;
    // `parse_duration_micros` never returns a negative number.
    Ok(Duration::from_micros(u64::try_from(micros).unwrap_or(0)))
}

/// A clap value parser for duration flags (`--timeout 30s`).
pub fn parse_duration_flag(text: &str) -> std::result::Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

/// Formats a duration in the largest unit that divides it exactly: `7d`, `90m`, `1500ms`.
pub(crate) fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    const UNITS: [(u128, &str); 6] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    for (size, unit) in UNITS {
        if ns.is_multiple_of(size) && ns >= size {
            return format!("{}{unit}", ns / size);
        }
    }
    format!("{ns}ns")
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ttl::Unlimited => f.write_str("unlimited"),
            Ttl::Limited(d) => f.write_str(&format_duration(*d)),
        }
    }
}

impl Serialize for Ttl {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(0) => Ok(Ttl::Unlimited),
            Raw::Num(n) => Ok(Ttl::Limited(Duration::from_secs(n))),
            Raw::Text(t) => Ttl::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(
            Ttl::parse("7d").unwrap(),
            Ttl::Limited(Duration::from_secs(7 * 86400))
        );
        assert_eq!(
            Ttl::parse("1d12h").unwrap(),
            Ttl::Limited(Duration::from_secs(36 * 3600))
        );
        assert_eq!(
            Ttl::parse("250ms").unwrap(),
            Ttl::Limited(Duration::from_millis(250))
        );
        assert_eq!(Ttl::parse("0").unwrap(), Ttl::Unlimited);
        assert_eq!(Ttl::parse("none").unwrap(), Ttl::Unlimited);
        assert_eq!(
            Ttl::parse("3600").unwrap(),
            Ttl::Limited(Duration::from_secs(3600))
        );
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "d",
            "7x",
            "-1d",
            "7 d",
            "1.5h",
            "99999999999999999999w",
            "7days",
            "90days",
        ] {
            assert!(Ttl::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn refusals_list_the_forms() {
        let e = Ttl::parse("90days").unwrap_err().to_string();
        assert!(e.contains("`90days` is not a duration"), "{e}");
        assert!(e.contains("write `d`") && e.contains("1d12h"), "{e}");
    }

    #[test]
    fn display_round_trips() {
        for s in ["7d", "14d", "90m", "1500ms", "unlimited", "36h"] {
            let t = Ttl::parse(s).unwrap();
            assert_eq!(Ttl::parse(&t.to_string()).unwrap(), t);
        }
        assert_eq!(Ttl::parse("1d12h").unwrap().to_string(), "36h");
    }
}
