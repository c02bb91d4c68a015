//! [`Checkpoint`]: the stream engine's durable state, one redb file per repository
//! (`.tessera/stream/checkpoint.redb`).
//!
//! Each ingested batch commits **one small transaction**: the source's progress (the next
//! batch sequence, the newest event time, the last stamp) and the batch's event ids as one
//! record. The batch's events themselves are already durable in the offline log (one
//! Parquet file per batch, written and synced before the commit), so the aggregation states
//! need not be written per batch: every so often the engine writes a **snapshot** of the
//! states changed since the previous one, with the sequence it covers. After a restart the
//! engine loads the snapshot and replays the log files of the batches committed after it —
//! the same events through the same update code, so the states are the ones it had.
//!
//! Because the progress and the event ids commit together, an event is either applied (its
//! id remembered, its log file committed) or not at all: a redelivered event is recognised
//! and skipped, so at-least-once delivery has exactly-once effect.
//!
//! Tables:
//! - `meta`: source → next sequence u64, newest event time i64, last state stamp i64,
//!   snapshot sequence u64 (LE; states hold every batch before it);
//! - `idlog/<source>`: batch sequence → newest event time of its ids, then the ids
//!   (length-prefixed), each with its event time; dropped once older than the lateness
//!   horizon;
//! - `state/<view>`: entity key → stamp (16 bytes) + encoded `ViewState`: snapshots of
//!   earlier builds, read once (snapshots are now written to [`crate::snapshot_file`], so
//!   that writing one never holds up a batch's commit).
//!
//! The file is opened by one process at a time (a second `tessera ingest` fails fast).

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use tessera_online::Stamp;

use crate::error::{BoxError, Error, Result};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// A source's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceMeta {
    /// Batches applied.
    pub seq: u64,
    /// The newest event time applied.
    pub max_ts: Option<i64>,
    /// The last stamp written to the online store.
    pub last_stamp: i64,
    /// The stored states cover every batch before this sequence; the log files from it to
    /// `seq` are replayed on open.
    pub snapshot_seq: u64,
}

impl SourceMeta {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(33);
        b.extend_from_slice(&self.seq.to_le_bytes());
        b.push(u8::from(self.max_ts.is_some()));
        b.extend_from_slice(&self.max_ts.unwrap_or(0).to_le_bytes());
        b.extend_from_slice(&self.last_stamp.to_le_bytes());
        b.extend_from_slice(&self.snapshot_seq.to_le_bytes());
        b
    }

    /// Decodes progress; the 25-byte form of earlier builds (which stored every batch's
    /// states) reads as a snapshot at `seq`.
    fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 25 && b.len() != 33 {
            return None;
        }
        let u = |r: std::ops::Range<usize>| -> Option<[u8; 8]> { b.get(r)?.try_into().ok() };
        let seq = u64::from_le_bytes(u(0..8)?);
        Some(Self {
            seq,
            max_ts: (b[8] == 1).then(|| i64::from_le_bytes(u(9..17).unwrap_or_default())),
            last_stamp: i64::from_le_bytes(u(17..25)?),
            snapshot_seq: if b.len() == 33 {
                u64::from_le_bytes(u(25..33)?)
            } else {
                seq
            },
        })
    }
}

/// One entity's state to store: view, entity key bytes, stamp, encoded state.
pub(crate) type StateWrite = (String, Vec<u8>, Stamp, std::sync::Arc<Vec<u8>>);

/// One stored state: entity key bytes, stamp, encoded state.
pub(crate) type StoredState = (Vec<u8>, Stamp, Vec<u8>);

/// The durable state of the stream engine.
#[derive(Debug)]
pub struct Checkpoint {
    db: Database,
    path: PathBuf,
}

/// Event ids, each with its event time.
pub(crate) type TimedIds = Vec<(Vec<u8>, i64)>;

/// The event ids of one committed batch: (sequence, newest event time, ids with times).
pub(crate) type BatchIds = (u64, i64, TimedIds);

pub(crate) fn idlog_table(source: &str) -> String {
    format!("idlog/{source}")
}

pub(crate) fn encode_ids(ids: &[(Vec<u8>, i64)]) -> Vec<u8> {
    let max = ids.iter().map(|(_, t)| *t).max().unwrap_or(i64::MIN);
    let mut b = Vec::with_capacity(8 + ids.iter().map(|(id, _)| id.len() + 12).sum::<usize>());
    b.extend_from_slice(&max.to_le_bytes());
    for (id, ts) in ids {
        b.extend_from_slice(&u32::try_from(id.len()).unwrap_or(u32::MAX).to_le_bytes());
        b.extend_from_slice(id);
        b.extend_from_slice(&ts.to_le_bytes());
    }
    b
}

pub(crate) fn decode_ids(b: &[u8]) -> Option<(i64, TimedIds)> {
    let max = i64::from_le_bytes(b.get(0..8)?.try_into().ok()?);
    let mut at = 8;
    let mut ids = Vec::new();
    while at < b.len() {
        let n = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        at += 4;
        let id = b.get(at..at + n)?.to_vec();
        at += n;
        let ts = i64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?);
        at += 8;
        ids.push((id, ts));
    }
    Some((max, ids))
}

