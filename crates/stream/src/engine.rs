//! [`StreamEngine`]: applies batches of events of stream sources to the views over them.
//!
//! For each batch (HTTP push, or a fetch of NATS messages), per source, one at a time:
//!
//! 1. decode against the declared schema — a bad batch is refused whole ([`crate::events`]);
//! 2. classify each event, in arrival order: **future** (event time more than
//!    `writes.max_future` ahead of the clock: [`FutureBound`], the bound of every write
//!    path), **late** (older than the newest event time seen minus
//!    the source's `allowed_lateness`), **duplicate** (its event id was applied before, or
//!    repeats in the batch), or **applied**. Future, late and duplicate events are counted
//!    and reported, never applied — and never written to the offline log, so backfills see
//!    exactly the events the online values hold;
//! 3. write the rows of projected views to the online store ("newer wins" makes a redone
//!    batch harmless);
//! 4. append the applied events to the offline log (one Parquet file per batch, synced)
//!    and then commit the batch's progress and event ids to the [`Checkpoint`] in one small
//!    transaction — on a blocking thread, while this one updates, in memory, the tiles of
//!    every touched entity of every aggregation view (the one `tessera_aggregate`
//!    implementation);
//! 5. write the touched entities' states to the online store ("newer wins" on a stamp that
//!    grows with every batch), then answer (or ack NATS). Every `snapshot_every` batches
//!    the states changed since the last snapshot are written to the checkpoint.
//!
//! A crash before the commit of 4 leaves nothing applied (the log file of the unfinished
//! batch is removed when the engine reopens); a crash after it leaves the events applied and
//! their ids known, so redelivery is skipped. On open the engine loads the last snapshot and
//! replays the log files of the batches committed after it through the same update code,
//! then writes every state to the online store (repairing writes a crash interrupted).
//! Hence at-least-once delivery gives exactly-once effect. If the log or the commit fails
//! after the in-memory update, the source's states are reloaded the same way before its
//! next batch.

use std::collections::BTreeMap;

use hashbrown::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_core::aggregate::{Datum, Row, ViewSpec, ViewState};
use tessera_core::{map_parallel, Catalog, DenseGroups};
use tessera_online::{
    datum_to_value, EntityKey, FutureBound, KeyValue, KeyValueRef, OnlineStore, Stamp, WriteBatch,
};
use tokio::sync::Mutex;

use crate::checkpoint::{Checkpoint, SourceMeta, StateWrite};
use crate::error::{Error, Result};
use crate::events::{decode_columns, Events, SourceSchema};
use crate::id_window::IdWindow;
use crate::offline_log;
use crate::publisher::Publisher;
use crate::serving_store::ServingStore;
use crate::snapshot_file::SnapshotFile;

/// Settings of the engine.
#[derive(Clone)]
pub struct StreamConfig {
    /// Events stamped beyond this bound ahead of the clock are refused as `future` (the
    /// bound every write path applies: `writes.max_future` in `tessera.yaml`).
    pub future: FutureBound,
    /// The clock (µs since the epoch); tests and replays set their own.
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// Write a snapshot of the changed states to the checkpoint every this many batches of
    /// a source (at least 1). Fewer means shorter replays on open, more means less writing.
    pub snapshot_every: u64,
}

impl std::fmt::Debug for StreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamConfig")
            .field("future", &self.future)
            .field("snapshot_every", &self.snapshot_every)
            .finish()
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            future: FutureBound::default(),
            clock: Arc::new(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            }),
            snapshot_every: 256,
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

/// When an ingest call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Once the batch is durable (checkpoint and log); its states reach the online store
    /// shortly after, in the background (NATS: the ack needs durability only).
    Durable,
    /// Once the batch's states are in the online store too (HTTP push: read your writes).
    Servable,
}

/// States waiting for the online store beyond which [`Visibility::Durable`] ingests wait.
const MAX_BACKLOG: usize = 200_000;

/// Entity states of an aggregation view: key bytes → (key, state).
type States = HashMap<Vec<u8>, (EntityKey, ViewState)>;

