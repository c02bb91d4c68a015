//! [`StreamEngine`]: applies batches of events of stream sources to the views over them.
//!
//! For each batch (HTTP push, or a fetch of NATS messages), per source, one at a time:
//!
//! 1. decode against the declared schema — a bad batch is refused whole ([`crate::events`]);
//! 2. classify each event, in arrival order: **future** (event time more than
//!    `max_future` ahead of the clock), **late** (older than the newest event time seen minus
//!    the source's `allowed_lateness`), **duplicate** (its event id was applied before, or
//!    repeats in the batch), or **applied**. Future, late and duplicate events are counted
//!    and reported, never applied — and never written to the offline log, so backfills see
//!    exactly the events the online values hold;
//! 3. update, in memory, the tiles of every touched entity of every aggregation view (the
//!    one `tessera_aggregate` implementation), and the latest row of projected views;
//! 4. append the applied events to the offline log (one Parquet file per batch);
//! 5. commit states, event ids and progress to the [`Checkpoint`] in one transaction;
//! 6. write the new states to the online store ("newer wins" on a stamp that grows with
//!    every batch), then answer (or ack NATS).
//!
//! A crash before 5 leaves nothing applied (the log file of the unfinished batch is removed
//! when the engine reopens); a crash after 5 leaves the events applied and their ids known,
//! so redelivery is skipped; states not yet written to the online store are written again
//! when the engine opens. Hence at-least-once delivery gives exactly-once effect.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_core::aggregate::{Datum, Row, ViewSpec, ViewState};
use tessera_core::Catalog;
use tessera_online::{
    datum_to_value, state_batch, EntityKey, KeyValue, OnlineStore, Stamp, WriteBatch,
};
use tokio::sync::Mutex;

use crate::checkpoint::{Checkpoint, SourceMeta, StateWrite};
use crate::error::{Error, Result};
use crate::events::{decode_columns, Events, SourceSchema};
use crate::offline_log;

/// Settings of the engine.
#[derive(Clone)]
pub struct StreamConfig {
    /// Events stamped more than this ahead of the clock are refused as `future` (µs).
    pub max_future_us: i64,
    /// The clock (µs since the epoch); tests and replays set their own.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl std::fmt::Debug for StreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamConfig")
            .field("max_future_us", &self.max_future_us)
            .finish()
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            max_future_us: 5 * 60 * 1_000_000,
            clock: Arc::new(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            }),
        }
    }
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// The source.
    pub source: String,
    /// Events in the batch.
    pub received: u64,
    /// Events applied.
    pub applied: u64,
    /// Events skipped because their id was applied before (or repeats in the batch).
    pub duplicates: u64,
    /// Events older than the newest event time minus the allowed lateness: not applied.
    pub late: u64,
    /// Events stamped too far ahead of the clock: not applied.
    pub future: u64,
    /// The batch sequence number, when something was applied.
    pub seq: Option<u64>,
}

enum ViewKind {
    Aggregate {
        spec: Arc<ViewSpec>,
        states: HashMap<Vec<u8>, (EntityKey, ViewState)>,
    },
    /// A view of projected columns: (feature, column index).
    Latest {
        features: Vec<(String, Option<usize>)>,
    },
}

struct ViewRuntime {
    name: String,
    /// (join key, column index)
    keys: Vec<(String, usize)>,
    kind: ViewKind,
}

struct SourceRuntime {
    schema: SourceSchema,
    log_dir: PathBuf,
    meta: SourceMeta,
    views: Vec<ViewRuntime>,
    /// States committed but not yet written to the online store: (view index, key bytes).
    unpublished: HashSet<(usize, Vec<u8>)>,
}

/// One event of a batch, for filters and view updates.
struct EventRow<'a> {
    schema: &'a SourceSchema,
    events: &'a Events,
    row: usize,
}

impl Row for EventRow<'_> {
    fn get(&self, column: &str) -> Option<&Datum> {
        let i = self.schema.index(column)?;
        self.events.cols.get(i).and_then(|c| c.get(self.row))
    }
}