/// A failed operation on one of the engine's redb files, as a `map_err` argument.
pub(crate) fn file_error<'a, E: Into<BoxError>>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(E) -> Error + 'a {
    move |e| Error::checkpoint(path, action, e)
}

/// Opens (or creates) one of the engine's redb files, and its directory. The file is the
/// engine's alone: when it is held elsewhere, this fails at once, or with `wait` (the
/// snapshot file, which a background snapshot of an engine dropped just before may still
/// hold) after retrying for up to 5 s. The checkpoint is opened first and without waiting,
/// so a second ingesting process fails fast.
pub(crate) fn open_exclusive(path: &Path, wait: bool) -> Result<Database> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(file_error(path, "creating its directory"))?;
    }
    let mut waited = 0;
    let opened = loop {
        match Database::create(path) {
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if wait && waited < 500 => {
                waited += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => break other,
        }
    };
    opened.map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        action: "opening",
        hint: if matches!(e, redb::DatabaseError::DatabaseAlreadyOpen) {
            " (hint: only one process may ingest a repository's streams at a time; stop the other `tessera ingest`/`serve`)"
        } else {
            " (hint: if the file is damaged, move it aside; the engine rebuilds its states from the offline log)"
        },
        source: e.into(),
    })
}

impl Checkpoint {
    /// Opens (or creates) the checkpoint file.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            db: open_exclusive(path, false)?,
            path: path.to_path_buf(),
        })
    }

    fn fail<'a, E: Into<BoxError>>(&'a self, action: &'static str) -> impl FnOnce(E) -> Error + 'a {
        file_error(&self.path, action)
    }

    fn damaged(&self, what: &'static str) -> Error {
        Error::Damaged {
            path: self.path.clone(),
            what,
        }
    }

    /// Removes the states of `keys` older builds kept here (erasure); returns how many.
    pub(crate) fn erase_states(&self, keys: &[tessera_online::EntityKey]) -> Result<u64> {
        crate::erase_states::remove_states(&self.db, &self.path, keys)
    }

    /// Removes erased entities' event ids from the sources' id logs; returns how many.
    pub(crate) fn erase_ids(&self, sources: &[crate::erase_ids::SourceIds]) -> Result<u64> {
        crate::erase_ids::remove_ids(&self.db, &self.path, sources)
    }

    /// A source's progress (`None` when this checkpoint never committed a batch of it).
    pub fn meta(&self, source: &str) -> Result<Option<SourceMeta>> {
        let txn = self.db.begin_read().map_err(self.fail("reading"))?;
        let t = match txn.open_table(META) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.fail("reading")(e)),
        };
        match t.get(source).map_err(self.fail("reading"))? {
            Some(v) => SourceMeta::decode(v.value())
                .map(Some)
                .ok_or_else(|| self.damaged("source progress")),
            None => Ok(None),
        }
    }

    /// Every state a snapshot of an earlier build stored here: (entity key bytes, stamp,
    /// state bytes). Snapshots now live in `snapshot_file.rs`.
    pub fn states(&self, view: &str) -> Result<Vec<StoredState>> {
        crate::snapshot_file::read_states(&self.db, &self.path, view)
    }

    /// The event ids of every remembered batch, oldest first.
    pub fn ids(&self, source: &str) -> Result<Vec<BatchIds>> {
        let txn = self.db.begin_read().map_err(self.fail("reading"))?;
        let name = idlog_table(source);
        let t = match txn.open_table(TableDefinition::<u64, &[u8]>::new(&name)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail("reading")(e)),
        };
        let mut out = Vec::new();
        for e in t.iter().map_err(self.fail("reading"))? {
            let (k, v) = e.map_err(self.fail("reading"))?;
            let (max, ids) = decode_ids(v.value()).ok_or_else(|| self.damaged("event id log"))?;
            out.push((k.value(), max, ids));
        }
        Ok(out)
    }

    /// Commits one batch: the progress and the batch's event ids (as batch `batch_seq`);
    /// forgets the ids of the batches in `forget`.
    pub fn commit_batch(
        &self,
        source: &str,
        meta: SourceMeta,
        batch_seq: u64,
        ids: &[(Vec<u8>, i64)],
        forget: &[u64],
    ) -> Result<()> {
        let txn = self
            .db
            .begin_write()
            .map_err(self.fail("committing a batch"))?;
        {
            let mut m = txn
                .open_table(META)
                .map_err(self.fail("committing a batch"))?;
            m.insert(source, meta.encode().as_slice())
                .map_err(self.fail("committing a batch"))?;
            let name = idlog_table(source);
            let mut t = txn
                .open_table(TableDefinition::<u64, &[u8]>::new(&name))
                .map_err(self.fail("committing a batch"))?;
            if !ids.is_empty() {
                t.insert(batch_seq, encode_ids(ids).as_slice())
                    .map_err(self.fail("committing a batch"))?;
            }
            for s in forget {
                t.remove(*s).map_err(self.fail("committing a batch"))?;
            }
        }
        txn.commit().map_err(self.fail("committing a batch"))?;
        Ok(())
    }
}
