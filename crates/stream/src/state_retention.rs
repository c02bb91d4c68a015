//! Retention of the stream engine's stored states (`.tessera/stream/snapshots.redb`, and
//! the `state/<view>` tables of checkpoints of earlier builds): a state whose stamp — the
//! time of the last batch that touched the entity — is older than its view's cutoff holds
//! only events older than the retention and is deleted.
//!
//! The files belong to the process that runs the stream engine; this pass opens them
//! itself, so it runs when no engine holds them (`tessera retention apply` while no
//! `tessera serve`/`ingest` runs the repository's stream sources). A running engine applies
//! retention through [`crate::StreamEngine::apply_retention`].

use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition, TableError};

use crate::checkpoint::file_error;
use crate::error::Result;
use crate::snapshot_file::state_table;

/// Deletes (with `drop`; counts without) the states of each `(view, cutoff_us)` whose stamp
/// is older than the cutoff, in `db` (the file at `path`), in one transaction. Returns
/// (view, states) per view.
pub(crate) fn prune_states(
    db: &Database,
    path: &Path,
    cutoffs: &[(String, i64)],
    drop: bool,
) -> Result<Vec<(String, u64)>> {
    const PRUNING: &str = "applying retention to stored states";
    let txn = db.begin_write().map_err(file_error(path, PRUNING))?;
    let mut out = Vec::new();
    for (view, cutoff) in cutoffs {
        let name = state_table(view);
        let def = TableDefinition::<&[u8], &[u8]>::new(&name);
        let mut old: Vec<Vec<u8>> = Vec::new();
        {
            let mut t = match txn.open_table(def) {
                Ok(t) => t,
                Err(TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(file_error(path, PRUNING)(e)),
            };
            for e in t.iter().map_err(file_error(path, PRUNING))? {
                let (k, v) = e.map_err(file_error(path, PRUNING))?;
                let stamp = v
                    .value()
                    .get(0..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(i64::from_le_bytes);
                if stamp.is_some_and(|s| s < *cutoff) {
                    old.push(k.value().to_vec());
                }
            }
            if drop {
                for k in &old {
                    t.remove(k.as_slice()).map_err(file_error(path, PRUNING))?;
                }
            }
        }
        out.push((view.clone(), old.len() as u64));
    }
    if drop {
        txn.commit().map_err(file_error(path, PRUNING))?;
    } else {
        txn.abort().map_err(file_error(path, PRUNING))?;
    }
    Ok(out)
}

/// Deletes (with `drop`; counts without) the stored states older than each view's cutoff
/// in the engine's files under `root` (`.tessera/stream/`), opened here: fails when a
/// running engine holds them. Files that do not exist are skipped. Returns (view, states)
/// summed over both files.
pub fn apply_state_retention_files(
    root: &Path,
    cutoffs: &[(String, i64)],
    drop: bool,
) -> Result<Vec<(String, u64)>> {
    let mut total: Vec<(String, u64)> = cutoffs.iter().map(|(v, _)| (v.clone(), 0)).collect();
    for file in ["snapshots.redb", "checkpoint.redb"] {
        let path = root.join(".tessera/stream").join(file);
        if !path.exists() {
            continue;
        }
        let db = crate::checkpoint::open_exclusive(&path, false)?;
        for (i, (_, n)) in prune_states(&db, &path, cutoffs, drop)?
            .into_iter()
            .enumerate()
        {
            if let Some(t) = total.get_mut(i) {
                t.1 += n;
            }
        }
    }
    Ok(total)
}
