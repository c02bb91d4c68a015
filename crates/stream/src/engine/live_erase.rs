//! Erasing entities from a running engine ([`StreamEngine::erase_entities`]): what a server
//! does for `POST /v1/erase` without stopping. Every source is locked for the duration (in
//! name order, as no other path locks two), so no batch of it is applied meanwhile:
//!
//! 1. the snapshot running in the background, if any, is finished;
//! 2. the entities' states leave memory (and the list of states to snapshot);
//! 3. the publisher's pending writes are flushed, so none of them lands after step 5;
//! 4. their stored states leave the snapshot file and the checkpoint (one transaction
//!    each; the files are compacted when the engine is next opened by `tessera erase`);
//! 5. under the compaction guard (so no merge reads a file while it is rewritten), the
//!    event ids of their offline-log rows are read and removed from the checkpoint's id
//!    logs, then every log file holding their rows is rewritten without them
//!    ([`crate::log_rewrite`]);
//! 6. their rows leave the online store (every view, aggregation states included).

use super::snapshots::settle_snapshot;
use super::{StreamEngine, ViewKind};
use crate::erase_ids::{collect_event_ids, SourceIds};
use crate::error::{Error, Result};
use crate::log_rewrite::{rewrite_files_keeping, RewriteOptions, RewriteOutcome, RowPredicate};
use tessera_online::EntityKey;

/// What erasing entities from a running engine removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveErasure {
    /// In-memory states removed.
    pub states_removed: u64,
    /// Stored states removed from the snapshot file and the checkpoint.
    pub stored_states_removed: u64,
    /// Offline-log rows removed.
    pub log_rows_removed: u64,
    /// Offline-log files rewritten.
    pub log_files_rewritten: u64,
    /// Event ids removed from the checkpoint's id logs.
    pub event_ids_removed: u64,
    /// Online-store rows removed.
    pub online_rows_removed: u64,
}

impl StreamEngine {
    /// Erases `keys` (each also from composite keys that contain it) from the running
    /// engine: states in memory, snapshot and checkpoint, the offline logs (rows `keep`
    /// drops) and the online store. See the module docs for the order.
    pub async fn erase_entities(
        &self,
        keys: &[EntityKey],
        keep: RowPredicate<'static>,
    ) -> Result<LiveErasure> {
        let mut report = LiveErasure::default();
        let mut guards = Vec::new();
        for rt in self.sources.values() {
            guards.push(rt.lock().await);
        }
        let hit = |k: &EntityKey| keys.iter().any(|key| k.contains(key));
        let mut dirs = Vec::new();
        for rt in guards.iter_mut() {
            settle_snapshot(rt).await;
            for v in rt.views.iter_mut() {
                if let ViewKind::Aggregate { states, .. } = &mut v.kind {
                    let before = states.len();
                    states.retain(|_, (k, _)| !hit(k));
                    report.states_removed += (before - states.len()) as u64;
                }
            }
            let doomed: Vec<Vec<u8>> = rt
                .unsnapshotted
                .keys()
                .filter(|(_, kb)| EntityKey::decode(kb).is_ok_and(|k| hit(&k)))
                .map(|(_, kb)| kb.clone())
                .collect();
            rt.unsnapshotted.retain(|(_, kb), _| !doomed.contains(kb));
            let id_field = rt
                .schema
                .event_id
                .and_then(|c| rt.schema.columns.get(c))
                .map(|(n, _)| n.clone());
            dirs.push((rt.log_dir.clone(), rt.schema.name.clone(), id_field));
        }
        self.publisher.flush().await?;
        let (snapshots, checkpoint, owned) = (
            self.snapshots.clone(),
            self.checkpoint.clone(),
            keys.to_vec(),
        );
        let _log_guard = self.log_guard.lock().await;
        let (stored, rows, files, ids_removed) =
            tokio::task::spawn_blocking(move || -> Result<(u64, u64, u64, u64)> {
                let stored = snapshots.erase_states(&owned)? + checkpoint.erase_states(&owned)?;
                let mut logs = Vec::new();
                let mut ids = Vec::new();
                for (dir, source, id_field) in dirs {
                    let files: Vec<std::path::PathBuf> = crate::log_compaction::file_names(&dir)?
                        .into_iter()
                        .filter(|n| !n.starts_with('.') && n.ends_with(".parquet"))
                        .map(|n| dir.join(n))
                        .collect();
                    // The event ids of the rows about to go, before they go.
                    if let Some(f) = id_field {
                        ids.push(SourceIds {
                            source,
                            ids: collect_event_ids(&files, &f, &keep)?,
                        });
                    }
                    logs.push(files);
                }
                let ids_removed = checkpoint.erase_ids(&ids)?;
                let (mut rows, mut files) = (0u64, 0u64);
                let paths: Vec<std::path::PathBuf> = logs.into_iter().flatten().collect();
                for r in rewrite_files_keeping(&paths, &keep, &RewriteOptions::default(), 0)? {
                    if r.outcome != RewriteOutcome::Unchanged {
                        rows += r.rows_removed();
                        files += 1;
                    }
                }
                Ok((stored, rows, files, ids_removed))
            })
            .await
            .map_err(|source| Error::Task {
                task: "erasure",
                source,
            })??;
        report.stored_states_removed = stored;
        report.log_rows_removed = rows;
        report.log_files_rewritten = files;
        report.event_ids_removed = ids_removed;
        for k in keys {
            report.online_rows_removed += self.store.delete_entity(k).await?;
        }
        drop(guards);
        Ok(report)
    }
}