/// Applies events of a repository's stream sources to the online store.
pub struct StreamEngine {
    store: Arc<dyn OnlineStore>,
    checkpoint: Arc<Checkpoint>,
    sources: BTreeMap<String, Arc<Mutex<SourceRuntime>>>,
    config: StreamConfig,
}

impl std::fmt::Debug for StreamEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEngine")
            .field("sources", &self.sources.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn key_of(keys: &[(String, usize)], events: &Events, row: usize) -> Result<EntityKey> {
    let parts = keys
        .iter()
        .map(|(name, i)| {
            let v = match &events.cols[*i][row] {
                Datum::Int64(n) => KeyValue::Int64(*n),
                Datum::String(s) => KeyValue::String(s.clone()),
                other => {
                    return Err(Error::BadEvents {
                        bad: 1,
                        total: events.len(),
                        problems: vec![format!("row {row}: entity key `{name}` is {other:?}")],
                    })
                }
            };
            Ok((name.as_str(), v))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EntityKey::new(parts)?)
}

fn id_bytes(d: &Datum) -> Option<Vec<u8>> {
    match d {
        Datum::String(s) => Some([b"s:".as_slice(), s.as_bytes()].concat()),
        Datum::Int64(n) => Some([b"i:".as_slice(), &n.to_le_bytes()].concat()),
        _ => None,
    }
}

impl StreamEngine {
    /// Opens the engine for every stream source of `catalog`: loads the checkpoint
    /// (`.tessera/stream/checkpoint.redb` under `root`), drops log files of batches that
    /// never committed, rebuilds the states of views that have none from the offline log,
    /// and writes every state to the online store (repairing writes a crash interrupted).
    pub async fn open(
        root: &Path,
        catalog: Arc<Catalog>,
        store: Arc<dyn OnlineStore>,
        config: StreamConfig,
    ) -> Result<Self> {
        let checkpoint = Arc::new(Checkpoint::open(
            &root.join(".tessera/stream/checkpoint.redb"),
        )?);
        let mut sources = BTreeMap::new();
        for source in catalog.sources.values().filter(|s| s.stream.is_some()) {
            let schema = SourceSchema::new(&catalog, source)?;
            let log_dir = source.resolved_path(root);
            let stored = checkpoint.meta(&source.name)?;
            let fresh = stored.is_none();
            let meta = match stored {
                // Files of batches that never committed are removed.
                Some(meta) => {
                    remove_uncommitted(&log_dir, &source.name, meta.seq);
                    meta
                }
                // No checkpoint (first start, or it was lost): keep every file and number
                // new batches after the last one.
                None => SourceMeta {
                    seq: next_free_seq(&log_dir, &source.name),
                    ..SourceMeta::default()
                },
            };
            let mut views = Vec::new();
            for view in catalog
                .feature_views
                .values()
                .filter(|v| v.source == source.name && v.online)
            {
                let keys = catalog
                    .join_keys(view)
                    .into_iter()
                    .map(|k| {
                        let i = schema.index(&k).ok_or_else(|| {
                            Error::Definitions(format!(
                                "stream source `{}` lacks join key `{k}`",
                                source.name
                            ))
                        })?;
                        Ok((k, i))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let kind = match catalog
                    .view_spec(view)
                    .map_err(|e| Error::Definitions(e.to_string()))?
                {
                    Some(spec) => {
                        let spec = Arc::new(spec);
                        let mut states = HashMap::new();
                        for (kb, _, bytes) in checkpoint.states(&view.name)? {
                            let key = EntityKey::decode(&kb)?;
                            states.insert(kb, (key, ViewState::decode(&bytes, &spec)?));
                        }
                        ViewKind::Aggregate { spec, states }
                    }
                    None => ViewKind::Latest {
                        features: view
                            .features
                            .iter()
                            .map(|f| (f.name.clone(), schema.index(f.source_column())))
                            .collect(),
                    },
                };
                views.push(ViewRuntime {
                    name: view.name.clone(),
                    keys,
                    kind,
                });
            }
            let mut rt = SourceRuntime {
                schema,
                log_dir,
                meta,
                views,
                unpublished: HashSet::new(),
            };
            let (rebuilt, ids) = rebuild_missing_states(&mut rt)?;
            if fresh || !rebuilt.is_empty() {
                // Record the progress (and any rebuilt states and the log's event ids) at
                // once, so a crash in the first batch finds its log file uncommitted, and a
                // later restart does not rebuild again.
                let mut writes: Vec<StateWrite> = Vec::new();
                let stamp = Stamp::new(
                    rt.meta.last_stamp,
                    i64::try_from(rt.meta.seq).unwrap_or(i64::MAX),
                );
                for &vi in &rebuilt {
                    if let ViewKind::Aggregate { states, .. } = &rt.views[vi].kind {
                        for (kb, (_, state)) in states {
                            let mut bytes = Vec::new();
                            state.encode(&mut bytes);
                            writes.push((rt.views[vi].name.clone(), kb.clone(), stamp, bytes));
                        }
                    }
                }
                checkpoint.commit(&source.name, rt.meta, &ids, &writes, None)?;
            }
            for (vi, v) in rt.views.iter().enumerate() {
                if let ViewKind::Aggregate { states, .. } = &v.kind {
                    rt.unpublished
                        .extend(states.keys().map(|k| (vi, k.clone())));
                }
            }
            sources.insert(source.name.clone(), Arc::new(Mutex::new(rt)));
        }
        let engine = Self {
            store,
            checkpoint,
            sources,
            config,
        };
        for rt in engine.sources.values() {
            let mut rt = rt.lock().await;
            engine.publish(&mut rt).await?;
        }
        Ok(engine)
    }

    /// The stream sources this engine ingests.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }

    /// Whether `name` is a stream source of this engine.
    pub fn handles(&self, name: &str) -> bool {
        self.sources.contains_key(name)
    }

    /// Ingests a batch given as columns of loosely typed values (HTTP push).
    pub async fn ingest(
        &self,
        source: &str,
        columns: Vec<(String, Vec<tessera_online::Value>)>,
    ) -> Result<IngestReport> {
        let rt = self.source(source)?;
        let schema = rt.lock().await.schema.clone();
        let events = decode_columns(&schema, columns)?;
        self.ingest_events(source, events).await
    }

    fn source(&self, name: &str) -> Result<&Arc<Mutex<SourceRuntime>>> {
        self.sources.get(name).ok_or_else(|| Error::UnknownSource {
            name: name.to_string(),
            hint: if self.sources.is_empty() {
                " (no source is `type: stream`)".to_string()
            } else {
                format!(
                    " (stream sources: {})",
                    self.sources.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            },
        })
    }

    /// The schema of a source's events.
    pub async fn schema(&self, source: &str) -> Result<SourceSchema> {
        Ok(self.source(source)?.lock().await.schema.clone())
    }

    /// Ingests decoded events (see the module docs for the steps).
    pub async fn ingest_events(&self, source: &str, events: Events) -> Result<IngestReport> {
        self.ingest_with_ids(source, events, None).await
    }

    /// As [`StreamEngine::ingest_events`], with event ids given by the transport (NATS
    /// stream sequences) for sources that declare no `event_id_field`.
    pub async fn ingest_with_ids(
        &self,
        source: &str,
        events: Events,
        transport_ids: Option<Vec<Vec<u8>>>,
    ) -> Result<IngestReport> {
        let rt = self.source(source)?.clone();
        let mut rt = rt.lock().await;
        // Earlier states whose online write failed go first.
        self.publish(&mut rt).await?;
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
        let ids: Vec<Option<Vec<u8>>> = match (rt.schema.event_id, transport_ids) {
            (Some(c), _) => events.cols[c].iter().map(id_bytes).collect(),
            (None, Some(t)) if t.len() == n => t.into_iter().map(Some).collect(),
            (None, _) => vec![None; n],
        };
        let known: Vec<Vec<u8>> = ids.iter().flatten().cloned().collect();
        let seen: HashSet<Vec<u8>> = self
            .checkpoint
            .seen(source, &known)?
            .into_iter()
            .zip(known)
            .filter(|(s, _)| *s)
            .map(|(_, id)| id)
            .collect();
        let mut keep = vec![false; n];
        let mut max_ts = rt.meta.max_ts;
        let mut batch_ids: HashSet<&[u8]> = HashSet::new();
        let mut new_ids = Vec::new();
        for row in 0..n {
            let ts = events.ts[row];
            if ts > now.saturating_add(self.config.max_future_us) {
                report.future += 1;
                continue;
            }
            if max_ts.is_some_and(|m| ts < m.saturating_sub(rt.schema.lateness_us)) {
                report.late += 1;
                continue;
            }
            if let Some(id) = &ids[row] {
                if seen.contains(id) || !batch_ids.insert(id.as_slice()) {
                    report.duplicates += 1;
                    continue;
                }
                new_ids.push((id.clone(), ts));
            }
            keep[row] = true;
            max_ts = Some(max_ts.map_or(ts, |m| m.max(ts)));
        }
        let applied = events.filter(&keep);
        report.applied = applied.len() as u64;
        if applied.is_empty() {
            return Ok(report);
        }
        let seq = rt.meta.seq;
        let stamp_ts = now.max(rt.meta.last_stamp.saturating_add(1));
        let stamp = Stamp::new(stamp_ts, i64::try_from(seq).unwrap_or(i64::MAX));

        // 3. new states, in scratch space until the checkpoint commits.
        let mut scratch: Vec<HashMap<Vec<u8>, (EntityKey, ViewState)>> = Vec::new();
        let mut latest: Vec<Option<WriteBatch>> = Vec::new();
        for v in &rt.views {
            let mut touched: HashMap<Vec<u8>, (EntityKey, ViewState)> = HashMap::new();
            let mut rows: Option<WriteBatch> = None;
            match &v.kind {
                ViewKind::Aggregate { spec, states } => {
                    for row in 0..applied.len() {
                        let key = key_of(&v.keys, &applied, row)?;
                        let kb = key.encode();
                        let entry = match touched.entry(kb) {
                            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::hash_map::Entry::Vacant(e) => {
                                let state = states
                                    .get(e.key())
                                    .map_or_else(|| spec.new_state(), |(_, s)| s.clone());
                                e.insert((key, state))
                            }
                        };
                        let r = EventRow {
                            schema: &rt.schema,
                            events: &applied,
                            row,
                        };
                        entry.1.update(spec, applied.ts[row], &r)?;
                    }
                    let horizon = now.min(max_ts.unwrap_or(now));
                    for (_, s) in touched.values_mut() {
                        s.evict_before(horizon);
                    }
                }
                ViewKind::Latest { features } => {
                    let mut b = WriteBatch::new(
                        v.name.clone(),
                        features.iter().map(|(f, _)| f.clone()).collect(),
                    );
                    for row in 0..applied.len() {
                        let key = key_of(&v.keys, &applied, row)?;
                        let values = features
                            .iter()
                            .map(|(_, c)| {
                                c.map_or(tessera_online::Value::Null, |c| {
                                    datum_to_value(applied.cols[c][row].clone())
                                })
                            })
                            .collect();
                        b.push(key, Stamp::new(applied.ts[row], Stamp::NO_CREATED), values);
                    }
                    rows = Some(b);
                }
            }
            scratch.push(touched);
            latest.push(rows);
        }

        // 4. the offline log.
        let log_dir = rt.log_dir.clone();
        let schema = rt.schema.clone();
        let log_events = applied.clone();
        tokio::task::spawn_blocking(move || {
            offline_log::append(&log_dir, &schema, seq, &log_events)
        })
        .await
        .map_err(|e| Error::Log {
            path: rt.log_dir.clone(),
            message: format!("log task failed: {e}"),
        })??;

        // Projected views: their rows go to the online store before the checkpoint commits
        // (a redone batch writes them again, and "newer wins" makes that harmless), so a
        // crash between the commit and this write cannot lose them.
        for b in latest.into_iter().flatten() {
            self.store.write(b).await?;
        }

        // 5. the checkpoint.
        let mut writes: Vec<StateWrite> = Vec::new();
        for (v, touched) in rt.views.iter().zip(&scratch) {
            for (kb, (_, state)) in touched {
                let mut bytes = Vec::new();
                state.encode(&mut bytes);
                writes.push((v.name.clone(), kb.clone(), stamp, bytes));
            }
        }
        let meta = SourceMeta {
            seq: seq + 1,
            max_ts,
            last_stamp: stamp_ts,
        };
        let forget = max_ts.map(|m| {
            m.saturating_sub(rt.schema.lateness_us)
                .saturating_sub(self.config.max_future_us)
        });
        let cp = self.checkpoint.clone();
        let src = source.to_string();
        tokio::task::spawn_blocking(move || cp.commit(&src, meta, &new_ids, &writes, forget))
            .await
            .map_err(|e| Error::Checkpoint {
                path: PathBuf::from(".tessera/stream/checkpoint.redb"),
                message: format!("commit task failed: {e}"),
            })??;

        // Applied: adopt the states.
        rt.meta = meta;
        let rt_ref = &mut *rt;
        for (vi, touched) in scratch.into_iter().enumerate() {
            if let ViewKind::Aggregate { states, .. } = &mut rt_ref.views[vi].kind {
                for (kb, entry) in touched {
                    states.insert(kb.clone(), entry);
                    rt_ref.unpublished.insert((vi, kb));
                }
            }
        }
        report.seq = Some(seq);

        // 6. the online store.
        self.publish_with(&mut rt, stamp).await?;
        Ok(report)
    }

    /// Writes unpublished states with the source's last stamp.
    async fn publish(&self, rt: &mut SourceRuntime) -> Result<()> {
        let stamp = Stamp::new(
            rt.meta.last_stamp,
            i64::try_from(rt.meta.seq).unwrap_or(i64::MAX),
        );
        self.publish_with(rt, stamp).await
    }

    async fn publish_with(&self, rt: &mut SourceRuntime, stamp: Stamp) -> Result<()> {
        if rt.unpublished.is_empty() {
            return Ok(());
        }
        let mut by_view: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
        for (vi, kb) in &rt.unpublished {
            by_view.entry(*vi).or_default().push(kb.clone());
        }
        for (vi, keys) in by_view {
            let v = &rt.views[vi];
            let ViewKind::Aggregate { states, .. } = &v.kind else {
                continue;
            };
            for chunk in keys.chunks(4096) {
                let rows = chunk.iter().filter_map(|kb| {
                    let (key, state) = states.get(kb)?;
                    let mut bytes = Vec::new();
                    state.encode(&mut bytes);
                    Some((key.clone(), stamp, bytes))
                });
                self.store.write(state_batch(&v.name, rows)).await?;
                for kb in chunk {
                    rt.unpublished.remove(&(vi, kb.clone()));
                }
            }
        }
        Ok(())
    }

    /// The current aggregate values of one entity of an aggregation view as of `at`
    /// (for tests and tools; serving reads the online store).
    pub async fn values_at(
        &self,
        view: &str,
        key: &EntityKey,
        at: i64,
    ) -> Result<Option<Vec<Datum>>> {
        for rt in self.sources.values() {
            let rt = rt.lock().await;
            for v in &rt.views {
                if v.name != view {
                    continue;
                }
                if let ViewKind::Aggregate { spec, states } = &v.kind {
                    return Ok(Some(match states.get(&key.encode()) {
                        Some((_, s)) => s.value_at(at)?,
                        None => spec.new_state().value_at(at)?,
                    }));
                }
            }
        }
        Ok(None)
    }
}

fn log_seq(name: &str, source: &str) -> Option<u64> {
    name.strip_prefix(&format!("part-{source}-"))
        .and_then(|r| r.strip_suffix(".parquet"))
        .and_then(|n| n.parse::<u64>().ok())
}

/// One past the highest batch number in the log.
fn next_free_seq(dir: &Path, source: &str) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| log_seq(&e.file_name().to_string_lossy(), source))
                .max()
                .map_or(0, |m| m + 1)
        })
        .unwrap_or(0)
}

/// Removes log files of batches at or after `next_seq` (written by a batch that never
/// committed its checkpoint).
fn remove_uncommitted(dir: &Path, source: &str, next_seq: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let seq = log_seq(&name, source);
        if seq.is_some_and(|s| s >= next_seq) || name.ends_with(".parquet.tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Aggregation views with no stored state but a non-empty offline log (a first start over
/// backfilled files, or a lost checkpoint) get their states rebuilt from the log.
/// Event ids with their event times.
type EventIds = Vec<(Vec<u8>, i64)>;

/// Returns the rebuilt views and the event ids found in the log (to remember as applied).
fn rebuild_missing_states(rt: &mut SourceRuntime) -> Result<(Vec<usize>, EventIds)> {
    let empty: Vec<usize> = rt
        .views
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(&v.kind, ViewKind::Aggregate { states, .. } if states.is_empty()))
        .map(|(i, _)| i)
        .collect();
    if empty.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let batches = offline_log::read_all(&rt.log_dir, &rt.schema)?;
    if batches.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut ids = Vec::new();
    let mut max_ts = rt.meta.max_ts;
    for batch in &batches {
        let events = events_of_batch(&rt.schema, batch)?;
        if let Some(c) = rt.schema.event_id {
            for (d, ts) in events.cols[c].iter().zip(&events.ts) {
                if let Some(id) = id_bytes(d) {
                    ids.push((id, *ts));
                }
            }
        }
        for &vi in &empty {
            let v = &mut rt.views[vi];
            let ViewKind::Aggregate { spec, states } = &mut v.kind else {
                continue;
            };
            for row in 0..events.len() {
                let Ok(key) = key_of(&v.keys, &events, row) else {
                    continue; // a row without its key in a backfilled file
                };
                let kb = key.encode();
                let entry = states.entry(kb).or_insert_with(|| (key, spec.new_state()));
                let r = EventRow {
                    schema: &rt.schema,
                    events: &events,
                    row,
                };
                entry.1.update(spec, events.ts[row], &r)?;
            }
        }
        if let Some(m) = events.ts.iter().max() {
            max_ts = Some(max_ts.map_or(*m, |x| x.max(*m)));
        }
    }
    rt.meta.max_ts = max_ts;
    Ok((empty, ids))
}

/// A log record batch as events.
pub(crate) fn events_of_batch(
    schema: &SourceSchema,
    batch: &arrow::record_batch::RecordBatch,
) -> Result<Events> {
    let ts_col = tessera_core::DatumColumn::new(batch.column(0))?;
    let mut ts = Vec::with_capacity(batch.num_rows());
    let mut keep = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        match ts_col.get(r) {
            Datum::Timestamp(t) => {
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
            let c = tessera_core::DatumColumn::new(batch.column(i + 1))?;
            Ok((0..batch.num_rows()).map(|r| c.get(r)).collect())
        })
        .collect::<Result<Vec<Vec<Datum>>>>()?;
    let events = Events { ts, cols };
    Ok(if keep.iter().all(|k| *k) {
        events
    } else {
        events.filter(&keep)
    })
}

#[async_trait::async_trait]
impl tessera_access::EventIngest for StreamEngine {
    fn handles(&self, source: &str) -> bool {
        StreamEngine::handles(self, source)
    }

    async fn ingest(
        &self,
        source: &str,
        columns: Vec<(String, Vec<tessera_online::Value>)>,
    ) -> std::result::Result<tessera_access::IngestSummary, tessera_access::IngestError> {
        match StreamEngine::ingest(self, source, columns).await {
            Ok(r) => Ok(tessera_access::IngestSummary {
                applied: r.applied,
                duplicates: r.duplicates,
                late: r.late,
                future: r.future,
            }),
            Err(e @ (Error::BadEvents { .. } | Error::UnknownSource { .. })) => {
                Err(tessera_access::IngestError::BadEvents(e.to_string()))
            }
            Err(e) => Err(tessera_access::IngestError::Failed(e.to_string())),
        }
    }
}
