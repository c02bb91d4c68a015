//! [`LdpSketches`]: the server's sketches of the `ldp_reports:` definitions, one file each
//! under the repository's `.tessera/ldp/` (`NAME.sketch`), replaced atomically after every
//! batch, so a crash loses no acknowledged batch and never tears a sketch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tessera_core::Catalog;
use tessera_ldp::{LdpParams, Sketch, SketchFile};

/// The directory of the sketches, relative to the repository root.
pub const LDP_DIR: &str = ".tessera/ldp";

/// The sketch file of a report in a repository.
pub fn sketch_path(repo: &Path, report: &str) -> PathBuf {
    repo.join(LDP_DIR).join(format!("{report}.sketch"))
}

/// One report's sketch and its file.
#[derive(Debug)]
struct Entry {
    params: LdpParams,
    file: SketchFile,
    /// Loaded on first use.
    sketch: Option<Sketch>,
}

/// The sketches of every declared report, loaded on first use.
#[derive(Debug)]
pub struct LdpSketches {
    entries: BTreeMap<String, Mutex<Entry>>,
}

/// What went wrong with a report's sketch.
#[derive(Debug)]
pub(crate) enum SketchError {
    /// No such report is declared.
    Unknown,
    /// The batch's parameters are not the definition's.
    Mismatch(String),
    /// The stored sketch cannot be read or written.
    Storage(tessera_ldp::Error),
}

impl LdpSketches {
    /// The sketches of the catalog's `ldp_reports:`, stored under `repo/.tessera/ldp/`.
    /// Definitions whose parameters do not check are left out (validation refuses them).
    pub fn new(repo: &Path, catalog: &Catalog) -> Arc<Self> {
        let entries = catalog
            .ldp_reports()
            .values()
            .filter_map(|def| {
                let params = def.params().ok()?;
                Some((
                    def.name.clone(),
                    Mutex::new(Entry {
                        params,
                        file: SketchFile::new(sketch_path(repo, &def.name)),
                        sketch: None,
                    }),
                ))
            })
            .collect();
        Arc::new(Self { entries })
    }

    /// Merges `delta` (a decoded batch) into the report's sketch and stores it durably
    /// before returning. Blocking (file I/O): call it off the async workers. Returns the
    /// sketch's report count after the merge.
    pub(crate) fn ingest(&self, report: &str, delta: &Sketch) -> Result<u64, SketchError> {
        let entry = self.entries.get(report).ok_or(SketchError::Unknown)?;
        let mut entry = entry.lock().unwrap_or_else(|p| p.into_inner());
        entry
            .params
            .check_same(delta.params())
            .map_err(|e| SketchError::Mismatch(e.to_string()))?;
        let mut next = match entry.sketch.take() {
            Some(s) => s,
            None => entry
                .file
                .load_or_new(entry.params)
                .map_err(SketchError::Storage)?,
        };
        let before = next.clone();
        next.merge(delta)
            .map_err(|e| SketchError::Mismatch(e.to_string()))?;
        if let Err(e) = entry.file.save(&next) {
            // Not stored, not counted: the client retries the batch.
            entry.sketch = Some(before);
            return Err(SketchError::Storage(e));
        }
        let count = next.reports();
        entry.sketch = Some(next);
        Ok(count)
    }

    /// A copy of the report's sketch as stored.
    pub(crate) fn snapshot(&self, report: &str) -> Result<Sketch, SketchError> {
        let entry = self.entries.get(report).ok_or(SketchError::Unknown)?;
        let mut entry = entry.lock().unwrap_or_else(|p| p.into_inner());
        if entry.sketch.is_none() {
            let loaded = entry
                .file
                .load_or_new(entry.params)
                .map_err(SketchError::Storage)?;
            entry.sketch = Some(loaded);
        }
        entry
            .sketch
            .clone()
            .ok_or(SketchError::Storage(tessera_ldp::Error::MalformedReport {
                reason: "the sketch vanished while loading".into(),
            }))
    }
}
