use std::io::Write;
use std::path::{Path, PathBuf};

use tessera_core::{Definitions, DefinitionsDiff};

use crate::error::{Error, Result};
use crate::{ApplyOutcome, Registry, RegistryVersion};

/// A registry kept as one JSON file per version (`v000001.json`, …) in a directory.
#[derive(Debug, Clone)]
pub struct FileRegistry {
    dir: PathBuf,
}

impl FileRegistry {
    /// A registry in `dir` (created on first apply).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn file(&self, version: u64) -> PathBuf {
        self.dir.join(format!("v{version:06}.json"))
    }

    fn versions(&self) -> Result<Vec<u64>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(source) => {
                return Err(Error::Io {
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(|source| Error::Io {
                path: self.dir.clone(),
                source,
            })?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_prefix('v').and_then(|r| r.strip_suffix(".json")) {
                if let Ok(v) = n.parse() {
                    out.push(v);
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn read(&self, version: u64) -> Result<RegistryVersion> {
        let path = self.file(version);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| Error::Corrupt { path, source })
    }
}

impl Registry for FileRegistry {
    fn latest(&self) -> Result<Option<RegistryVersion>> {
        match self.versions()?.last() {
            Some(&v) => self.read(v).map(Some),
            None => Ok(None),
        }
    }

    fn get(&self, version: u64) -> Result<RegistryVersion> {
        let versions = self.versions()?;
        if !versions.contains(&version) {
            return Err(Error::NoSuchVersion {
                version,
                latest: versions.last().copied().unwrap_or(0),
            });
        }
        self.read(version)
    }

    fn history(&self) -> Result<Vec<RegistryVersion>> {
        self.versions()?.into_iter().map(|v| self.read(v)).collect()
    }

    fn apply(&self, project: &str, definitions: &Definitions) -> Result<ApplyOutcome> {
        let new = definitions.clone().sorted();
        let latest = self.latest()?;
        let (prev_version, old) = match &latest {
            Some(v) => (v.version, v.definitions.clone()),
            None => (0, Definitions::default()),
        };
        let diff = DefinitionsDiff::between(&old, &new);
        if latest.is_some() && diff.is_empty() {
            return Ok(ApplyOutcome::Unchanged {
                version: prev_version,
            });
        }
        let version = prev_version + 1;
        let summary = diff.to_string().lines().last().unwrap_or("").to_string();
        let record = RegistryVersion {
            version,
            applied_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            applied_by: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            project: project.to_string(),
            summary,
            diff: diff.clone(),
            definitions: new,
        };
        std::fs::create_dir_all(&self.dir).map_err(|source| Error::Io {
            path: self.dir.clone(),
            source,
        })?;
        let tmp = self
            .dir
            .join(format!(".v{version:06}.tmp-{}", std::process::id()));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        {
            let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            let text = serde_json::to_string_pretty(&record).map_err(|source| Error::Corrupt {
                path: tmp.clone(),
                source,
            })?;
            f.write_all(text.as_bytes()).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        let target = self.file(version);
        let linked = std::fs::hard_link(&tmp, &target);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(ApplyOutcome::Applied { version, diff }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::Conflict { version })
            }
            Err(source) => Err(Error::Io {
                path: target,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs(extra: &str) -> Definitions {
        Definitions::from_yaml_str(
            &format!("entities: [{{ name: user, join_keys: [user_id] }}{extra}]"),
            Path::new("f"),
        )
        .unwrap()
    }

    #[test]
    fn versions_accumulate_and_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        let reg = FileRegistry::new(&dir.path().join("reg"));
        assert!(reg.latest().unwrap().is_none());
        assert_eq!(reg.plan(&defs("")).unwrap().changes.len(), 1);
        reg.apply("p", &defs("")).unwrap();
        let out = reg
            .apply("p", &defs(", { name: item, join_keys: [item_id] }"))
            .unwrap();
        assert!(matches!(out, ApplyOutcome::Applied { version: 2, .. }));
        let hist = reg.history().unwrap();
        assert_eq!(hist.len(), 2);
        assert_eq!(hist[0].definitions.entities.len(), 1);
        assert_eq!(reg.get(2).unwrap().definitions.entities.len(), 2);
        assert!(matches!(
            reg.get(7),
            Err(Error::NoSuchVersion {
                version: 7,
                latest: 2
            })
        ));
        assert!(reg
            .plan(&defs(", { name: item, join_keys: [item_id] }"))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn an_existing_version_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let reg = FileRegistry::new(dir.path());
        reg.apply("p", &defs("")).unwrap();
        // A stale snapshot claims version 1 again under file v2, as a racing apply would.
        std::fs::copy(reg.file(1), reg.file(2)).unwrap();
        let before = std::fs::read(reg.file(2)).unwrap();
        let out = reg.apply("p", &defs(", { name: item, join_keys: [item_id] }"));
        assert!(
            matches!(out, Err(Error::Conflict { version: 2 })),
            "{out:?}"
        );
        assert_eq!(std::fs::read(reg.file(2)).unwrap(), before);
    }
}
