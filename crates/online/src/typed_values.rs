//! Checking written values against a feature's declared type, and reading timestamps.
//!
//! Protocol layers hand over values as loosely typed as their wire format (a JSON number
//! becomes `Int64` or `Float64`, a JSON string `String`); here each value is checked against
//! the [`FeatureType`] the view declares and converted to what the store keeps:
//! - integers fit their declared width; a float with no fractional part is taken as an
//!   integer (JSON writers often print `3.0`);
//! - floats accept integers;
//! - timestamps are ISO 8601 / RFC 3339 strings (`2026-04-02T00:00:00Z`; no offset means
//!   UTC; a bare date means midnight UTC);
//! - bytes arrive as base64 strings (standard alphabet, with or without padding);
//! - `null` is accepted for every type.

use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use tessera_core::FeatureType;
use tessera_value::Value;

/// The largest integer a float holds exactly.
const MAX_EXACT_FLOAT_INT: f64 = 9_007_199_254_740_992.0;

/// Checks and converts one value; `Err` describes the problem.
pub fn coerce(value: Value, ty: &FeatureType) -> Result<Value, String> {
    use FeatureType as T;
    let bad = |v: &Value| Err(format!("expected {ty}, got {}", describe(v)));
    match (ty, value) {
        (_, Value::Null) => Ok(Value::Null),
        (T::Int64, Value::Int64(n)) => Ok(Value::Int64(n)),
        (T::Int32, Value::Int64(n)) => {
            if i32::try_from(n).is_ok() {
                Ok(Value::Int64(n))
            } else {
                Err(format!("{n} does not fit in int32"))
            }
        }
        (T::Int64 | T::Int32, Value::Float64(f))
            if f.fract() == 0.0 && f.abs() <= MAX_EXACT_FLOAT_INT =>
        {
            coerce(Value::Int64(f as i64), ty)
        }
        (T::Float64 | T::Float32, Value::Float64(f)) => Ok(Value::Float64(f)),
        (T::Float64 | T::Float32, Value::Int64(n)) => Ok(Value::Float64(n as f64)),
        (T::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
        (T::String, Value::String(s)) => Ok(Value::String(s)),
        (T::Bytes, Value::Bytes(b)) => Ok(Value::Bytes(b)),
        (T::Bytes, Value::String(s)) => decode_base64(&s).map(Value::Bytes).ok_or_else(|| {
            format!(
                "expected bytes as base64, got {}",
                describe(&Value::String(s))
            )
        }),
        (T::Timestamp, Value::Timestamp(t)) => Ok(Value::Timestamp(t)),
        (T::Timestamp, Value::String(s)) => {
            parse_timestamp(&s).map(Value::Timestamp).ok_or_else(|| {
                format!(
                    "{s:?} is not a timestamp (hint: write ISO 8601, e.g. 2026-04-02T00:00:00Z)"
                )
            })
        }
        (T::Timestamp, n @ (Value::Int64(_) | Value::Float64(_))) => Err(format!(
            "expected a timestamp, got {} (hint: write ISO 8601, e.g. 2026-04-02T00:00:00Z; numbers are refused because their unit — s, ms or µs — would be a guess)",
            describe(&n)
        )),
        (T::List(inner), Value::List(items)) => items
            .into_iter()
            .map(|v| coerce(v, inner))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
        (_, other) => bad(&other),
    }
}

/// Parses an ISO 8601 / RFC 3339 timestamp into µs since the epoch. Without an offset it is
/// UTC; a bare date is midnight UTC.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    if let Ok(dt) = DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(dt.timestamp_micros());
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp_micros())
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
        .ok()
}

/// A short description of a value for error messages.
pub fn describe(v: &Value) -> String {
    const MAX: usize = 40;
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Int64(n) => format!("the integer {n}"),
        Value::Float64(f) => format!("the number {f}"),
        Value::String(s) if s.chars().count() > MAX => {
            format!("the string {:?}…", s.chars().take(MAX).collect::<String>())
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Bytes(b) => format!("{} bytes", b.len()),
        Value::Timestamp(t) => format!("the timestamp {t}us"),
        Value::List(items) => format!("a list of {}", items.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_not_guessed_as_timestamps() {
        let e = coerce(Value::Int64(1_796_140_000), &FeatureType::Timestamp).unwrap_err();
        assert!(e.contains("ISO 8601") && e.contains("1796140000"), "{e}");
        assert!(coerce(Value::Float64(1.5), &FeatureType::Timestamp).is_err());
    }

    #[test]
    fn coerces_by_declared_type() {
        assert_eq!(
            coerce(Value::Int64(3), &FeatureType::Float64),
            Ok(Value::Float64(3.0))
        );
        assert_eq!(
            coerce(Value::Float64(3.0), &FeatureType::Int64),
            Ok(Value::Int64(3))
        );
        assert!(coerce(Value::Float64(3.5), &FeatureType::Int64).is_err());
        assert!(coerce(Value::Int64(1 << 40), &FeatureType::Int32).is_err());
        assert!(coerce(Value::String("x".into()), &FeatureType::Float64)
            .unwrap_err()
            .contains("expected float64, got the string \"x\""));
        assert_eq!(coerce(Value::Null, &FeatureType::Bool), Ok(Value::Null));
        assert_eq!(
            coerce(Value::String("AQI=".into()), &FeatureType::Bytes),
            Ok(Value::Bytes(vec![1, 2]))
        );
        let list = FeatureType::List(Box::new(FeatureType::Float64));
        assert_eq!(
            coerce(Value::List(vec![Value::Int64(1), Value::Null]), &list),
            Ok(Value::List(vec![Value::Float64(1.0), Value::Null]))
        );
    }

    #[test]
    fn parses_timestamps() {
        let day = 86_400_000_000i64;
        let t = parse_timestamp("1970-01-02T00:00:00").unwrap();
        assert_eq!(t, day);
        assert_eq!(parse_timestamp("1970-01-02T00:00:00Z"), Some(day));
        assert_eq!(parse_timestamp("1970-01-02T01:00:00+01:00"), Some(day));
        assert_eq!(
            parse_timestamp("1970-01-02 00:00:00.5"),
            Some(day + 500_000)
        );
        assert_eq!(parse_timestamp("1970-01-02"), Some(day));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
