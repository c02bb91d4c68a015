//! `audit_log:` in `tessera.yaml`: where the audit log lives, when it reaches the disk, and
//! how it rotates.
//!
//! Either a path (`audit_log: .tessera/audit`, as always), or a map:
//!
//! ```yaml
//! audit_log:
//!   path: .tessera/audit
//!   sync: batch            # always | batch | none
//!   sync_interval: 1s      # with `batch`: the longest a record stays unsynced
//!   rotate: { size: 256MB, age: 1d }
//!   retain: { files: 30, age: 90d }
//! ```

use std::fmt;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::{format_duration, parse_duration};

/// When an audit record reaches the disk. In every mode a server writes the record to the
/// file before it answers the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditSync {
    /// Synced (`fdatasync`) before the answer: survives power loss.
    Always,
    /// Synced at most every `sync_interval`.
    #[default]
    Batch,
    /// Left to the operating system.
    None,
}

/// The `audit_log:` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLogConfig {
    /// Directory of the log (relative to the repository).
    pub path: String,
    /// When records reach the disk.
    pub sync: AuditSync,
    /// With [`AuditSync::Batch`], the longest a written record stays unsynced.
    pub sync_interval: Duration,
    /// Rotate the active file once it holds this many bytes.
    pub rotate_bytes: Option<u64>,
    /// Rotate the active file once its first record is this old.
    pub rotate_age: Option<Duration>,
    /// Keep at most this many rotated files.
    pub retain_files: Option<usize>,
    /// Delete rotated files older than this.
    pub retain_age: Option<Duration>,
}

impl Default for AuditLogConfig {
    fn default() -> Self {
        Self::at(".tessera/audit")
    }
}

impl AuditLogConfig {
    /// The defaults, at `path`.
    pub fn at(path: &str) -> Self {
        Self {
            path: path.to_string(),
            sync: AuditSync::Batch,
            sync_interval: Duration::from_secs(1),
            rotate_bytes: None,
            rotate_age: None,
            retain_files: None,
            retain_age: None,
        }
    }
}

/// The path, so that `&cfg.audit_log` still reads as the directory it always was.
impl std::ops::Deref for AuditLogConfig {
    type Target = str;
    fn deref(&self) -> &str {
        &self.path
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sync: Option<AuditSync>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sync_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotate: Option<RawRotate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retain: Option<RawRetain>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRotate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<SizeText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    age: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetain {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    files: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    age: Option<String>,
}

/// `256MB` or a number of bytes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum SizeText {
    Bytes(u64),
    Text(String),
}

/// Parses `512KB`, `256MB`, `1GB` (powers of 1024) or `1048576` into bytes.
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..digits].parse().ok()?;
    let unit: u64 = match t[digits..].trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(unit)
}

fn duration_of<E: de::Error>(key: &str, text: &str) -> Result<Duration, E> {
    match parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(E::custom(format!(
            "audit_log: `{key}: {text}` is not a duration (hint: e.g. 90s, 15m, 1h, 7d)"
        ))),
    }
}

impl Raw {
    fn into_config<E: de::Error>(self) -> Result<AuditLogConfig, E> {
        let mut cfg = AuditLogConfig::at(self.path.as_deref().unwrap_or(".tessera/audit"));
        if let Some(s) = self.sync {
            cfg.sync = s;
        }
        if let Some(t) = &self.sync_interval {
            cfg.sync_interval = duration_of("sync_interval", t)?;
        }
        if let Some(r) = self.rotate {
            cfg.rotate_bytes = match r.size {
                None => None,
                Some(SizeText::Bytes(0)) => None,
                Some(SizeText::Bytes(n)) => Some(n),
                Some(SizeText::Text(t)) => Some(parse_size(&t).filter(|n| *n > 0).ok_or_else(|| {
                    E::custom(format!("audit_log: `rotate.size: {t}` is not a size (hint: e.g. 256MB, 1GB, or a number of bytes)"))
                })?),
            };
            cfg.rotate_age = r
                .age
                .as_deref()
                .map(|t| duration_of("rotate.age", t))
                .transpose()?;
        }
        if let Some(r) = self.retain {
            if cfg.rotate_bytes.is_none() && cfg.rotate_age.is_none() {
                return Err(E::custom(
                    "audit_log: `retain` applies to rotated files, but nothing rotates (hint: add `rotate: { size: 256MB }` or `rotate: { age: 1d }`)",
                ));
            }
            if r.files == Some(0) {
                return Err(E::custom(
                    "audit_log: `retain.files: 0` would delete every rotated file (hint: keep at least 1, or leave `retain` out to keep them all)",
                ));
            }
            cfg.retain_files = r.files;
            cfg.retain_age = r
                .age
                .as_deref()
                .map(|t| duration_of("retain.age", t))
                .transpose()?;
        }
        Ok(cfg)
    }
}

