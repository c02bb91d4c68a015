//! Ingesting one batch (see the module docs of [`super`] for the steps): classify its
//! events, write the projected views, then log and commit the batch while the aggregation
//! states are updated in memory, and hand the touched states to the publisher.

use hashbrown::HashSet;
use tessera_online::{Stamp, Value, WriteBatch};

use super::recovery::reload;
use super::snapshots::settle_snapshot;
use super::state_keys::{encode_key, id_bytes, key_of, sorted_keys};
use super::state_update::{apply_events, evict};
use super::{
    IngestReport, SourceRuntime, StreamConfig, StreamEngine, ViewKind, Visibility, MAX_BACKLOG,
};
use crate::checkpoint::{SourceMeta, TimedIds};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::offline_log;

/// The events of a batch to apply, once future, late and duplicate ones are taken out.
struct Classified {
    /// The events to apply, in arrival order.
    applied: Events,
    /// Their event ids (those that have one), with their event times.
    new_ids: TimedIds,
    /// The newest event time seen, these events included.
    max_ts: Option<i64>,
}

impl StreamEngine {
    /// As [`StreamEngine::ingest_events`], with event ids given by the transport (NATS
    /// stream sequences) for sources that declare no `event_id_field`, returning when the
    /// batch is `visibility`.
    pub async fn ingest_with_ids(
        &self,
        source: &str,
        events: Events,
        transport_ids: Option<Vec<Vec<u8>>>,
        visibility: Visibility,
    ) -> Result<IngestReport> {
        let rt = self.source(source)?.clone();
        let mut rt = rt.lock().await;
        if rt.poisoned {
            settle_snapshot(&mut rt).await;
            reload(&mut rt, &self.checkpoint, &self.snapshots, &self.config)?;
        }
        let n = events.len();
        let mut report = IngestReport {
            source: source.to_string(),
            received: n as u64,
            ..IngestReport::default()
        };
        if n == 0 {
            return Ok(report);
        }
        let now = (self.config.clock)();
        let batch = classify(&rt, &self.config, events, transport_ids, now, &mut report);
        report.applied = batch.applied.len() as u64;
        if batch.applied.is_empty() {
            return Ok(report);
        }
        let seq = rt.meta.seq;
        let stamp_ts = now.max(rt.meta.last_stamp.saturating_add(1));
        let stamp = Stamp::new(stamp_ts, i64::try_from(seq).unwrap_or(i64::MAX));

        // 3. projected views: written before the commit (a redone batch writes them again,
        // and "newer wins" makes that harmless), so a crash after it cannot lose them.
        for b in project(&rt, &batch.applied)? {
            self.store.write(b).await?;
        }

        // 4. the offline log and the commit, while the states are updated in memory.
        let meta = SourceMeta {
            seq: seq + 1,
            max_ts: batch.max_ts,
            last_stamp: stamp_ts,
            snapshot_seq: rt.meta.snapshot_seq,
        };
        let touched = self
            .commit_and_update(&mut rt, source, &batch, meta, now)
            .await?;
        report.seq = Some(seq);

        // 5. the online store, by the publisher.
        let gen = self.hand_over(&mut rt, touched.into_iter().collect(), stamp, true);
        if meta.seq - meta.snapshot_seq >= self.config.snapshot_every {
            self.start_snapshot(&mut rt).await;
        }
        drop(rt);
        match visibility {
            Visibility::Servable => self.publisher.wait(gen).await?,
            Visibility::Durable => self.publisher.throttle(MAX_BACKLOG).await?,
        }
        Ok(report)
    }

