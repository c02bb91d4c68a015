//! [`LiveEraser`]: `POST /v1/erase` in `tessera serve` — erasure through the server's own
//! handles, without downtime: the tombstone, the running stream engine (its states in
//! memory, snapshot and checkpoint, the offline logs, see
//! `tessera_stream::StreamEngine::erase_entities`) and the online store, under the same
//! journal as `tessera erase`. What a live server cannot do is left to a later `tessera
//! erase` of the same entity with the server stopped (it resumes the journal's remaining
//! tiers): compacting the redb files (freed pages), and rewriting batch sources.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{BooleanArray, RecordBatch};
use serde_json::{json, Value};
use tessera_core::EntityHasher;
use tessera_online::OnlineStore;
use tessera_server::{EraseKey, Eraser};
use tessera_stream::{RowPredicate, StreamEngine};

use super::journal::Journal;
use super::subject::Subject;
use super::tiers::{keep_rows, key_columns};

/// The eraser of a running server.
#[derive(Debug)]
pub(crate) struct LiveEraser {
    pub root: PathBuf,
    pub store: Arc<dyn OnlineStore>,
    pub engine: Option<Arc<StreamEngine>>,
    /// The server's consent store (its index forgets the erased at once); `None` when no
    /// purpose requires consent (a log left on disk is then rewritten directly).
    pub consent: Option<Arc<tessera_consent::ConsentStore>>,
    /// The server's tombstones, reloaded once this erasure's are written (reads of the
    /// erased answer `erased` at once).
    pub tombstones: Option<Arc<tessera_access::Tombstones>>,
}

impl LiveEraser {
    async fn run(&self, entities: Vec<EraseKey>) -> Result<Value> {
        let started = std::time::Instant::now();
        // Opened here, not at start: a server that never erases creates no privacy key.
        let hasher = EntityHasher::for_repo(&self.root)?;
        let subjects: Vec<Subject> = entities
            .into_iter()
            .map(|p| Subject::from_parts(p, &hasher))
            .collect();
        let digests: Vec<String> = subjects.iter().map(|s| s.digest.clone()).collect();
        let mut journal = Journal::begin(&self.root, &digests)?;
        let mut tiers = Vec::new();
        let added = super::tombstones::add(&self.root, &digests)?;
        if let Some(t) = &self.tombstones {
            t.reload();
        }
        tiers.push(json!({"tier": "tombstone", "added": added}));
        journal.mark("tombstone")?;
        let mut keys = Vec::new();
        for s in &subjects {
            keys.extend(s.store_keys()?);
        }
        let mut removed = 0;
        if let Some(engine) = &self.engine {
            let owned = subjects.clone();
            let keep = RowPredicate::new(key_columns(&subjects), move |b: &RecordBatch| {
                Ok(BooleanArray::from(keep_rows(&owned, b)?))
            });
            let r = engine.erase_entities(&keys, keep).await?;
            tiers.push(json!({"tier": "stream_state", "states_removed": r.states_removed, "stored_states_removed": r.stored_states_removed, "event_ids_removed": r.event_ids_removed}));
            journal.mark("stream_state")?;
            tiers.push(json!({"tier": "offline_log", "rows_removed": r.log_rows_removed, "files_rewritten": r.log_files_rewritten}));
            journal.mark("offline_log")?;
            removed += r.online_rows_removed;
        }
        for k in &keys {
            removed += self.store.delete_entity(k).await?;
        }
        let opened;
        let consent = match &self.consent {
            Some(c) => c.as_ref(),
            None => {
                opened = tessera_consent::ConsentStore::open(&self.root)?;
                &opened
            }
        };
        let lines = super::tiers::erase_consent(consent, &subjects)?;
        tiers.push(json!({"tier": "consent", "lines_removed": lines}));
        journal.mark("consent")?;
        tiers.push(json!({"tier": "online", "store": self.store.name(), "rows_removed": removed,
            "detail": "rows deleted live; the store file is compacted by `tessera erase` of the same entity while the server is stopped"}));
        // `online` stays open in the journal: its compaction needs the store to itself.
        tiers.push(json!({"tier": "content", "detail": "content views are loaded without erased entities at the next start"}));
        Ok(json!({
            "entities": digests,
            "journal": journal.path().display().to_string(),
            "tiers": tiers,
            "total_ms": started.elapsed().as_secs_f64() * 1e3,
            "remaining": "run `tessera erase --entity ...` with the server stopped to compact the stores and rewrite batch sources (the journal lists what is left)",
        }))
    }
}

#[async_trait::async_trait]
impl Eraser for LiveEraser {
    async fn erase(&self, entities: Vec<EraseKey>) -> std::result::Result<Value, String> {
        self.run(entities).await.map_err(|e| format!("{e:#}"))
    }
}