/// An encoded state and the stamp it was encoded with.
type Encoded = (Stamp, Arc<Vec<u8>>);

/// A state of a source: (view index, entity key bytes).
type StateId = (usize, Vec<u8>);

enum ViewKind {
    Aggregate {
        spec: Arc<ViewSpec>,
        states: States,
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
    /// States changed since the last snapshot, with their newest encoding when the engine
    /// made one (handed over to the publisher) — `None`: encode when snapshotting.
    unsnapshotted: HashMap<StateId, Option<Encoded>>,
    /// The snapshot being written in the background, if any.
    snapshot_task: Option<tokio::task::JoinHandle<Result<()>>>,
    /// The next snapshot must hold every state (the snapshot file lacks this source's,
    /// or a snapshot failed).
    full_snapshot_due: bool,
    /// Ids of applied events still within the lateness horizon.
    ids: IdWindow,
    /// The in-memory states may be ahead of the durable ones (a log write or commit failed
    /// after the update, and reloading at once failed too): reload before the next batch.
    poisoned: bool,
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
    publisher: Publisher,
    checkpoint: Arc<Checkpoint>,
    snapshots: Arc<SnapshotFile>,
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
            let (name, v) = key_part(name, *i, events, row)?;
            let v = match v {
                KeyValueRef::Int64(n) => KeyValue::Int64(n),
                KeyValueRef::String(s) => KeyValue::String(s.to_string()),
            };
            Ok((name, v))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EntityKey::new(parts)?)
}

/// States per thread below which encoding them on another thread is not worth starting it.
const ENCODE_PER_THREAD: usize = 1024;

/// A view's join keys sorted by name (the order [`EntityKey`] keeps), with their columns.
fn sorted_keys(keys: &[(String, usize)]) -> Vec<(&str, usize)> {
    let mut sorted: Vec<(&str, usize)> = keys.iter().map(|(n, i)| (n.as_str(), *i)).collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
}

fn key_part<'a>(
    name: &'a str,
    i: usize,
    events: &'a Events,
    row: usize,
) -> Result<(&'a str, KeyValueRef<'a>)> {
    match &events.cols[i][row] {
        Datum::Int64(n) => Ok((name, KeyValueRef::Int64(*n))),
        Datum::String(s) => Ok((name, KeyValueRef::String(s))),
        other => Err(Error::BadEvents {
            bad: 1,
            total: events.len(),
            problems: vec![format!("row {row}: entity key `{name}` is {other:?}")],
        }),
    }
}

/// Writes the encoded entity key of `row` to `out` (cleared first) without building the
/// [`EntityKey`]: the bytes `key_of(..).encode()` gives, and the same error.
fn encode_key(
    sorted: &[(&str, usize)],
    events: &Events,
    row: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.clear();
    match sorted {
        [(name, i)] => EntityKey::encode_parts_into(out, &[key_part(name, *i, events, row)?])?,
        many => {
            let parts = many
                .iter()
                .map(|(name, i)| key_part(name, *i, events, row))
                .collect::<Result<Vec<_>>>()?;
            EntityKey::encode_parts_into(out, &parts)?;
        }
    }
    Ok(())
}

fn id_bytes(d: &Datum) -> Option<Vec<u8>> {
    match d {
        Datum::String(s) => Some([b"s:".as_slice(), s.as_bytes()].concat()),
        Datum::Int64(n) => Some([b"i:".as_slice(), &n.to_le_bytes()].concat()),
        _ => None,
    }
}

fn stamp_of(meta: &SourceMeta) -> Stamp {
    Stamp::new(meta.last_stamp, i64::try_from(meta.seq).unwrap_or(i64::MAX))
}