impl<'de> Deserialize<'de> for AuditLogConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AuditLogConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a directory, or a map with `path`, `sync`, `sync_interval`, `rotate`, `retain`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AuditLogConfig::at(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Raw::deserialize(de::value::MapAccessDeserializer::new(map))?.into_config()
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for AuditLogConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if *self == AuditLogConfig::at(&self.path) {
            return serializer.serialize_str(&self.path);
        }
        let rotating = self.rotate_bytes.is_some() || self.rotate_age.is_some();
        let retaining = self.retain_files.is_some() || self.retain_age.is_some();
        Raw {
            path: Some(self.path.clone()),
            sync: Some(self.sync),
            sync_interval: Some(format_duration(self.sync_interval)),
            rotate: rotating.then(|| RawRotate {
                size: self.rotate_bytes.map(SizeText::Bytes),
                age: self.rotate_age.map(format_duration),
            }),
            retain: retaining.then(|| RawRetain {
                files: self.retain_files,
                age: self.retain_age.map(format_duration),
            }),
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::RepoConfig;

    fn parse(audit: &str) -> crate::Result<AuditLogConfig> {
        RepoConfig::from_yaml_str(
            &format!("project: m\naudit_log: {audit}\n"),
            Path::new("tessera.yaml"),
        )
        .map(|c| c.audit_log)
    }

    #[test]
    fn a_path_or_a_map() {
        assert_eq!(parse(".tessera/audit").unwrap(), AuditLogConfig::default());
        let c = parse("{ path: /var/log/t, sync: always, rotate: { size: 256MB, age: 1d }, retain: { files: 30, age: 90d } }").unwrap();
        assert_eq!(&*c, "/var/log/t");
        assert_eq!(c.sync, AuditSync::Always);
        assert_eq!(c.rotate_bytes, Some(256 << 20));
        assert_eq!(c.rotate_age, Some(Duration::from_secs(86_400)));
        assert_eq!(c.retain_files, Some(30));
        assert_eq!(c.retain_age, Some(Duration::from_secs(90 * 86_400)));
        let c = parse("{ sync: none, rotate: { size: 4096 } }").unwrap();
        assert_eq!(
            (c.path.as_str(), c.sync, c.rotate_bytes),
            (".tessera/audit", AuditSync::None, Some(4096))
        );
        // Both forms round-trip.
        for c in [AuditLogConfig::default(), c] {
            let text = serde_yaml::to_string(&c).unwrap();
            assert_eq!(serde_yaml::from_str::<AuditLogConfig>(&text).unwrap(), c);
        }
    }

    #[test]
    fn bad_settings_say_what_to_write() {
        for (bad, says) in [
            ("{ sync: sometimes }", "unknown variant `sometimes`"),
            ("{ rotate: { size: 12XB } }", "hint: e.g. 256MB"),
            (
                "{ rotate: { age: soon } }",
                "`rotate.age: soon` is not a duration",
            ),
            ("{ retain: { files: 3 } }", "nothing rotates"),
            (
                "{ rotate: { size: 1MB }, retain: { files: 0 } }",
                "keep at least 1",
            ),
            ("{ paht: x }", "unknown field `paht`"),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
