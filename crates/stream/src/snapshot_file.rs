//! [`SnapshotFile`]: the stream engine's snapshots of aggregation states, in a redb file of
//! their own (`.tessera/stream/snapshots.redb`) beside the [`crate::Checkpoint`].
//!
//! A snapshot is the states changed since the previous one plus the batch sequence it covers
//! (every batch before it), written in one transaction. It lives apart from the checkpoint
//! so that writing it — tens of thousands of states, a second or more — never holds up the
//! one small transaction each batch commits: the engine writes snapshots in the background
//! while batches keep committing (redb runs one write transaction per file at a time).
//!
//! On open the engine loads the last snapshot and replays the log files of the batches from
//! its sequence on. Checkpoints of earlier builds kept their snapshot in the checkpoint file
//! itself (`state/<view>` tables and the progress' snapshot sequence); they are read once and
//! the next snapshot is written here, whole.
//!
//! Tables: `progress`: source → covered sequence (u64); `state/<view>`: entity key → stamp
//! (16 bytes LE) + encoded `ViewState`.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use tessera_online::Stamp;

use crate::checkpoint::{file_error, StateWrite, StoredState};
use crate::error::{BoxError, Error, Result};

const PROGRESS: TableDefinition<&str, u64> = TableDefinition::new("progress");

pub(crate) fn state_table(view: &str) -> String {
    format!("state/{view}")
}

/// The snapshot file.
#[derive(Debug)]
pub(crate) struct SnapshotFile {
    db: Database,
    path: PathBuf,
}

impl SnapshotFile {
    /// Opens (or creates) the file.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            db: crate::checkpoint::open_exclusive(path, true)?,
            path: path.to_path_buf(),
        })
    }

    fn fail<'a, E: Into<BoxError>>(&'a self, action: &'static str) -> impl FnOnce(E) -> Error + 'a {
        file_error(&self.path, action)
    }

    /// The sequence the source's last snapshot covers (`None`: never written here).
    pub(crate) fn progress(&self, source: &str) -> Result<Option<u64>> {
        let txn = self.db.begin_read().map_err(self.fail("reading"))?;
        let t = match txn.open_table(PROGRESS) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.fail("reading")(e)),
        };
        Ok(t.get(source)
            .map_err(self.fail("reading"))?
            .map(|v| v.value()))
    }

    /// Removes the stored states of `keys` (erasure); returns how many.
    pub(crate) fn erase_states(&self, keys: &[tessera_online::EntityKey]) -> Result<u64> {
        crate::erase_states::remove_states(&self.db, &self.path, keys)
    }

    /// Every stored state of a view.
    pub(crate) fn states(&self, view: &str) -> Result<Vec<StoredState>> {
        read_states(&self.db, &self.path, view)
    }

    /// Deletes (with `drop`; counts without) the states older than each view's cutoff
    /// ([`crate::state_retention`]).
    pub(crate) fn prune(
        &self,
        cutoffs: &[(String, i64)],
        drop: bool,
    ) -> Result<Vec<(String, u64)>> {
        crate::state_retention::prune_states(&self.db, &self.path, cutoffs, drop)
    }

    /// Writes one snapshot of `source` covering every batch before `seq`: drops the stored
    /// states of the views in `replace` first (a whole snapshot), then stores `states`, in
    /// one transaction.
    pub(crate) fn write(
        &self,
        source: &str,
        seq: u64,
        replace: &[String],
        states: &[StateWrite],
    ) -> Result<()> {
        const WRITING: &str = "writing a snapshot";
        let txn = self.db.begin_write().map_err(self.fail(WRITING))?;
        for view in replace {
            let name = state_table(view);
            txn.delete_table(TableDefinition::<&[u8], &[u8]>::new(&name))
                .map_err(self.fail(WRITING))?;
        }
        write_states(&txn, states, &self.path)?;
        txn.open_table(PROGRESS)
            .map_err(self.fail(WRITING))?
            .insert(source, seq)
            .map_err(self.fail(WRITING))?;
        txn.commit().map_err(self.fail(WRITING))
    }
}

/// Every state stored in `db`'s table of `view`: (entity key bytes, stamp, state bytes).
pub(crate) fn read_states(db: &Database, path: &Path, view: &str) -> Result<Vec<StoredState>> {
    const READING: &str = "reading stored states";
    let txn = db.begin_read().map_err(file_error(path, READING))?;
    let name = state_table(view);
    let t = match txn.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(file_error(path, READING)(e)),
    };
    let mut out = Vec::new();
    for e in t.iter().map_err(file_error(path, READING))? {
        let (k, v) = e.map_err(file_error(path, READING))?;
        let v = v.value();
        let word = |r: std::ops::Range<usize>| -> Result<i64> {
            let b: [u8; 8] =
                v.get(r)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| Error::Damaged {
                        path: path.to_path_buf(),
                        what: "stored state",
                    })?;
            Ok(i64::from_le_bytes(b))
        };
        let stamp = Stamp::new(word(0..8)?, word(8..16)?);
        out.push((k.value().to_vec(), stamp, v[16..].to_vec()));
    }
    Ok(out)
}

/// Stores states (grouped by view) in a write transaction.
fn write_states(txn: &redb::WriteTransaction, states: &[StateWrite], path: &Path) -> Result<()> {
    const WRITING: &str = "writing a snapshot";
    let mut buf = Vec::new();
    let mut last_view = String::new();
    let mut table = None;
    for (view, key, stamp, state) in states {
        if table.is_none() || *view != last_view {
            drop(table.take());
            let name = state_table(view);
            table = Some(
                txn.open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
                    .map_err(file_error(path, WRITING))?,
            );
            last_view = view.clone();
        }
        buf.clear();
        buf.extend_from_slice(&stamp.event_ts.to_le_bytes());
        buf.extend_from_slice(&stamp.created_ts.to_le_bytes());
        buf.extend_from_slice(state);
        if let Some(t) = table.as_mut() {
            t.insert(key.as_slice(), buf.as_slice())
                .map_err(file_error(path, WRITING))?;
        }
    }
    Ok(())
}
