//! The wall clock, in µs since the Unix epoch.

/// Now, in µs since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
