//! Erasing entities from the stream engine's files: their aggregation states in the
//! snapshot file (`.tessera/stream/snapshots.redb`) and in the `state/<view>` tables older
//! checkpoints kept (`.tessera/stream/checkpoint.redb`), then a compaction of each file so
//! the freed pages that held them are released. The engine must not run (its files are
//! opened exclusively; the error says so): a running server erases through
//! [`crate::StreamEngine`] itself.
//!
//! The offline log is rewritten separately ([`crate::log_rewrite`]); since the engine
//! replays the log after its snapshot on open, both must be erased before it next starts.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, TableDefinition, TableHandle};
use tessera_online::EntityKey;

use crate::checkpoint::{file_error, open_exclusive};
use crate::erase_ids::SourceIds;
use crate::error::Result;

/// What erasing entities did to one of the engine's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateErasure {
    /// The file.
    pub file: PathBuf,
    /// States removed (one per view and entity).
    pub states_removed: u64,
    /// Event ids removed from the id logs (the checkpoint only).
    pub ids_removed: u64,
    /// File size before, in bytes.
    pub bytes_before: u64,
    /// File size after the compaction, in bytes.
    pub bytes_after: u64,
}

/// The engine's redb files under the repository `root`.
pub fn engine_files(root: &Path) -> Vec<PathBuf> {
    let dir = root.join(".tessera/stream");
    vec![dir.join("checkpoint.redb"), dir.join("snapshots.redb")]
}

/// Removes the states of `keys` (and of every composite key containing one of them) from
/// the engine's files under `root`, and compacts them. Files that do not exist are skipped.
pub fn erase_entity_states(root: &Path, keys: &[EntityKey]) -> Result<Vec<StateErasure>> {
    erase_entity_states_and_ids(root, keys, &[])
}

/// [`erase_entity_states`], and also removes the entities' event `ids` (read from their
/// offline-log rows with [`crate::collect_event_ids`] before the log is rewritten) from the
/// checkpoint's id logs, before the compaction.
pub fn erase_entity_states_and_ids(
    root: &Path,
    keys: &[EntityKey],
    ids: &[SourceIds],
) -> Result<Vec<StateErasure>> {
    let mut out = Vec::new();
    for path in engine_files(root) {
        if !path.exists() {
            continue;
        }
        out.push(erase_in_file(&path, keys, ids)?);
    }
    Ok(out)
}

fn erase_in_file(path: &Path, keys: &[EntityKey], ids: &[SourceIds]) -> Result<StateErasure> {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let bytes_before = size(path);
    let mut db = open_exclusive(path, false)?;
    let states_removed = remove_states(&db, path, keys)?;
    let ids_removed = crate::erase_ids::remove_ids(&db, path, ids)?;
    let mut rounds = 0;
    while db.compact().map_err(file_error(path, "compacting"))? && rounds < 8 {
        rounds += 1;
    }
    // Erased event ids: an id log record rewritten without them may leave its old bytes in
    // a freed page the compaction keeps, so the checkpoint is rebuilt as a fresh copy
    // (also on a rerun that finds them already removed: the crash may have come first).
    let rebuilt = if ids.iter().any(|s| !s.ids.is_empty()) {
        crate::erase_ids::rebuild_copy(&db, path)?
    } else {
        None
    };
    drop(db);
    if let Some(tmp) = rebuilt {
        crate::erase_ids::replace_with(&tmp, path)?;
    }
    Ok(StateErasure {
        file: path.to_path_buf(),
        states_removed,
        ids_removed,
        bytes_before,
        bytes_after: size(path),
    })
}

/// Removes the states of `keys` (and of composite keys containing one of them) from every
/// `state/<view>` table of `db`, in one transaction; returns how many.
pub(crate) fn remove_states(db: &Database, path: &Path, keys: &[EntityKey]) -> Result<u64> {
    const ERASING: &str = "erasing states";
    let encoded: Vec<Vec<u8>> = keys.iter().map(EntityKey::encode).collect();
    let names: Vec<String> = {
        let txn = db.begin_read().map_err(file_error(path, ERASING))?;
        let names = txn
            .list_tables()
            .map_err(file_error(path, ERASING))?
            .map(|t| t.name().to_string())
            .filter(|n| n.starts_with("state/"))
            .collect();
        names
    };
    let mut states_removed = 0u64;
    let txn = db.begin_write().map_err(file_error(path, ERASING))?;
    for name in &names {
        let mut t = txn
            .open_table(TableDefinition::<&[u8], &[u8]>::new(name))
            .map_err(file_error(path, ERASING))?;
        for k in &encoded {
            if t.remove(k.as_slice())
                .map_err(file_error(path, ERASING))?
                .is_some()
            {
                states_removed += 1;
            }
        }
        // Composite keys (user and item) holding one of the entities.
        let extracted = t
            .extract_if(|k, _| {
                EntityKey::decode(k)
                    .is_ok_and(|ek| ek.parts().len() > 1 && keys.iter().any(|key| ek.contains(key)))
            })
            .map_err(file_error(path, ERASING))?;
        for e in extracted {
            e.map_err(file_error(path, ERASING))?;
            states_removed += 1;
        }
    }
    txn.commit().map_err(file_error(path, ERASING))?;
    Ok(states_removed)
}
