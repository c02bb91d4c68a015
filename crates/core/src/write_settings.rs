//! The `writes:` and `offline_log:` sections of `tessera.yaml`: how far ahead of the clock
//! a written row may be stamped, and how the offline logs of stream sources are compacted.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::{format_duration, parse_duration};

/// A duration written as in the rest of the definitions (`90s`, `5m`, `1h`, `7d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub Duration);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(0) => Ok(Span(Duration::ZERO)),
            Raw::Num(n) => Ok(Span(Duration::from_secs(n))),
            Raw::Text(t) if t.trim() == "0" => Ok(Span(Duration::ZERO)),
            Raw::Text(t) => parse_duration(&t).map(Span).map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{t}` is not a duration (hint: a number and a unit, e.g. 90s, 5m, 1h, 7d)"
                ))
            }),
        }
    }
}

/// `writes:` — bounds every write path applies (HTTP writes and pushes, stream events,
/// materialisation, device records).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WritesConfig {
    /// A row or event stamped more than this ahead of the clock is refused (or, for stream
    /// events, counted as `future` and not applied): "newer wins" would otherwise let it
    /// hide every real write until that time.
    #[serde(default = "default_max_future")]
    pub max_future: Span,
}

fn default_max_future() -> Span {
    Span(Duration::from_secs(5 * 60))
}

impl Default for WritesConfig {
    fn default() -> Self {
        Self {
            max_future: default_max_future(),
        }
    }
}

/// `offline_log:` — compaction of the Parquet files stream ingestion appends to each stream
/// source's `path` (one small file per batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineLogConfig {
    /// How often `tessera serve` and `tessera ingest` compact in the background (`0`: never;
    /// `tessera compact` still works).
    #[serde(default = "default_compact_every")]
    pub compact_every: Span,
    /// A compaction starts only when at least this many small files can be merged.
    #[serde(default = "default_min_files")]
    pub compact_min_files: usize,
    /// Merged files hold about this many rows at most.
    #[serde(default = "default_target_rows")]
    pub compact_target_rows: usize,
    /// Files a compaction merged are deleted only once the merged file is this old, so a
    /// reader that listed the directory before may still open them.
    #[serde(default = "default_grace")]
    pub compact_grace: Span,
}

fn default_compact_every() -> Span {
    Span(Duration::from_secs(5 * 60))
}

fn default_min_files() -> usize {
    64
}

fn default_target_rows() -> usize {
    1_000_000
}

fn default_grace() -> Span {
    Span(Duration::from_secs(3600))
}

impl Default for OfflineLogConfig {
    fn default() -> Self {
        Self {
            compact_every: default_compact_every(),
            compact_min_files: default_min_files(),
            compact_target_rows: default_target_rows(),
            compact_grace: default_grace(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_print() {
        let w: WritesConfig = serde_yaml::from_str("max_future: 10m").unwrap();
        assert_eq!(w.max_future, Span(Duration::from_secs(600)));
        assert_eq!(w.max_future.to_string(), "10m");
        let w: WritesConfig = serde_yaml::from_str("max_future: 0").unwrap();
        assert_eq!(w.max_future.0, Duration::ZERO);
        let err = serde_yaml::from_str::<WritesConfig>("max_future: soon").unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
        let o: OfflineLogConfig = serde_yaml::from_str("compact_grace: 0").unwrap();
        assert_eq!(o.compact_grace.0, Duration::ZERO);
        assert_eq!(o.compact_min_files, 64);
    }
}
