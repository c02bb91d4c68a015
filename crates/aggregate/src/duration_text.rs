//! The one grammar of durations in Tessera: windows, `ttl`, `allowed_lateness`, cache TTLs
//! and command-line flags all parse through [`parse_duration_micros`].
//!
//! A duration is a sum of parts, each a whole number and a unit, without spaces:
//! `500ms`, `90s`, `15m`, `1h`, `7d`, `2w`, `1d12h`. Units: `us`, `ms`, `s`, `m`, `h`, `d`,
//! `w` (case-insensitive). Nothing else is accepted (`7days`, `1.5h`, `7 d` are refused), so
//! a typo is an error rather than a surprise.

use crate::error::{Error, Result};
use crate::window::{DAY, HOUR, MILLISECOND, MINUTE, SECOND, WEEK};

/// The accepted forms, as error hints print them.
pub const DURATION_FORMS: &str =
    "a whole number and a unit (us, ms, s, m, h, d, w), combinable: 500ms, 90s, 15m, 1h, 7d, 2w, 1d12h";

fn bad(input: &str, reason: impl Into<String>) -> Error {
    Error::InvalidDuration {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

/// Parses a duration (see the module docs) into microseconds; zero is allowed (`0s`).
///
/// ```
/// use tessera_aggregate::{parse_duration_micros, HOUR, DAY};
/// assert_eq!(parse_duration_micros("1d12h")?, DAY + 12 * HOUR);
/// assert!(parse_duration_micros("7days").unwrap_err().to_string().contains("7d"));
/// # Ok::<(), tessera_aggregate::Error>(())
/// ```
pub fn parse_duration_micros(text: &str) -> Result<i64> {
    let lower = text.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return Err(bad(text, "it is empty"));
    }
    let mut total: i64 = 0;
    let mut rest = lower.as_str();
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad(
                text,
                "expected a whole number before each unit, e.g. `90m` rather than `1.5h`",
            ));
        }
        let (num, tail) = rest.split_at(digits);
        let letters = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(letters);
        let scale = match unit {
            "us" => 1,
            "ms" => MILLISECOND,
            "s" => SECOND,
            "m" => MINUTE,
            "h" => HOUR,
            "d" => DAY,
            "w" => WEEK,
            "" if tail.starts_with('.') => {
                return Err(bad(
                    text,
                    "fractions are not supported; write `90m` rather than `1.5h`",
                ))
            }
            "" if tail.is_empty() => return Err(bad(text, "the number has no unit")),
            "" => return Err(bad(text, format!("unexpected `{tail}`"))),
            other => return Err(bad(text, unknown_unit(other))),
        };
        total = num
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| bad(text, "too long"))?;
        rest = tail;
    }
    Ok(total)
}

/// Names the unit that was probably meant: `days` → `d`.
fn unknown_unit(unit: &str) -> String {
    let meant = match unit {
        "ns" | "nanos" => Some("us (the smallest unit)"),
        "sec" | "secs" | "second" | "seconds" => Some("s"),
        "min" | "mins" | "minute" | "minutes" => Some("m"),
        "hr" | "hrs" | "hour" | "hours" => Some("h"),
        "day" | "days" => Some("d"),
        "week" | "weeks" => Some("w"),
        _ => None,
    };
    match meant {
        Some(u) => format!("unknown unit `{unit}`; write `{u}`"),
        None => format!("unknown unit `{unit}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        for (text, micros) in [
            ("500ms", 500 * MILLISECOND),
            ("90s", 90 * SECOND),
            ("15m", 15 * MINUTE),
            ("1h", HOUR),
            ("7d", 7 * DAY),
            ("2w", 2 * WEEK),
            ("1d12h", DAY + 12 * HOUR),
            ("10us", 10),
            ("0s", 0),
            (" 1H ", HOUR),
        ] {
            assert_eq!(parse_duration_micros(text).unwrap(), micros, "{text}");
        }
    }

    #[test]
    fn refuses_everything_else_with_the_forms() {
        for text in [
            "",
            "7days",
            "90days",
            "7 d",
            "1.5h",
            "h",
            "10",
            "-1h",
            "1h x",
            "3y",
            "5ns",
            "99999999999999999w",
        ] {
            let e = parse_duration_micros(text).unwrap_err().to_string();
            assert!(e.contains("1d12h"), "{text}: {e}");
        }
        let e = parse_duration_micros("90days").unwrap_err().to_string();
        assert!(e.contains("write `d`"), "{e}");
    }
}