    /// Writes the batch to the offline log and commits its progress and ids, on a blocking
    /// thread, while this one updates the states in memory; returns the touched states.
    /// When either fails the batch is not applied: the states are put back as the disk has
    /// them (now, or before the next batch if that fails too).
    async fn commit_and_update(
        &self,
        rt: &mut SourceRuntime,
        source: &str,
        batch: &Classified,
        meta: SourceMeta,
        now: i64,
    ) -> Result<HashSet<(usize, Vec<u8>)>> {
        let seq = rt.meta.seq;
        let forget_cut = batch.max_ts.map_or(i64::MIN, |m| {
            m.saturating_sub(rt.schema.lateness_us)
                .saturating_sub(self.config.future.max_ahead_us())
        });
        let forget = rt.ids.expired(forget_cut);
        let record = offline_log::to_record_batch(&rt.schema, &batch.applied)?;
        let (cp, log_dir, src) = (
            self.checkpoint.clone(),
            rt.log_dir.clone(),
            source.to_string(),
        );
        let task_ids = batch.new_ids.clone();
        let task_forget = forget.clone();
        let durable = tokio::task::spawn_blocking(move || -> Result<()> {
            offline_log::write_batch(&log_dir, &src, seq, &record)?;
            cp.commit_batch(&src, meta, seq, &task_ids, &task_forget)
        });
        // ... while this thread updates the states in memory.
        let mut touched = HashSet::new();
        let updated = apply_events(
            &mut rt.views,
            None,
            &rt.schema,
            &batch.applied,
            false,
            &mut touched,
        );
        let horizon = now.min(batch.max_ts.unwrap_or(now));
        evict(&mut rt.views, &touched, horizon);
        let durable = durable.await.map_err(|e| Error::Task {
            task: "offline log",
            source: e,
        });
        match (durable, updated) {
            (Ok(Ok(())), Ok(())) => {}
            (Ok(Ok(())), Err(e)) => {
                // Committed, but the memory is not what the log says: reload from it.
                rt.meta = meta;
                rt.ids.add(seq, &batch.new_ids);
                rt.poisoned = true;
                return Err(e);
            }
            (Ok(Err(e)), _) | (Err(e), _) => {
                // Nothing of the batch is durable: put the states back as the disk has
                // them (snapshot + log), now, or before the next batch if that fails too.
                rt.poisoned = true;
                settle_snapshot(rt).await;
                let _ = reload(rt, &self.checkpoint, &self.snapshots, &self.config);
                return Err(e);
            }
        }
        // Applied.
        rt.meta = meta;
        rt.ids.forget_oldest(forget.len());
        rt.ids.add(seq, &batch.new_ids);
        Ok(touched)
    }
}

/// Classifies each event in arrival order (future, late, duplicate or applied), counting
/// the refused ones in `report`, and keeps the applied ones.
fn classify(
    rt: &SourceRuntime,
    config: &StreamConfig,
    events: Events,
    transport_ids: Option<Vec<Vec<u8>>>,
    now: i64,
    report: &mut IngestReport,
) -> Classified {
    let n = events.len();
    let ids: Vec<Option<Vec<u8>>> = match (rt.schema.event_id, transport_ids) {
        (Some(c), _) => events.cols[c].iter().map(id_bytes).collect(),
        (None, Some(t)) if t.len() == n => t.into_iter().map(Some).collect(),
        (None, _) => vec![None; n],
    };
    let mut keep = vec![false; n];
    let mut max_ts = rt.meta.max_ts;
    let mut batch_ids: HashSet<&[u8]> = HashSet::new();
    let mut new_ids = Vec::new();
    for row in 0..n {
        let ts = events.ts[row];
        if !config.future.allows(ts, now) {
            report.future += 1;
            continue;
        }
        if max_ts.is_some_and(|m| ts < m.saturating_sub(rt.schema.lateness_us)) {
            report.late += 1;
            continue;
        }
        if let Some(erased) = &config.erased {
            let hit = rt.schema.keys.iter().any(|&c| {
                let text = match events.cols[c].get(row) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Int64(n)) => n.to_string(),
                    _ => return false,
                };
                rt.schema
                    .columns
                    .get(c)
                    .is_some_and(|(name, _)| erased(name, &text))
            });
            if hit {
                report.erased += 1;
                continue;
            }
        }
        if let Some(id) = &ids[row] {
            if rt.ids.contains(id) || !batch_ids.insert(id.as_slice()) {
                report.duplicates += 1;
                continue;
            }
            new_ids.push((id.clone(), ts));
        }
        keep[row] = true;
        max_ts = Some(max_ts.map_or(ts, |m| m.max(ts)));
    }
    let applied = if keep.iter().all(|k| *k) {
        events
    } else {
        events.filter(&keep)
    };
    Classified {
        applied,
        new_ids,
        max_ts,
    }
}

/// Checks every applied event's keys before anything is written (so the update after the
/// commit cannot fail on them) and makes the rows of the projected views at the same time.
fn project(rt: &SourceRuntime, applied: &Events) -> Result<Vec<WriteBatch>> {
    let mut latest: Vec<WriteBatch> = Vec::new();
    for v in &rt.views {
        match &v.kind {
            ViewKind::Aggregate { .. } => {
                let sorted = sorted_keys(&v.keys);
                let mut kb = Vec::new();
                for row in 0..applied.len() {
                    encode_key(&sorted, applied, row, &mut kb)?;
                }
            }
            ViewKind::Latest { features } => {
                let mut b = WriteBatch::new(
                    v.name.clone(),
                    features.iter().map(|(f, _)| f.clone()).collect(),
                );
                for row in 0..applied.len() {
                    let key = key_of(&v.keys, applied, row)?;
                    let values = features
                        .iter()
                        .map(|(_, c)| c.map_or(Value::Null, |c| applied.cols[c][row].clone()))
                        .collect();
                    b.push(key, Stamp::new(applied.ts[row], Stamp::NO_CREATED), values);
                }
                latest.push(b);
            }
        }
    }
    Ok(latest)
}