/// Applies `events` (all applied before, or about to be) to the states of the aggregation
/// views `include` selects (all when `None`) and records the touched entities. Rows whose
/// key cannot be read are skipped when `skip_bad_keys` (backfilled files), else refused.
fn apply_events(
    views: &mut [ViewRuntime],
    include: Option<&[usize]>,
    schema: &SourceSchema,
    events: &Events,
    skip_bad_keys: bool,
    touched: &mut HashSet<(usize, Vec<u8>)>,
) -> Result<()> {
    for (vi, v) in views.iter_mut().enumerate() {
        if include.is_some_and(|inc| !inc.contains(&vi)) {
            continue;
        }
        let ViewKind::Aggregate { spec, states } = &mut v.kind else {
            continue;
        };
        let sorted = sorted_keys(&v.keys);
        // Each row's entity: an index into the batch's distinct keys (`SKIPPED` for rows
        // whose key cannot be read, when those are skipped).
        const SKIPPED: u32 = u32::MAX;
        let mut kb = Vec::new();
        let mut ids: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut first_row: Vec<usize> = Vec::new();
        let mut entity_of: Vec<u32> = Vec::with_capacity(events.len());
        for row in 0..events.len() {
            match encode_key(&sorted, events, row, &mut kb) {
                Ok(()) => {}
                Err(_) if skip_bad_keys => {
                    entity_of.push(SKIPPED);
                    continue;
                }
                Err(e) => return Err(e),
            }
            let id = match ids.get(kb.as_slice()) {
                Some(&id) => id,
                None => {
                    let id = first_row.len() as u32;
                    ids.insert(kb.clone(), id);
                    first_row.push(row);
                    id
                }
            };
            entity_of.push(id);
        }
        // The rows grouped by entity, each group in row order, so each entity's state is
        // looked up once and updated while it is in cache.
        let entities = first_row.len();
        let groups = DenseGroups::new(&entity_of, entities, SKIPPED);
        let mut keys: Vec<Vec<u8>> = vec![Vec::new(); entities];
        for (k, id) in ids {
            keys[id as usize] = k;
        }
        for (id, kb) in keys.iter().enumerate() {
            let entry = match states.get_mut(kb.as_slice()) {
                Some(e) => e,
                None => {
                    let key = key_of(&v.keys, events, first_row[id])?;
                    states
                        .entry(kb.clone())
                        .or_insert_with(|| (key, spec.new_state()))
                }
            };
            for &row in groups.rows(id) {
                let row = row as usize;
                let r = EventRow {
                    schema,
                    events,
                    row,
                };
                entry.1.update(spec, events.ts[row], &r)?;
            }
        }
        touched.extend(keys.into_iter().map(|k| (vi, k)));
    }
    Ok(())
}

fn evict(views: &mut [ViewRuntime], touched: &HashSet<(usize, Vec<u8>)>, horizon: i64) {
    for (vi, kb) in touched {
        if let Some(ViewRuntime {
            kind: ViewKind::Aggregate { states, .. },
            ..
        }) = views.get_mut(*vi)
        {
            if let Some((_, s)) = states.get_mut(kb) {
                s.evict_before(horizon);
            }
        }
    }
}

