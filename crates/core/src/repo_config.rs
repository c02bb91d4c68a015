use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audit_log_config::AuditLogConfig;
use crate::definitions::yaml_message;
use crate::error::{Error, Result};

/// `tessera.yaml`: where a repository keeps its registry, stores and audit log.
///
/// Relative paths are relative to the repository directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// The project name.
    pub project: String,
    /// Directory of the versioned registry.
    #[serde(default = "default_registry")]
    pub registry: String,
    /// The offline store.
    #[serde(default)]
    pub offline_store: OfflineStoreConfig,
    /// The online store.
    #[serde(default)]
    pub online_store: OnlineStoreConfig,
    /// The append-only audit log: its directory, or a map with its durability and rotation
    /// (see [`AuditLogConfig`]). Dereferences to the directory.
    #[serde(default)]
    pub audit_log: AuditLogConfig,
    /// The feature server's limits and timeouts (`server:`; every key optional).
    #[serde(default, skip_serializing_if = "crate::server_settings::is_default")]
    pub server: crate::server_settings::ServerSettings,
    /// Bounds of every write path (how far ahead of the clock a row may be stamped).
    #[serde(default)]
    pub writes: crate::write_settings::WritesConfig,
    /// Compaction of stream sources' offline logs.
    #[serde(default)]
    pub offline_log: crate::write_settings::OfflineLogConfig,
    /// A source of consent events (`consent:`), read into the consent log by
    /// `tessera consent sync` (see [`crate::ConsentSourceConfig`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<crate::consent_source::ConsentSourceConfig>,
}

fn default_registry() -> String {
    ".tessera/registry".to_string()
}

/// Where offline data (materialised tables, ingested logs) is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineStoreConfig {
    /// A local directory.
    pub path: String,
}

impl Default for OfflineStoreConfig {
    fn default() -> Self {
        Self {
            path: "data/offline".to_string(),
        }
    }
}

/// Which online store serves the latest feature values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OnlineStoreConfig {
    /// An embedded key-value store in one directory.
    Embedded {
        /// The directory.
        path: String,
    },
    /// A Redis server.
    Redis {
        /// `redis://host:port/db`.
        url: String,
    },
}

impl Default for OnlineStoreConfig {
    fn default() -> Self {
        OnlineStoreConfig::Embedded {
            path: ".tessera/online".to_string(),
        }
    }
}

impl RepoConfig {
    /// The file name every repository has at its root.
    pub const FILE_NAME: &'static str = "tessera.yaml";

    /// Parses `tessera.yaml` text; `file` is used in error messages.
    pub fn from_yaml_str(text: &str, file: &Path) -> Result<Self> {
        let cfg: RepoConfig = serde_yaml::from_str(text).map_err(|e| Error::Yaml {
            path: file.to_path_buf(),
            message: yaml_message(&e, text),
        })?;
        if cfg.project.trim().is_empty() {
            return Err(Error::Yaml {
                path: file.to_path_buf(),
                message: "`project` is empty (hint: name the project, e.g. `project: media`)"
                    .to_string(),
            });
        }
        Ok(cfg)
    }

    /// Resolves a configured path against the repository root.
    pub fn resolve(root: &Path, configured: &str) -> PathBuf {
        let p = Path::new(configured);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            root.join(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_shape() {
        let text = "project: media\nregistry: .tessera/registry\noffline_store: { path: data/offline }\nonline_store: { type: embedded, path: .tessera/online }\naudit_log: .tessera/audit\n";
        let cfg = RepoConfig::from_yaml_str(text, Path::new("tessera.yaml")).unwrap();
        assert_eq!(cfg.project, "media");
        let redis = "project: m\nonline_store: { type: redis, url: redis://127.0.0.1:6379/0 }\n";
        let cfg = RepoConfig::from_yaml_str(redis, Path::new("tessera.yaml")).unwrap();
        assert!(matches!(cfg.online_store, OnlineStoreConfig::Redis { .. }));
        assert_eq!(cfg.registry, ".tessera/registry");
    }

    #[test]
    fn reads_the_server_section() {
        let text = "project: m\nserver: { max_connections: 64, idle_timeout: 30s }\n";
        let cfg = RepoConfig::from_yaml_str(text, Path::new("tessera.yaml")).unwrap();
        assert_eq!(cfg.server.max_connections, Some(64));
        assert_eq!(
            cfg.server.idle_timeout,
            Some(std::time::Duration::from_secs(30))
        );
        let err = RepoConfig::from_yaml_str(
            "project: m\nserver: { idle_timeout: forever }\n",
            Path::new("tessera.yaml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
    }

    #[test]
    fn refuses_unknown_store_type() {
        let err = RepoConfig::from_yaml_str(
            "project: m\nonline_store: { type: cassandra }\n",
            Path::new("tessera.yaml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("cassandra"), "{err}");
    }
}
