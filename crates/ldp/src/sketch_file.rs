//! A sketch persisted in one file, replaced atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::params::LdpParams;
use crate::sketch::Sketch;

/// A sketch file: [`SketchFile::save`] writes a temporary file next to it, syncs
/// it, renames it over the old one and syncs the directory, so a crash at any
/// point leaves either the old or the new sketch, never a torn one (the checksum
/// of [`Sketch::to_bytes`] would catch one anyway).
#[derive(Debug, Clone)]
pub struct SketchFile {
    path: PathBuf,
}

impl SketchFile {
    /// The file at `path` (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored sketch, or an empty one when the file does not exist. A stored
    /// sketch with other parameters than `params` (the definition changed) is an
    /// error: its reports cannot be mixed with new ones.
    pub fn load_or_new(&self, params: LdpParams) -> Result<Sketch> {
        match self.load()? {
            None => Ok(Sketch::new(params)),
            Some(sketch) => {
                if sketch.params() != &params {
                    return Err(Error::ParameterMismatch {
                        reason: format!(
                            "{} holds a sketch made with {}, but the definition now says {}; move the file away to start a new sketch",
                            self.path.display(),
                            sketch.params(),
                            params
                        ),
                    });
                }
                Ok(sketch)
            }
        }
    }

    /// The stored sketch, `None` when the file does not exist.
    pub fn load(&self) -> Result<Option<Sketch>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Sketch::from_bytes(&bytes, &self.path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(self.io("read", &self.path, source)),
        }
    }

    /// Replaces the stored sketch, durably.
    pub fn save(&self, sketch: &Sketch) -> Result<()> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io("create directory", dir, e))?;
        let tmp = self.path.with_extension("sketch.tmp");
        let bytes = sketch.to_bytes();
        let mut file = std::fs::File::create(&tmp).map_err(|e| self.io("create", &tmp, e))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| self.io("write", &tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io("rename", &tmp, e))?;
        if let Ok(d) = std::fs::File::open(dir) {
            d.sync_all().map_err(|e| self.io("sync", dir, e))?;
        }
        Ok(())
    }

    fn io(&self, action: &'static str, path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            action,
            path: path.display().to_string(),
            source,
        }
    }
}
