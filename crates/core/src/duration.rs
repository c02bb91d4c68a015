use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// How far back a point-in-time join may look for a feature row.
///
/// Written as a number and a unit (`90s`, `15m`, `1h`, `7d`, `2w`, `500ms`), or compound
/// (`1d12h`). `0`, `none` or `unlimited` (or leaving `ttl` out) means no limit, as in Feast.
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

/// Parses `90s`, `15m`, `1h`, `7d`, `2w`, `250ms`, `10us`, `1d12h` into a [`Duration`].
pub(crate) fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || Error::BadDuration {
        text: text.to_string(),
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u128 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" | "sec" | "secs" => 1_000_000_000,
            "m" | "min" | "mins" => 60_000_000_000,
            "h" | "hr" | "hrs" => 3_600_000_000_000,
            "d" | "day" | "days" => 86_400_000_000_000,
            "w" | "week" | "weeks" => 7 * 86_400_000_000_000,
            // A bare number is only accepted as zero (handled by the caller) or seconds.
            "" if digits == s.len() => 1_000_000_000,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(nanos)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| bad())?;
    // Keep durations within what an i64 of nanoseconds can express (about 292 years).
    if total > i64::MAX as u128 {
        return Err(bad());
    }
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
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
        for bad in ["", "d", "7x", "-1d", "7 d", "1.5h", "99999999999999999999w"] {
            assert!(Ttl::parse(bad).is_err(), "{bad} should not parse");
        }
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
