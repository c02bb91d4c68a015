//! [`Window`]: how far back an aggregation looks, its tile size (hop), and the
//! one definition of "the window as of time T" every tier uses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One millisecond in microseconds.
pub const MILLISECOND: i64 = 1_000;
/// One second in microseconds.
pub const SECOND: i64 = 1_000 * MILLISECOND;
/// One minute in microseconds.
pub const MINUTE: i64 = 60 * SECOND;
/// One hour in microseconds.
pub const HOUR: i64 = 60 * MINUTE;
/// One day in microseconds.
pub const DAY: i64 = 24 * HOUR;
/// One week in microseconds.
pub const WEEK: i64 = 7 * DAY;

/// How far back an aggregation looks.
///
/// The value of an aggregation over window `W` *as of* time `T` covers exactly
/// the events with `start_at(T) <= ts <= T`, where
/// `start_at(T) = floor_to_hop(T − W)` (floored towards −∞). The window therefore
/// reaches back at least `W` and at most `W + hop` (minus 1 µs): it never misses
/// an event younger than `W` and may include up to one hop of older ones.
/// `Lifetime` covers every event with `ts <= T`.
///
/// The hop (tile size) follows a fixed rule, as in Chronon: windows up to 12 h
/// use 5-minute tiles, up to 12 days 1-hour tiles, longer windows 1-day tiles;
/// `Lifetime` is a single tile.
///
/// Windows parse from and print as strings: `90s`, `15m`, `1h`, `1d12h`, `7d`,
/// `2w`, `lifetime` (units `us`, `ms`, `s`, `m`, `h`, `d`, `w`).
///
/// ```
/// use tessera_aggregate::{Window, HOUR, MINUTE};
/// let w: Window = "1h".parse()?;
/// assert_eq!(w, Window::Duration(HOUR));
/// assert_eq!(w.hop(), Some(5 * MINUTE));
/// // As of 10:02, a 1 h window starts at 09:00 (09:02 floored to 5 min).
/// let t = 10 * HOUR + 2 * MINUTE;
/// assert_eq!(w.start_at(t), Some(9 * HOUR));
/// assert_eq!(Window::parse("lifetime")?.start_at(t), None);
/// assert_eq!(Window::parse("1d12h")?.to_string(), "1d12h");
/// # Ok::<(), tessera_aggregate::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Window {
    /// A sliding window of this many microseconds (must be > 0).
    Duration(i64),
    /// Every event up to the time asked.
    Lifetime,
}

/// Floors `ts` to a multiple of `hop` (towards −∞), saturating at `i64::MIN`.
/// A non-positive `hop` returns `ts` unchanged.
///
/// ```
/// use tessera_aggregate::tile_start;
/// assert_eq!(tile_start(17, 5), 15);
/// assert_eq!(tile_start(-1, 5), -5);
/// assert_eq!(tile_start(i64::MIN + 1, 10), i64::MIN);
/// ```
pub fn tile_start(ts: i64, hop: i64) -> i64 {
    if hop <= 0 {
        return ts;
    }
    let floored = i128::from(ts.div_euclid(hop)) * i128::from(hop);
    i64::try_from(floored).unwrap_or(i64::MIN)
}

fn window_error(input: &str, reason: impl Into<String>) -> Error {
    Error::InvalidWindow {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

impl Window {
    /// A sliding window of `micros` microseconds; must be positive.
    pub fn duration(micros: i64) -> Result<Self> {
        if micros > 0 {
            Ok(Window::Duration(micros))
        } else {
            Err(window_error(
                &micros.to_string(),
                "a window must be longer than zero",
            ))
        }
    }

    /// Parses `lifetime` or a duration in the one grammar of durations
    /// ([`crate::parse_duration_micros`]: `1h`, `7d`, `1d12h`; units `us`, `ms`, `s`, `m`,
    /// `h`, `d`, `w`; case-insensitive, each part a whole number).
    pub fn parse(s: &str) -> Result<Self> {
        if s.trim().eq_ignore_ascii_case("lifetime") {
            return Ok(Window::Lifetime);
        }
        let micros = crate::duration_text::parse_duration_micros(s).map_err(|e| match e {
            Error::InvalidDuration { reason, .. } => window_error(
                s,
                format!("{reason}; write e.g. `1h`, `7d`, `1d12h` or `lifetime` (units us, ms, s, m, h, d, w)"),
            ),
            other => other,
        })?;
        Window::duration(micros).map_err(|_| window_error(s, "a window must be longer than zero"))
    }

    /// The window length in microseconds, `None` for `Lifetime`.
    pub fn length(&self) -> Option<i64> {
        match self {
            Window::Duration(w) => Some(*w),
            Window::Lifetime => None,
        }
    }

    /// The tile size: 5 minutes for windows up to 12 hours, 1 hour up to 12
    /// days, 1 day beyond; `None` for `Lifetime` (one tile holds everything).
    pub fn hop(&self) -> Option<i64> {
        match self {
            Window::Lifetime => None,
            Window::Duration(w) if *w <= 12 * HOUR => Some(5 * MINUTE),
            Window::Duration(w) if *w <= 12 * DAY => Some(HOUR),
            Window::Duration(_) => Some(DAY),
        }
    }

    /// The first event time included as of `t`: `floor_to_hop(t − W)`; `None`
    /// for `Lifetime` (no lower bound). Saturates at `i64::MIN`.
    pub fn start_at(&self, t: i64) -> Option<i64> {
        match (self, self.hop()) {
            (Window::Duration(w), Some(hop)) => Some(tile_start(t.saturating_sub(*w), hop)),
            _ => None,
        }
    }

    /// Whether an event at `ts` is inside the window as of `t`.
    pub fn contains(&self, t: i64, ts: i64) -> bool {
        ts <= t && self.start_at(t).is_none_or(|start| start <= ts)
    }
}

impl FromStr for Window {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Window::parse(s)
    }
}

impl TryFrom<String> for Window {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Window::parse(&s)
    }
}