impl StreamEngine {
    /// Opens the engine for every stream source of `catalog`: loads the checkpoint
    /// (`.tessera/stream/checkpoint.redb` under `root`) and its last snapshot of states,
    /// drops log files of batches that never committed, replays the log files committed
    /// after the snapshot (the whole log for views with no stored state: a first start over
    /// backfilled files, a lost checkpoint, a new view), and writes every state to the
    /// online store (repairing writes a crash interrupted).
    pub async fn open(
        root: &Path,
        catalog: Arc<Catalog>,
        store: Arc<dyn OnlineStore>,
        config: StreamConfig,
    ) -> Result<Self> {
        let checkpoint = Arc::new(Checkpoint::open(
            &root.join(".tessera/stream/checkpoint.redb"),
        )?);
        let snapshots = Arc::new(SnapshotFile::open(
            &root.join(".tessera/stream/snapshots.redb"),
        )?);
        let config = StreamConfig {
            snapshot_every: config.snapshot_every.max(1),
            ..config
        };
        let mut sources = BTreeMap::new();
        for source in catalog.sources.values().filter(|s| s.stream.is_some()) {
            let schema = SourceSchema::new(&catalog, source)?;
            let log_dir = source.resolved_path(root);
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
                    Some(spec) => ViewKind::Aggregate {
                        spec: Arc::new(spec),
                        states: HashMap::new(),
                    },
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
                meta: SourceMeta::default(),
                views,
                unsnapshotted: HashMap::new(),
                snapshot_task: None,
                full_snapshot_due: false,
                ids: IdWindow::default(),
                poisoned: false,
            };
            load(&mut rt, &checkpoint, &snapshots, &config)?;
            sources.insert(source.name.clone(), Arc::new(Mutex::new(rt)));
        }
        let engine = Self {
            publisher: Publisher::spawn(store.clone()),
            store,
            checkpoint,
            snapshots,
            sources,
            config,
        };
        // Every state goes to the online store (repairing writes a crash interrupted)
        // before the engine serves.
        for rt in engine.sources.values() {
            let mut rt = rt.lock().await;
            let all: Vec<(usize, Vec<u8>)> = rt
                .views
                .iter()
                .enumerate()
                .filter_map(|(vi, v)| match &v.kind {
                    ViewKind::Aggregate { states, .. } => Some((vi, states)),
                    ViewKind::Latest { .. } => None,
                })
                .flat_map(|(vi, states)| states.keys().map(move |k| (vi, k.clone())))
                .collect();
            let stamp = stamp_of(&rt.meta);
            engine.hand_over(&mut rt, all, stamp, false);
        }
        engine.publisher.flush().await?;
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

