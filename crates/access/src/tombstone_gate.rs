//! The tombstone gate: entities erased (GDPR Art. 17) read as status `erased` instead of
//! `missing`. Their keyed hashes are listed in the repository's tombstone file
//! (`.tessera/erasure/tombstones`, 64 hex digits a line, written atomically by `tessera
//! erase` and `POST /v1/erase`); an entity row is erased when the hash of one of its
//! join-key values, or of its whole key, is listed. Its every value is then withheld
//! (null, status `erased`, whatever a store still holds).
//!
//! The file is re-read when it changes (its size, time or inode), checked at most every
//! 100 ms on the read path; [`Tombstones::reload`] makes an erasure of this process seen
//! at once. Nothing is checked while the list is empty.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tessera_core::EntityHasher;
use tessera_online::Value;

use crate::access_layer::AccessLayer;
use crate::consent_gate::key_text;
use crate::entity_rows::EntityRows;
use crate::read_result::{FeatureColumn, ValueStatus};

/// The tombstone file, relative to the repository root.
pub const TOMBSTONE_FILE: &str = ".tessera/erasure/tombstones";

/// The digests listed in the text of a tombstone file (one per line, 64 hex digits; other
/// lines are ignored). The one reader of the format: the gate here and the CLI's erasure.
pub fn tombstone_digests(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| l.len() == 64)
}

/// What identifies one version of the file: size, modification time, inode.
type Version = (u64, Option<SystemTime>, u64);

/// The erased entities' keyed hashes, from the tombstone file.
#[derive(Debug)]
pub struct Tombstones {
    path: PathBuf,
    hasher: Arc<EntityHasher>,
    digests: RwLock<HashSet<String>>,
    seen: Mutex<(Option<Version>, Option<Instant>)>,
}

impl Tombstones {
    /// The tombstones listed in the file at `path` (none while it does not exist), hashed
    /// with the repository's `hasher`.
    pub fn open(path: PathBuf, hasher: Arc<EntityHasher>) -> Self {
        let t = Self {
            path,
            hasher,
            digests: RwLock::new(HashSet::new()),
            seen: Mutex::new((None, None)),
        };
        t.reload();
        t
    }

    fn version(&self) -> Option<Version> {
        let m = std::fs::metadata(&self.path).ok()?;
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let ino = 0;
        Some((m.len(), m.modified().ok(), ino))
    }

    /// Re-reads the file when it changed since the last read.
    pub fn reload(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.1 = Some(Instant::now());
        let v = self.version();
        if v == seen.0 {
            return;
        }
        let digests: HashSet<String> = std::fs::read_to_string(&self.path)
            .map(|t| tombstone_digests(&t).map(str::to_string).collect())
            .unwrap_or_default();
        *self.digests.write().unwrap_or_else(PoisonError::into_inner) = digests;
        seen.0 = v;
    }

    fn reload_if_due(&self) {
        let due = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .is_none_or(|at| at.elapsed() >= Duration::from_millis(100));
        if due {
            self.reload();
        }
    }

    /// Whether the entity `name=text` (one join key, its value as text) is erased; the
    /// stream engine's check of incoming events.
    pub fn is_erased(&self, name: &str, text: &str) -> bool {
        self.reload_if_due();
        let digests = self.digests.read().unwrap_or_else(PoisonError::into_inner);
        !digests.is_empty() && digests.contains(&self.hasher.digest(&[(name, text)]))
    }

    /// Per entity row: whether it is erased.
    pub(crate) fn erased_rows(&self, entities: &EntityRows) -> Vec<bool> {
        self.reload_if_due();
        let digests = self.digests.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = vec![false; entities.len()];
        if digests.is_empty() {
            return out;
        }
        let columns: Vec<(&str, Vec<String>)> = entities
            .columns()
            .map(|(name, values)| (name, values.iter().map(key_text).collect()))
            .collect();
        for (row, erased) in out.iter_mut().enumerate() {
            let mut parts: Vec<(&str, &str)> = Vec::with_capacity(columns.len());
            for (name, texts) in &columns {
                if let Some(t) = texts.get(row) {
                    parts.push((name, t.as_str()));
                }
            }
            *erased = parts
                .iter()
                .any(|p| digests.contains(&self.hasher.digest(&[*p])));
            if !*erased && parts.len() > 1 {
                parts.sort();
                *erased = digests.contains(&self.hasher.digest(&parts));
            }
        }
        out
    }
}

impl AccessLayer {
    /// Answers `erased` for the entities listed in `tombstones`.
    pub fn with_tombstones(mut self, tombstones: Arc<Tombstones>) -> Self {
        self.tombstones = Some(tombstones);
        self
    }

    /// Withholds every value of erased entity rows (status `erased`).
    pub(crate) fn tombstone_gate(&self, entities: &EntityRows, columns: &mut [FeatureColumn]) {
        let Some(t) = &self.tombstones else {
            return;
        };
        for (row, erased) in t.erased_rows(entities).into_iter().enumerate() {
            if !erased {
                continue;
            }
            for c in columns.iter_mut() {
                if row < c.values.len() {
                    c.values[row] = Value::Null;
                    c.statuses[row] = ValueStatus::Erased;
                    c.event_ts[row] = None;
                }
            }
        }
    }
}
