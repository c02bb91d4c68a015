//! Snapshots of the changed aggregation states, written to the snapshot file in the
//! background every `snapshot_every` batches (and on clean shutdown), so a restart replays
//! only the log after the last one.

use std::sync::Arc;

use tessera_core::map_parallel;

use super::hand_over::{encode_exact, stamp_of, ENCODE_PER_THREAD};
use super::{Encoded, SourceRuntime, StateId, StreamEngine, ViewKind};
use crate::checkpoint::StateWrite;
use crate::error::{Chain, Error, Result};

impl StreamEngine {
    /// Writes the states changed since the last snapshot of every source to the checkpoint,
    /// so the next open replays nothing (called on clean shutdown; also done every
    /// `snapshot_every` batches).
    pub async fn snapshot(&self) -> Result<()> {
        for rt in self.sources.values() {
            let mut rt = rt.lock().await;
            if !rt.poisoned {
                self.snapshot_locked(&mut rt).await?;
            }
        }
        Ok(())
    }

    /// Writes the states changed since the last snapshot, and waits for it (and for a
    /// snapshot still running in the background).
    pub(super) async fn snapshot_locked(&self, rt: &mut SourceRuntime) -> Result<()> {
        if let Some(task) = rt.snapshot_task.take() {
            join_snapshot(rt, task).await?;
        }
        if rt.meta.snapshot_seq == rt.meta.seq
            && rt.unsnapshotted.is_empty()
            && !rt.full_snapshot_due
        {
            return Ok(());
        }
        let task = self.spawn_snapshot(rt);
        join_snapshot(rt, task).await
    }

    /// Starts writing a snapshot in the background unless one is still running (its
    /// changes then wait for the next); a finished one's failure is logged and makes the
    /// next snapshot whole. Ingesting goes on meanwhile: the snapshot file is not the
    /// checkpoint, so its transaction does not hold up batch commits.
    pub(super) async fn start_snapshot(&self, rt: &mut SourceRuntime) {
        match rt.snapshot_task.take() {
            Some(task) if !task.is_finished() => {
                rt.snapshot_task = Some(task);
                return;
            }
            Some(task) => {
                if let Err(e) = join_snapshot(rt, task).await {
                    tracing::warn!(source = %rt.schema.name, error = %Chain(&e), "a snapshot failed; the next one writes every state");
                }
            }
            None => {}
        }
        rt.snapshot_task = Some(self.spawn_snapshot(rt));
    }

    /// Takes the states to snapshot (encoding those the engine has no encoding of) and
    /// writes them on a blocking thread; the snapshot covers every batch applied so far.
    fn spawn_snapshot(&self, rt: &mut SourceRuntime) -> tokio::task::JoinHandle<Result<()>> {
        let started = std::time::Instant::now();
        let (replace, writes) = take_snapshot(rt);
        let seq = rt.meta.seq;
        rt.meta.snapshot_seq = seq;
        let locked_ms = started.elapsed().as_millis() as u64;
        let (snapshots, source) = (self.snapshots.clone(), rt.schema.name.clone());
        tokio::task::spawn_blocking(move || {
            snapshots.write(&source, seq, &replace, &writes)?;
            tracing::info!(
                source = %source,
                states = writes.len(),
                under_lock_ms = locked_ms,
                total_ms = started.elapsed().as_millis() as u64,
                "snapshot written"
            );
            Ok(())
        })
    }
}

/// Waits for a snapshot task; on failure the next snapshot writes every state.
async fn join_snapshot(
    rt: &mut SourceRuntime,
    task: tokio::task::JoinHandle<Result<()>>,
) -> Result<()> {
    let done = task.await.unwrap_or_else(|e| {
        Err(Error::Task {
            task: "snapshot",
            source: e,
        })
    });
    if done.is_err() {
        rt.full_snapshot_due = true;
    }
    done
}

/// Waits for a running snapshot, ignoring its outcome (before a reload, which reads what
/// the disk holds either way).
pub(super) async fn settle_snapshot(rt: &mut SourceRuntime) {
    if let Some(task) = rt.snapshot_task.take() {
        let _ = join_snapshot(rt, task).await;
    }
}

/// The next snapshot's contents: the views whose stored states it replaces (all of the
/// source's aggregation views when a whole snapshot is due, else none) and the states to
/// write — every state then, else the changed ones — reusing the encodings the engine
/// made for the publisher and encoding the rest (on every core).
pub(super) fn take_snapshot(rt: &mut SourceRuntime) -> (Vec<String>, Vec<StateWrite>) {
    let changed = std::mem::take(&mut rt.unsnapshotted);
    let stamp = stamp_of(&rt.meta);
    let mut replace = Vec::new();
    let mut todo: Vec<(StateId, Option<Encoded>)> = if rt.full_snapshot_due {
        rt.full_snapshot_due = false;
        let mut all = Vec::new();
        for (vi, v) in rt.views.iter().enumerate() {
            if let ViewKind::Aggregate { states, .. } = &v.kind {
                replace.push(v.name.clone());
                all.extend(states.keys().map(|kb| {
                    let key = (vi, kb.clone());
                    let enc = changed.get(&key).cloned().flatten();
                    (key, enc)
                }));
            }
        }
        all
    } else {
        changed.into_iter().collect()
    };
    todo.sort_by(|a, b| a.0.cmp(&b.0));
    let views = &rt.views;
    let writes = map_parallel(&todo, ENCODE_PER_THREAD, |((vi, kb), enc)| {
        let v = views.get(*vi)?;
        let bytes = match enc {
            Some((stamp, bytes)) => {
                return Some((v.name.clone(), kb.clone(), *stamp, bytes.clone()))
            }
            None => {
                let ViewKind::Aggregate { states, .. } = &v.kind else {
                    return None;
                };
                let (_, state) = states.get(kb)?;
                Arc::new(encode_exact(state))
            }
        };
        Some((v.name.clone(), kb.clone(), stamp, bytes))
    });
    (replace, writes)
}