impl From<Window> for String {
    fn from(w: Window) -> String {
        w.to_string()
    }
}

impl fmt::Display for Window {
    /// Largest units first, up to days (feature names read `7d`, `30d`):
    /// `14d`, `1d12h`, `1m30s`; `lifetime`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = match self {
            Window::Lifetime => return f.write_str("lifetime"),
            Window::Duration(w) if *w <= 0 => return write!(f, "{w}us"),
            Window::Duration(w) => *w,
        };
        for (scale, unit) in [
            (DAY, "d"),
            (HOUR, "h"),
            (MINUTE, "m"),
            (SECOND, "s"),
            (MILLISECOND, "ms"),
            (1, "us"),
        ] {
            if rest >= scale {
                write!(f, "{}{unit}", rest / scale)?;
                rest %= scale;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error as DeError, StrDeserializer};
    use serde::de::IntoDeserializer;

    #[test]
    fn parses_and_prints() {
        let cases = [
            ("1h", HOUR, "1h"),
            ("1d", DAY, "1d"),
            ("7d", 7 * DAY, "7d"),
            ("30d", 30 * DAY, "30d"),
            ("90s", 90 * SECOND, "1m30s"),
            ("15m", 15 * MINUTE, "15m"),
            ("2w", 2 * WEEK, "14d"),
            ("1d12h", DAY + 12 * HOUR, "1d12h"),
            ("250ms", 250 * MILLISECOND, "250ms"),
            (" 1H ", HOUR, "1h"),
        ];
        for (s, micros, shown) in cases {
            let w = Window::parse(s).unwrap();
            assert_eq!(w, Window::Duration(micros), "{s}");
            assert_eq!(w.to_string(), shown);
            assert_eq!(Window::parse(shown).unwrap(), w);
        }
        assert_eq!(Window::parse("Lifetime").unwrap(), Window::Lifetime);
    }

    #[test]
    fn rejects_bad_windows() {
        for s in [
            "",
            "0s",
            "h",
            "1.5h",
            "10",
            "3y",
            "-1h",
            "99999999999999999w",
            "1h x",
        ] {
            assert!(Window::parse(s).is_err(), "{s}");
        }
        assert!(Window::parse("1.5h")
            .unwrap_err()
            .to_string()
            .contains("90m"));
        assert!(Window::duration(0).is_err());
    }

    #[test]
    fn hop_rule() {
        let hop = |s: &str| Window::parse(s).unwrap().hop();
        assert_eq!(hop("90s"), Some(5 * MINUTE));
        assert_eq!(hop("12h"), Some(5 * MINUTE));
        assert_eq!(hop("12h1s"), Some(HOUR));
        assert_eq!(hop("12d"), Some(HOUR));
        assert_eq!(hop("13d"), Some(DAY));
        assert_eq!(hop("lifetime"), None);
    }

    #[test]
    fn window_start_floors_towards_minus_infinity() {
        let w = Window::parse("1h").unwrap();
        assert_eq!(w.start_at(HOUR), Some(0));
        assert_eq!(w.start_at(HOUR + 1), Some(0));
        assert_eq!(w.start_at(0), Some(-HOUR));
        assert_eq!(w.start_at(-1), Some(-HOUR - 5 * MINUTE));
        assert_eq!(w.start_at(i64::MIN), Some(i64::MIN));
        assert_eq!(
            w.start_at(i64::MAX),
            Some(tile_start(i64::MAX - HOUR, 5 * MINUTE))
        );
        assert!(w.contains(HOUR, 0));
        assert!(!w.contains(HOUR, -1));
        assert!(!w.contains(HOUR, HOUR + 1));
        assert!(Window::Lifetime.contains(0, i64::MIN));
        assert_eq!(tile_start(5, 0), 5);
    }

    #[test]
    fn serde_as_string() {
        let de: StrDeserializer<'_, DeError> = "7d".into_deserializer();
        assert_eq!(Window::deserialize(de).unwrap(), Window::Duration(7 * DAY));
        let bad: StrDeserializer<'_, DeError> = "soon".into_deserializer();
        assert!(Window::deserialize(bad).is_err());
    }
}
