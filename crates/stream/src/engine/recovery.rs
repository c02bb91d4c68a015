//! Recovery: a source's states loaded from the last snapshot and the offline log after it
//! (on open, and after a failed batch left the memory ahead of the disk).

use hashbrown::HashSet;
use tessera_core::aggregate::{Value, ViewState};
use tessera_online::EntityKey;

use super::housekeeping::{next_free_seq, remove_uncommitted};
use super::snapshots::take_snapshot;
use super::state_keys::id_bytes;
use super::state_update::{apply_events, evict};
use super::{SourceRuntime, StreamConfig, ViewKind};
use crate::checkpoint::{Checkpoint, SourceMeta, TimedIds};
use crate::error::Result;
use crate::events::{Events, SourceSchema};
use crate::id_window::IdWindow;
use crate::offline_log;
use crate::snapshot_file::SnapshotFile;

/// Drops the in-memory states and loads them again from the checkpoint and the log.
pub(super) fn reload(
    rt: &mut SourceRuntime,
    cp: &Checkpoint,
    snapshots: &SnapshotFile,
    config: &StreamConfig,
) -> Result<()> {
    for v in &mut rt.views {
        if let ViewKind::Aggregate { states, .. } = &mut v.kind {
            states.clear();
        }
    }
    rt.unsnapshotted.clear();
    rt.ids = IdWindow::default();
    load(rt, cp, snapshots, config)?;
    rt.poisoned = false;
    Ok(())
}

/// The states a replay touched: (view index, entity key bytes).
type Touched = HashSet<(usize, Vec<u8>)>;

/// Loads a source's progress, snapshot, ids and the log after the snapshot (the caller
/// writes the states to the online store).
pub(super) fn load(
    rt: &mut SourceRuntime,
    cp: &Checkpoint,
    snapshots: &SnapshotFile,
    config: &StreamConfig,
) -> Result<()> {
    let fresh = load_snapshot(rt, cp, snapshots)?;
    let (touched, log_ids) = replay(rt, fresh)?;
    let horizon = (config.clock)().min(rt.meta.max_ts.unwrap_or(i64::MAX));
    evict(&mut rt.views, &touched, horizon);
    rt.unsnapshotted
        .extend(touched.into_iter().map(|k| (k, None)));
    if fresh || rt.full_snapshot_due || !rt.unsnapshotted.is_empty() {
        // Record the progress, the replayed states and (on a first start) the log's event
        // ids at once: a crash in the next batch finds its log file uncommitted, and the
        // next open replays nothing.
        // The snapshot first: a crash before the checkpoint's commit leaves a fresh start,
        // which ignores the snapshot file.
        let source = rt.schema.name.clone();
        let meta = SourceMeta {
            snapshot_seq: rt.meta.seq,
            ..rt.meta
        };
        let (replace, writes) = take_snapshot(rt);
        snapshots.write(&source, meta.seq, &replace, &writes)?;
        let at = rt.meta.seq.saturating_sub(1);
        cp.commit_batch(&source, meta, at, &log_ids, &[])?;
        if !log_ids.is_empty() {
            rt.ids.add(at, &log_ids);
        }
        rt.meta = meta;
    }
    Ok(())
}

