use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::definitions::Definitions;
use crate::error::{Error, Result};
use crate::repo_config::RepoConfig;

/// A feature repository on disk: `tessera.yaml` plus definition files.
#[derive(Debug, Clone)]
pub struct FeatureRepo {
    /// The repository directory.
    pub root: PathBuf,
    /// The parsed `tessera.yaml`.
    pub config: RepoConfig,
    /// The validated definitions.
    pub catalog: Catalog,
}

impl FeatureRepo {
    /// Loads `tessera.yaml` and every definition file (`*.yaml`, `*.yml` anywhere below
    /// the root, except hidden directories, `target` and the offline store), then validates
    /// the definitions together.
    pub fn load(root: &Path) -> Result<Self> {
        let (config, defs) = Self::read_definitions(root)?;
        Self::from_definitions(root, config, defs)
    }

    /// Validates definitions read with [`FeatureRepo::read_definitions`] (perhaps completed
    /// in between, e.g. with aggregation column types read from the sources).
    pub fn from_definitions(
        root: &Path,
        config: RepoConfig,
        defs: Vec<(PathBuf, Definitions)>,
    ) -> Result<Self> {
        let catalog = Catalog::build_from_files(defs).map_err(Error::Invalid)?;
        Ok(Self {
            root: root.to_path_buf(),
            config,
            catalog,
        })
    }

    /// Reads `tessera.yaml` and every definition file, without validating them together.
    pub fn read_definitions(root: &Path) -> Result<(RepoConfig, Vec<(PathBuf, Definitions)>)> {
        let config = Self::load_config(root)?;
        let mut files = Vec::new();
        let offline = RepoConfig::resolve(root, &config.offline_store.path);
        collect_yaml(root, root, &offline, &mut files)?;
        files.sort();
        let defs = files
            .iter()
            .map(|f| {
                let rel = f.strip_prefix(root).unwrap_or(f);
                let text = std::fs::read_to_string(f).map_err(|source| Error::Io {
                    path: f.clone(),
                    source,
                })?;
                Definitions::from_yaml_str(&text, rel).map(|d| (rel.to_path_buf(), d))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((config, defs))
    }

    /// Loads only `tessera.yaml`.
    pub fn load_config(root: &Path) -> Result<RepoConfig> {
        let path = root.join(RepoConfig::FILE_NAME);
        if !path.is_file() {
            return Err(Error::NotARepo {
                dir: root.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        RepoConfig::from_yaml_str(&text, Path::new(RepoConfig::FILE_NAME))
    }

    /// A path from `tessera.yaml`, resolved against the root.
    pub fn path(&self, configured: &str) -> PathBuf {
        RepoConfig::resolve(&self.root, configured)
    }
}

fn collect_yaml(root: &Path, dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let ft = entry.file_type().map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        if ft.is_dir() {
            if name == "target" || name == "node_modules" || path == skip {
                continue;
            }
            collect_yaml(root, &path, skip, out)?;
        } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
            && !(dir == root && name == RepoConfig::FILE_NAME)
        {
            out.push(path);
        }
    }
    Ok(())
}