    /// Ingests decoded events (see the module docs for the steps); returns once the
    /// batch is durable and its values are servable.
    pub async fn ingest_events(&self, source: &str, events: Events) -> Result<IngestReport> {
        self.ingest_with_ids(source, events, None, Visibility::Servable)
            .await
    }

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
            if !self.config.future.allows(ts, now) {
                report.future += 1;
                continue;
            }
            if max_ts.is_some_and(|m| ts < m.saturating_sub(rt.schema.lateness_us)) {
                report.late += 1;
                continue;
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
        report.applied = applied.len() as u64;
        if applied.is_empty() {
            return Ok(report);
        }
        let seq = rt.meta.seq;
        let stamp_ts = now.max(rt.meta.last_stamp.saturating_add(1));
        let stamp = Stamp::new(stamp_ts, i64::try_from(seq).unwrap_or(i64::MAX));

        // Keys are checked before anything is written, so the update after the commit
        // cannot fail on them; projected rows are made at the same time.
        let mut latest: Vec<WriteBatch> = Vec::new();
        for v in &rt.views {
            match &v.kind {
                ViewKind::Aggregate { .. } => {
                    let sorted = sorted_keys(&v.keys);
                    let mut kb = Vec::new();
                    for row in 0..applied.len() {
                        encode_key(&sorted, &applied, row, &mut kb)?;
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
                    latest.push(b);
                }
            }
        }
        // 3. projected views: written before the commit (a redone batch writes them again,
        // and "newer wins" makes that harmless), so a crash after it cannot lose them.
        for b in latest {
            self.store.write(b).await?;
        }

        // 4. the offline log and the commit, on a blocking thread ...
        let meta = SourceMeta {
            seq: seq + 1,
            max_ts,
            last_stamp: stamp_ts,
            snapshot_seq: rt.meta.snapshot_seq,
        };
        let forget_cut = max_ts.map_or(i64::MIN, |m| {
            m.saturating_sub(rt.schema.lateness_us)
                .saturating_sub(self.config.future.max_ahead_us())
        });
        let forget = rt.ids.expired(forget_cut);
        let record = offline_log::to_record_batch(&rt.schema, &applied)?;
        let (cp, log_dir, src) = (
            self.checkpoint.clone(),
            rt.log_dir.clone(),
            source.to_string(),
        );
        let task_ids = new_ids.clone();
        let task_forget = forget.clone();
        let durable = tokio::task::spawn_blocking(move || -> Result<()> {
            offline_log::write_batch(&log_dir, &src, seq, &record)?;
            cp.commit_batch(&src, meta, seq, &task_ids, &task_forget)
        });
        // ... while this thread updates the states in memory.
        let mut touched = HashSet::new();
        let rt_ref = &mut *rt;
        let updated = apply_events(
            &mut rt_ref.views,
            None,
            &rt_ref.schema,
            &applied,
            false,
            &mut touched,
        );
        let horizon = now.min(max_ts.unwrap_or(now));
        evict(&mut rt_ref.views, &touched, horizon);
        let durable = durable.await.map_err(|e| Error::Log {
            path: rt.log_dir.clone(),
            message: format!("log task failed: {e}"),
        });
        match (durable, updated) {
            (Ok(Ok(())), Ok(())) => {}
            (Ok(Ok(())), Err(e)) => {
                // Committed, but the memory is not what the log says: reload from it.
                rt.meta = meta;
                rt.ids.add(seq, &new_ids);
                rt.poisoned = true;
                return Err(e);
            }
            (Ok(Err(e)), _) | (Err(e), _) => {
                // Nothing of the batch is durable: put the states back as the disk has
                // them (snapshot + log), now, or before the next batch if that fails too.
                rt.poisoned = true;
                settle_snapshot(&mut rt).await;
                let _ = reload(&mut rt, &self.checkpoint, &self.snapshots, &self.config);
                return Err(e);
            }
        }

        // Applied.
        rt.meta = meta;
        rt.ids.forget_oldest(forget.len());
        rt.ids.add(seq, &new_ids);
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

    /// Encodes the given states and hands them to the publisher; returns the generation.
    /// With `remember`, the encodings are kept for the next snapshot too.
    fn hand_over(
        &self,
        rt: &mut SourceRuntime,
        which: Vec<(usize, Vec<u8>)>,
        stamp: Stamp,
        remember: bool,
    ) -> u64 {
        let mut by_view: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
        for (vi, kb) in which {
            by_view.entry(vi).or_default().push(kb);
        }
        let mut gen = 0;
        for (vi, keys) in by_view {
            let v = &rt.views[vi];
            let ViewKind::Aggregate { states, .. } = &v.kind else {
                continue;
            };
            // Encoded here, on every core, not under the publisher's lock.
            let rows = map_parallel(&keys, ENCODE_PER_THREAD, |kb| {
                let (key, state) = states.get(kb)?;
                let mut bytes = Vec::with_capacity(1024);
                state.encode(&mut bytes);
                Some((kb.clone(), (key.clone(), stamp, Arc::new(bytes))))
            });
            if remember {
                for (kb, (_, _, bytes)) in &rows {
                    rt.unsnapshotted
                        .insert((vi, kb.clone()), Some((stamp, bytes.clone())));
                }
            }
            gen = self.publisher.publish(&rt.views[vi].name, rows);
        }
        gen
    }

    /// Compacts the offline log of every stream source, merging the files of the batches the
    /// source's last durable snapshot covers (see [`crate::log_compaction`]), on a blocking
    /// thread; ingestion goes on meanwhile.
    pub async fn compact_logs(
        &self,
        settings: &crate::CompactionSettings,
    ) -> Result<Vec<crate::CompactionReport>> {
        let mut jobs = Vec::new();
        for (name, rt) in &self.sources {
            let dir = rt.lock().await.log_dir.clone();
            if let Some(cut) = self.snapshots.progress(name)? {
                jobs.push((name.clone(), dir, cut));
            }
        }
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || {
            jobs.iter()
                .map(|(name, dir, cut)| crate::compact_log(dir, name, *cut, &settings))
                .collect()
        })
        .await
        .map_err(|e| Error::Publish(format!("the log compaction task failed: {e}")))?
    }

    /// The online store as this process should serve it: the engine's store, with the
    /// states of applied batches that are not yet written laid over it (see
    /// [`crate::ServingStore`]), so reads here see a batch as soon as it is applied.
    pub fn serving_store(&self) -> Arc<dyn OnlineStore> {
        Arc::new(ServingStore::new(
            self.store.clone(),
            self.publisher.pending_states(),
        ))
    }

    /// Waits until every state handed over so far is in the online store.
    pub async fn flush(&self) -> Result<()> {
        self.publisher.flush().await
    }

    /// States waiting for the online store.
    pub fn backlog(&self) -> usize {
        self.publisher.backlog()
    }

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
    async fn snapshot_locked(&self, rt: &mut SourceRuntime) -> Result<()> {
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
    async fn start_snapshot(&self, rt: &mut SourceRuntime) {
        match rt.snapshot_task.take() {
            Some(task) if !task.is_finished() => {
                rt.snapshot_task = Some(task);
                return;
            }
            Some(task) => {
                if let Err(e) = join_snapshot(rt, task).await {
                    tracing::warn!(source = %rt.schema.name, error = %e, "a snapshot failed; the next one writes every state");
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

    /// Event ids the engine remembers for duplicate detection, per source (for tools and
    /// tests: bounded by the lateness horizon).
    pub async fn remembered_ids(&self, source: &str) -> Result<usize> {
        Ok(self.source(source)?.lock().await.ids.len())
    }
}

/// Waits for a snapshot task; on failure the next snapshot writes every state.
async fn join_snapshot(
    rt: &mut SourceRuntime,
    task: tokio::task::JoinHandle<Result<()>>,
) -> Result<()> {
    let done = task.await.unwrap_or_else(|e| {
        Err(Error::Checkpoint {
            path: PathBuf::from(".tessera/stream/snapshots.redb"),
            message: format!("snapshot task failed: {e}"),
        })
    });
    if done.is_err() {
        rt.full_snapshot_due = true;
    }
    done
}

/// Waits for a running snapshot, ignoring its outcome (before a reload, which reads what
/// the disk holds either way).
async fn settle_snapshot(rt: &mut SourceRuntime) {
    if let Some(task) = rt.snapshot_task.take() {
        let _ = join_snapshot(rt, task).await;
    }
}

/// The next snapshot's contents: the views whose stored states it replaces (all of the
/// source's aggregation views when a whole snapshot is due, else none) and the states to
/// write — every state then, else the changed ones — reusing the encodings the engine
/// made for the publisher and encoding the rest (on every core).
fn take_snapshot(rt: &mut SourceRuntime) -> (Vec<String>, Vec<StateWrite>) {
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
                let mut bytes = Vec::new();
                state.encode(&mut bytes);
                Arc::new(bytes)
            }
        };
        Some((v.name.clone(), kb.clone(), stamp, bytes))
    });
    (replace, writes)
}

/// Drops the in-memory states and loads them again from the checkpoint and the log.
fn reload(
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

/// Loads a source's progress, snapshot, ids and the log after the snapshot (the caller
/// writes the states to the online store).
fn load(
    rt: &mut SourceRuntime,
    cp: &Checkpoint,
    snapshots: &SnapshotFile,
    config: &StreamConfig,
) -> Result<()> {
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
    // snapshot written below replaces whatever the snapshot file held).
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
    // Replay: views with no stored state read the whole log (backfilled files too), the
    // others the batches committed after the snapshot.
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
    let horizon = (config.clock)().min(max_ts.unwrap_or(i64::MAX));
    evict(&mut rt.views, &touched, horizon);
    rt.unsnapshotted
        .extend(touched.into_iter().map(|k| (k, None)));
    if fresh || rt.full_snapshot_due || !rt.unsnapshotted.is_empty() {
        // Record the progress, the replayed states and (on a first start) the log's event
        // ids at once: a crash in the next batch finds its log file uncommitted, and the
        // next open replays nothing.
        // The snapshot first: a crash before the checkpoint's commit leaves a fresh start,
        // which ignores the snapshot file.
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

/// One past the highest batch number in the log.
fn next_free_seq(dir: &Path, source: &str) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| offline_log::last_seq(&e.file_name().to_string_lossy(), source))
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
        let seq = offline_log::log_seq(&name, source);
        if seq.is_some_and(|s| s >= next_seq) || name.ends_with(".parquet.tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
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
