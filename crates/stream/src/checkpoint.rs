//! [`Checkpoint`]: the stream engine's durable state, one redb file per repository
//! (`.tessera/stream/checkpoint.redb`), written in **one transaction per ingested batch**:
//! the touched entities' aggregation states, the batch's event ids, and the source's
//! progress (sequence, newest event time). Because all three commit together, an event is
//! either fully applied (and its id remembered) or not at all: a redelivered event is
//! recognised and skipped, so at-least-once delivery has exactly-once effect.
//!
//! Tables:
//! - `meta`: source → sequence u64, newest event time i64, last state stamp i64 (LE);
//! - `ids/<source>`: event id → event time; `idx/<source>`: (event time BE, id) → () so
//!   that ids older than the lateness horizon are dropped in time order;
//! - `state/<view>`: entity key → stamp (16 bytes) + encoded `ViewState`.
//!
//! The file is opened by one process at a time (a second `tessera ingest` fails fast).

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use tessera_online::Stamp;

use crate::error::{Error, Result};

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
}

impl SourceMeta {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(25);
        b.extend_from_slice(&self.seq.to_le_bytes());
        b.push(u8::from(self.max_ts.is_some()));
        b.extend_from_slice(&self.max_ts.unwrap_or(0).to_le_bytes());
        b.extend_from_slice(&self.last_stamp.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 25 {
            return None;
        }
        let u = |r: std::ops::Range<usize>| -> Option<[u8; 8]> { b.get(r)?.try_into().ok() };
        Some(Self {
            seq: u64::from_le_bytes(u(0..8)?),
            max_ts: (b[8] == 1).then(|| i64::from_le_bytes(u(9..17).unwrap_or_default())),
            last_stamp: i64::from_le_bytes(u(17..25)?),
        })
    }
}

/// One entity's state to store: view, entity key bytes, stamp, encoded state.
pub type StateWrite = (String, Vec<u8>, Stamp, Vec<u8>);

/// One stored state: entity key bytes, stamp, encoded state.
pub type StoredState = (Vec<u8>, Stamp, Vec<u8>);

/// The durable state of the stream engine.
#[derive(Debug)]
pub struct Checkpoint {
    db: Database,
    path: PathBuf,
}

fn ids_table(source: &str) -> String {
    format!("ids/{source}")
}
fn idx_table(source: &str) -> String {
    format!("idx/{source}")
}
fn state_table(view: &str) -> String {
    format!("state/{view}")
}

impl Checkpoint {
    /// Opens (or creates) the checkpoint file.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::Checkpoint {
                path: path.to_path_buf(),
                message: format!("creating {}: {e}", dir.display()),
            })?;
        }
        let db = Database::create(path).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            message: format!("{e} (hint: only one process may ingest a repository's streams at a time; stop the other `tessera ingest`/`serve`)"),
        })?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
        })
    }

    fn fail(&self, e: impl std::fmt::Display) -> Error {
        Error::Checkpoint {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// A source's progress (`None` when this checkpoint never committed a batch of it).
    pub fn meta(&self, source: &str) -> Result<Option<SourceMeta>> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let t = match txn.open_table(META) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.fail(e)),
        };
        match t.get(source).map_err(|e| self.fail(e))? {
            Some(v) => SourceMeta::decode(v.value())
                .map(Some)
                .ok_or_else(|| self.fail("damaged source progress")),
            None => Ok(None),
        }
    }

    /// Every stored state of a view: (entity key bytes, stamp, state bytes).
    pub fn states(&self, view: &str) -> Result<Vec<StoredState>> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let name = state_table(view);
        let t = match txn.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(e)),
        };
        let mut out = Vec::new();
        for e in t.iter().map_err(|e| self.fail(e))? {
            let (k, v) = e.map_err(|e| self.fail(e))?;
            let v = v.value();
            if v.len() < 16 {
                return Err(self.fail("damaged state"));
            }
            let stamp = Stamp::new(
                i64::from_le_bytes(v[0..8].try_into().map_err(|_| self.fail("damaged state"))?),
                i64::from_le_bytes(
                    v[8..16]
                        .try_into()
                        .map_err(|_| self.fail("damaged state"))?,
                ),
            );
            out.push((k.value().to_vec(), stamp, v[16..].to_vec()));
        }
        Ok(out)
    }

    /// Which of `ids` were applied before.
    pub fn seen(&self, source: &str, ids: &[Vec<u8>]) -> Result<Vec<bool>> {
        let txn = self.db.begin_read().map_err(|e| self.fail(e))?;
        let name = ids_table(source);
        let t = match txn.open_table(TableDefinition::<&[u8], i64>::new(&name)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(vec![false; ids.len()]),
            Err(e) => return Err(self.fail(e)),
        };
        ids.iter()
            .map(|id| Ok(t.get(id.as_slice()).map_err(|e| self.fail(e))?.is_some()))
            .collect()
    }

    /// Commits one batch: progress, new ids, states; drops ids older than `forget_before`.
    pub fn commit(
        &self,
        source: &str,
        meta: SourceMeta,
        ids: &[(Vec<u8>, i64)],
        states: &[StateWrite],
        forget_before: Option<i64>,
    ) -> Result<()> {
        let txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        {
            let mut m = txn.open_table(META).map_err(|e| self.fail(e))?;
            m.insert(source, meta.encode().as_slice())
                .map_err(|e| self.fail(e))?;
            let (iname, xname) = (ids_table(source), idx_table(source));
            let mut it = txn
                .open_table(TableDefinition::<&[u8], i64>::new(&iname))
                .map_err(|e| self.fail(e))?;
            let mut xt = txn
                .open_table(TableDefinition::<&[u8], ()>::new(&xname))
                .map_err(|e| self.fail(e))?;
            let mut xkey = Vec::new();
            for (id, ts) in ids {
                it.insert(id.as_slice(), *ts).map_err(|e| self.fail(e))?;
                xkey.clear();
                xkey.extend_from_slice(&((*ts as u64) ^ (1 << 63)).to_be_bytes());
                xkey.extend_from_slice(id);
                xt.insert(xkey.as_slice(), ()).map_err(|e| self.fail(e))?;
            }
            if let Some(cut) = forget_before {
                let bound = ((cut as u64) ^ (1 << 63)).to_be_bytes();
                let old: Vec<Vec<u8>> = xt
                    .range(..bound.as_slice())
                    .map_err(|e| self.fail(e))?
                    .map(|e| e.map(|(k, _)| k.value().to_vec()))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| self.fail(e))?;
                for k in old {
                    xt.remove(k.as_slice()).map_err(|e| self.fail(e))?;
                    it.remove(&k[8..]).map_err(|e| self.fail(e))?;
                }
            }
            let mut buf = Vec::new();
            let mut last_view = String::new();
            let mut table = None;
            for (view, key, stamp, state) in states {
                if table.is_none() || *view != last_view {
                    drop(table.take());
                    let name = state_table(view);
                    table = Some(
                        txn.open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
                            .map_err(|e| self.fail(e))?,
                    );
                    last_view = view.clone();
                }
                buf.clear();
                buf.extend_from_slice(&stamp.event_ts.to_le_bytes());
                buf.extend_from_slice(&stamp.created_ts.to_le_bytes());
                buf.extend_from_slice(state);
                if let Some(t) = table.as_mut() {
                    t.insert(key.as_slice(), buf.as_slice())
                        .map_err(|e| self.fail(e))?;
                }
            }
        }
        txn.commit().map_err(|e| self.fail(e))?;
        Ok(())
    }
}
