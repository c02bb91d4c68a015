//! [`StreamEngine`]: applies batches of events of stream sources to the views over them.
//!
//! For each batch (HTTP push, or a fetch of NATS messages), per source, one at a time:
//!
//! 1. decode against the declared schema — a bad batch is refused whole (`events.rs`);
//! 2. classify each event, in arrival order: **future** (event time more than
//!    `max_future` ahead of the clock), **late** (older than the newest event time seen minus
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

//!
//! The stages live in files of their own: `ingest` (one batch), `state_keys` (entity keys
//! and event ids from a batch's columns), `state_update` (the in-memory update),
//! `hand_over` (states to the publisher), `snapshots`, `recovery` (load and replay) and
//! `housekeeping` (the offline log's files).

mod hand_over;
mod housekeeping;
mod ingest;
mod live_erase;
mod recovery;
mod retention;
mod snapshots;
mod state_keys;
mod state_update;

use std::collections::BTreeMap;

use hashbrown::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_core::aggregate::{Value, ViewSpec, ViewState};
use tessera_core::{Catalog, FeatureViewDef, SourceDef};
use tessera_online::{EntityKey, FutureBound, OnlineStore, Stamp};
use tokio::sync::Mutex;

pub use retention::StreamRetentionReport;

use crate::checkpoint::{Checkpoint, SourceMeta};
use crate::error::{Error, Result};
use crate::events::{decode_columns, Events, SourceSchema};
use crate::id_window::IdWindow;
use crate::publisher::Publisher;
use crate::serving_store::ServingStore;
use crate::snapshot_file::SnapshotFile;
use hand_over::stamp_of;
use recovery::load;

pub use live_erase::LiveErasure;

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
    /// Whether an entity, by one join key and its value as text (`user_id`, `42`), was
    /// erased: its incoming events are dropped (counted as `erased`), so a redelivery cannot
    /// bring it back. `None`: nothing is checked.
    pub erased: Option<ErasedCheck>,
}

/// See [`StreamConfig::erased`].
pub type ErasedCheck = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

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
            erased: None,
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
    /// Events of erased entities ([`StreamConfig::erased`]): not applied.
    pub erased: u64,
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

/// Applies events of a repository's stream sources to the online store.
pub struct StreamEngine {
    store: Arc<dyn OnlineStore>,
    publisher: Publisher,
    checkpoint: Arc<Checkpoint>,
    snapshots: Arc<SnapshotFile>,
    sources: BTreeMap<String, Arc<Mutex<SourceRuntime>>>,
    config: StreamConfig,
    /// Held by a log compaction and by an erasure's log rewrite, never both at once.
    log_guard: Mutex<()>,
}

impl std::fmt::Debug for StreamEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEngine")
            .field("sources", &self.sources.keys().collect::<Vec<_>>())
            .finish()
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
        for source in catalog.sources().values().filter(|s| s.stream.is_some()) {
            let mut rt = source_runtime(&catalog, source, root)?;
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
            log_guard: Mutex::new(()),
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

    /// Compacts the offline log of every stream source, merging the files of the batches the
    /// source's last durable snapshot covers (see [`crate::log_compaction`]), on a blocking
    /// thread; ingestion goes on meanwhile.
    pub async fn compact_logs(
        &self,
        settings: &crate::CompactionSettings,
    ) -> Result<Vec<crate::CompactionReport>> {
        let _log_guard = self.log_guard.lock().await;
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
        .map_err(|source| Error::Task {
            task: "log compaction",
            source,
        })?
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

    /// The current aggregate values of one entity of an aggregation view as of `at`
    /// (for tests and tools; serving reads the online store).
    pub async fn values_at(
        &self,
        view: &str,
        key: &EntityKey,
        at: i64,
    ) -> Result<Option<Vec<Value>>> {
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

/// A source's runtime, with no state loaded yet: its schema, log directory and the
/// online views over it.
fn source_runtime(catalog: &Catalog, source: &SourceDef, root: &Path) -> Result<SourceRuntime> {
    let schema = SourceSchema::new(catalog, source)?;
    let views = catalog
        .feature_views()
        .values()
        .filter(|v| v.source == source.name && v.online)
        .map(|view| view_runtime(catalog, source, &schema, view))
        .collect::<Result<Vec<_>>>()?;
    Ok(SourceRuntime {
        log_dir: source.resolved_path(root),
        schema,
        meta: SourceMeta::default(),
        views,
        unsnapshotted: HashMap::new(),
        snapshot_task: None,
        full_snapshot_due: false,
        ids: IdWindow::default(),
        poisoned: false,
    })
}

/// How the engine keeps one view over a source: its join keys' columns, and its states
/// (an aggregation view) or its projected features.
fn view_runtime(
    catalog: &Catalog,
    source: &SourceDef,
    schema: &SourceSchema,
    view: &FeatureViewDef,
) -> Result<ViewRuntime> {
    let keys = catalog
        .join_keys(view)
        .into_iter()
        .map(|k| {
            let i = schema.index(&k).ok_or_else(|| {
                Error::definitions(format!(
                    "stream source `{}` lacks join key `{k}`",
                    source.name
                ))
            })?;
            Ok((k, i))
        })
        .collect::<Result<Vec<_>>>()?;
    let kind = match catalog.view_spec(view)? {
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
    Ok(ViewRuntime {
        name: view.name.clone(),
        keys,
        kind,
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
