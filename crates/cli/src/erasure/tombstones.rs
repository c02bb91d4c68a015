//! Tombstones (`.tessera/erasure/tombstones`): the keyed hashes of erased entities, one
//! per line — never a clear key. Sources Tessera does not own still hold an erased entity's
//! rows until `--rewrite-sources` rewrites them; every later offline read (training sets,
//! materialisation, content loading) drops rows whose entity's hash is listed here.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use tessera_core::EntityHasher;

/// The tombstone file, relative to the repository.
pub(crate) const TOMBSTONES: &str = ".tessera/erasure/tombstones";

/// The listed digests.
pub(crate) fn load(root: &Path) -> Result<BTreeSet<String>> {
    let path = root.join(TOMBSTONES);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(t
            .lines()
            .map(str::trim)
            .filter(|l| l.len() == 64)
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Adds digests (idempotent); returns how many were new.
pub(crate) fn add(root: &Path, digests: &[String]) -> Result<usize> {
    let mut all = load(root)?;
    let before = all.len();
    all.extend(digests.iter().cloned());
    let added = all.len() - before;
    if added > 0 {
        let path = root.join(TOMBSTONES);
        let dir = path.parent().unwrap_or(root);
        let text: String = all.iter().map(|d| format!("{d}\n")).collect();
        super::journal::write_atomically(dir, &path, text.as_bytes())?;
    }
    Ok(added)
}

/// A filter over single-key entities: whether `(join key, value text)` is tombstoned.
#[derive(Debug)]
pub(crate) struct TombstoneFilter {
    hasher: EntityHasher,
    digests: BTreeSet<String>,
}

impl TombstoneFilter {
    /// The repository's filter; `None` when nothing was ever erased.
    pub(crate) fn for_repo(root: &Path) -> Result<Option<Self>> {
        let digests = load(root)?;
        if digests.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            hasher: EntityHasher::for_repo(root)?,
            digests,
        }))
    }

    /// Whether the entity `key` is erased.
    pub(crate) fn erased(&self, key: &[(&str, &str)]) -> bool {
        self.digests.contains(&self.hasher.digest(key))
    }
}