/// Loads a source's progress, its last snapshot of states and its remembered event ids;
/// returns whether the start is fresh (the checkpoint knew nothing of the source).
fn load_snapshot(
    rt: &mut SourceRuntime,
    cp: &Checkpoint,
    snapshots: &SnapshotFile,
) -> Result<bool> {
    let source = rt.schema.name.clone();
    let stored = cp.meta(&source)?;
    let fresh = stored.is_none();
    rt.meta = match stored {
        // Files of batches that never committed are removed.
        Some(meta) => {
            remove_uncommitted(&rt.log_dir, &source, meta.seq);
            meta
        }
        // No checkpoint (first start, or it was lost): keep every file and number new
        // batches after the last one.
        None => {
            let seq = next_free_seq(&rt.log_dir, &source);
            SourceMeta {
                seq,
                snapshot_seq: seq,
                ..SourceMeta::default()
            }
        }
    };
    // The snapshot: from the snapshot file, or (checkpoints of earlier builds) from the
    // checkpoint itself, once; none on a fresh start (the log is replayed whole, and the
    // snapshot written by `load` replaces whatever the snapshot file held).
    let from_file = if fresh {
        None
    } else {
        snapshots.progress(&source)?
    };
    rt.full_snapshot_due = from_file.is_none();
    if let Some(seq) = from_file {
        rt.meta.snapshot_seq = seq;
    }
    for v in &mut rt.views {
        if let ViewKind::Aggregate { spec, states } = &mut v.kind {
            let stored = match (fresh, from_file) {
                (true, _) => Vec::new(),
                (false, Some(_)) => snapshots.states(&v.name)?,
                (false, None) => cp.states(&v.name)?,
            };
            for (kb, _, bytes) in stored {
                let key = EntityKey::decode(&kb)?;
                states.insert(kb, (key, ViewState::decode(&bytes, spec)?));
            }
        }
    }
    for (seq, _, ids) in cp.ids(&source)? {
        rt.ids.add(seq, &ids);
    }
    Ok(fresh)
}

/// Replays the log: views with no stored state read the whole log (backfilled files too),
/// the others the batches committed after the snapshot. Returns the touched states and, on
/// a fresh start, the event ids the log holds.
fn replay(rt: &mut SourceRuntime, fresh: bool) -> Result<(Touched, TimedIds)> {
    let empty: Vec<usize> = rt
        .views
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(&v.kind, ViewKind::Aggregate { states, .. } if states.is_empty()))
        .map(|(i, _)| i)
        .collect();
    let mut touched = HashSet::new();
    let mut log_ids = Vec::new();
    let mut max_ts = rt.meta.max_ts;
    if !empty.is_empty() {
        for batch in &offline_log::read_all(&rt.log_dir, &rt.schema)? {
            let events = events_of_batch(&rt.schema, batch)?;
            if fresh {
                if let Some(c) = rt.schema.event_id {
                    for (d, ts) in events.cols[c].iter().zip(&events.ts) {
                        if let Some(id) = id_bytes(d) {
                            log_ids.push((id, *ts));
                        }
                    }
                }
            }
            apply_events(
                &mut rt.views,
                Some(&empty),
                &rt.schema,
                &events,
                true,
                &mut touched,
            )?;
            if let Some(m) = events.ts.iter().max() {
                max_ts = Some(max_ts.map_or(*m, |x| x.max(*m)));
            }
        }
    }
    let stored: Vec<usize> = (0..rt.views.len()).filter(|i| !empty.contains(i)).collect();
    if !fresh && rt.meta.snapshot_seq < rt.meta.seq && !stored.is_empty() {
        for batch in &offline_log::read_since(&rt.log_dir, &rt.schema, rt.meta.snapshot_seq)? {
            let events = events_of_batch(&rt.schema, batch)?;
            apply_events(
                &mut rt.views,
                Some(&stored),
                &rt.schema,
                &events,
                true,
                &mut touched,
            )?;
        }
    }
    rt.meta.max_ts = max_ts;
    Ok((touched, log_ids))
}

/// A log record batch as events.
pub(crate) fn events_of_batch(
    schema: &SourceSchema,
    batch: &arrow::record_batch::RecordBatch,
) -> Result<Events> {
    let ts_col = tessera_core::ArrowValues::new(batch.column(0))?;
    let mut ts = Vec::with_capacity(batch.num_rows());
    let mut keep = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        match ts_col.get(r) {
            Value::Timestamp(t) => {
                ts.push(t);
                keep.push(true);
            }
            _ => {
                ts.push(0);
                keep.push(false);
            }
        }
    }
    let cols = (0..schema.columns.len())
        .map(|i| {
            let c = tessera_core::ArrowValues::new(batch.column(i + 1))?;
            Ok((0..batch.num_rows()).map(|r| c.get(r)).collect())
        })
        .collect::<Result<Vec<Vec<Value>>>>()?;
    let events = Events { ts, cols };
    Ok(if keep.iter().all(|k| *k) {
        events
    } else {
        events.filter(&keep)
    })
}
