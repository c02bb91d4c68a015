//! [`Publisher`]: writes committed aggregation states to the online store off the ingest
//! path, on a task of its own.
//!
//! The engine hands it each batch's touched states (encoded) once the batch is durable; the
//! publisher keeps the newest state per (view, entity) — an entity touched by several
//! batches while a write is in flight is written once, with its newest state — and writes
//! everything pending in one call per view, then the next. Ingesting the next batch thus
//! overlaps with writing the last one, and a slow store coalesces instead of queueing.
//!
//! States handed over but not yet in the store stay readable: [`Publisher::lookup`] finds
//! an entity's newest pending or in-flight state, which [`crate::ServingStore`] lays over
//! the store's own rows, so the serving process sees a batch once it is applied rather than
//! once its states are written.
//!
//! Each hand-over gets a generation number; [`Publisher::wait`] returns once everything up
//! to a generation is in the store (HTTP pushes wait, so a client reads its own writes;
//! NATS acks do not need to: the batch is durable in the checkpoint and the log, and the
//! engine republishes every state when it opens). A failing store keeps its rows pending
//! and is retried; waiters get the error.

use std::collections::BTreeMap;

use hashbrown::HashMap;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use tessera_online::{state_batch, EntityKey, OnlineStore, Stamp};
use tokio::sync::Notify;

use crate::error::{Error, Result};

/// One state to write: entity key, stamp, encoded state.
pub(crate) type StateRow = (EntityKey, Stamp, Arc<Vec<u8>>);

/// view → entity key bytes → newest state.
type Rows = BTreeMap<String, HashMap<Vec<u8>, StateRow>>;

#[derive(Default)]
struct Pending {
    /// States waiting for the next write.
    rows: Rows,
    /// The states of the write in flight (readable until they are in the store).
    in_flight: Option<Arc<Rows>>,
    count: usize,
    /// The last generation handed over.
    queued: u64,
    /// Every generation up to this one is in the store.
    done: u64,
    /// The last write failure, until a write succeeds.
    error: Option<Arc<tessera_online::Error>>,
    closed: bool,
}

struct Shared {
    pending: SyncMutex<Pending>,
    /// New rows, or closing.
    work: Notify,
    /// A write finished (or failed).
    progress: Notify,
}

/// Writes states to the online store in the background. Dropping it stops the task after
/// the write in flight; rows still pending are written again when the engine next opens.
pub(crate) struct Publisher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

/// Rows per store call.
const CHUNK: usize = 8192;

impl Publisher {
    /// Starts the publisher's task (on the current tokio runtime).
    pub(crate) fn spawn(store: Arc<dyn OnlineStore>) -> Self {
        let shared = Arc::new(Shared {
            pending: SyncMutex::new(Pending::default()),
            work: Notify::new(),
            progress: Notify::new(),
        });
        tokio::spawn(run(shared.clone(), store));
        Self { shared }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        lock(&self.shared)
    }

    /// Hands over states of `view`; returns their generation.
    pub(crate) fn publish(
        &self,
        view: &str,
        rows: impl IntoIterator<Item = (Vec<u8>, StateRow)>,
    ) -> u64 {
        let gen = {
            let mut p = self.lock();
            let mut added = 0;
            let map = p.rows.entry(view.to_string()).or_default();
            for (kb, row) in rows {
                if map.insert(kb, row).is_none() {
                    added += 1;
                }
            }
            p.count += added;
            p.queued += 1;
            p.queued
        };
        self.shared.work.notify_one();
        gen
    }

    /// A handle that reads the states not yet in the store ([`PendingStates::lookup`]).
    pub(crate) fn pending_states(&self) -> PendingStates {
        PendingStates {
            shared: self.shared.clone(),
        }
    }

    /// States waiting to be written.
    pub(crate) fn backlog(&self) -> usize {
        self.lock().count
    }
    /// Waits until generation `gen` is in the store; fails while the store fails.
    pub(crate) async fn wait(&self, gen: u64) -> Result<()> {
        self.wait_until(|p| p.done >= gen).await
    }

    /// Waits until at most `max` states are pending (backpressure for fast producers).
    pub(crate) async fn throttle(&self, max: usize) -> Result<()> {
        self.wait_until(|p| p.count <= max).await
    }

    /// Waits until `reached` holds after a write; fails while the store fails.
    async fn wait_until(&self, reached: impl Fn(&Pending) -> bool) -> Result<()> {
        loop {
            let notified = self.shared.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let p = self.lock();
                if reached(&p) {
                    return Ok(());
                }
                if let Some(e) = &p.error {
                    return Err(Error::Publish(e.clone()));
                }
            }
            notified.await;
        }
    }

    /// Waits until everything handed over so far is in the store.
    pub(crate) async fn flush(&self) -> Result<()> {
        let gen = self.lock().queued;
        self.wait(gen).await
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.lock().closed = true;
        self.shared.work.notify_one();
    }
}

/// Reads the states a [`Publisher`] holds that are not yet in the store. Cheap to clone;
/// does not keep the publisher's task alive.
#[derive(Clone)]
pub(crate) struct PendingStates {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PendingStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingStates").finish_non_exhaustive()
    }
}

impl PendingStates {
    /// The newest state of each of `keys` (encoded entity keys) of `view` that was handed
    /// over and is not yet known to be in the store: `(stamp, encoded state)` per key (the
    /// bytes shared, so the lock is held only for the lookups).
    pub(crate) fn lookup(
        &self,
        view: &str,
        keys: &[Vec<u8>],
    ) -> Vec<Option<(Stamp, Arc<Vec<u8>>)>> {
        let p = lock(&self.shared);
        let pending = p.rows.get(view);
        let flying = p.in_flight.as_ref().and_then(|f| f.get(view));
        if pending.is_none() && flying.is_none() {
            return vec![None; keys.len()];
        }
        keys.iter()
            .map(|k| {
                // Pending rows are newer than the rows in flight.
                pending
                    .and_then(|m| m.get(k.as_slice()))
                    .or_else(|| flying.and_then(|m| m.get(k.as_slice())))
                    .map(|(_, stamp, bytes)| (*stamp, bytes.clone()))
            })
            .collect()
    }

    /// Drops every pending or in-flight state whose key contains every part of `key` (an
    /// erasure: the overlay must not answer for an entity the store no longer holds).
    /// Returns how many were dropped.
    pub(crate) fn forget(&self, key: &EntityKey) -> u64 {
        let matches = |kb: &[u8]| EntityKey::decode(kb).is_ok_and(|k| k.contains(key));
        let drop_matching = |rows: &mut Rows| -> usize {
            rows.values_mut()
                .map(|map| {
                    let before = map.len();
                    map.retain(|kb, _| !matches(kb));
                    before - map.len()
                })
                .sum()
        };
        let mut p = lock(&self.shared);
        let pending = drop_matching(&mut p.rows);
        p.count = p.count.saturating_sub(pending);
        let mut flying = 0;
        if let Some(rows) = p.in_flight.take() {
            let mut kept = Arc::unwrap_or_clone(rows);
            flying = drop_matching(&mut kept);
            p.in_flight = Some(Arc::new(kept));
        }
        (pending + flying) as u64
    }
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Pending> {
    s.pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn run(shared: Arc<Shared>, store: Arc<dyn OnlineStore>) {
    loop {
        let (rows, gen) = {
            let notified = shared.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let taken = {
                let mut p = lock(&shared);
                if p.closed {
                    return;
                }
                if p.rows.is_empty() {
                    None
                } else {
                    p.count = 0;
                    let rows = Arc::new(std::mem::take(&mut p.rows));
                    p.in_flight = Some(rows.clone());
                    Some((rows, p.queued))
                }
            };
            match taken {
                Some(t) => t,
                None => {
                    notified.await;
                    continue;
                }
            }
        };
        match write_all(store.as_ref(), &rows).await {
            Ok(()) => {
                let mut p = lock(&shared);
                p.in_flight = None;
                p.done = p.done.max(gen);
                p.error = None;
            }
            Err(e) => {
                {
                    // Keep what failed, unless a newer state came meanwhile.
                    let mut p = lock(&shared);
                    p.in_flight = None;
                    let rows = Arc::try_unwrap(rows).unwrap_or_else(|shared| (*shared).clone());
                    for (view, map) in rows {
                        let pending = p.rows.entry(view).or_default();
                        let mut added = 0;
                        for (kb, row) in map {
                            if let hashbrown::hash_map::Entry::Vacant(v) = pending.entry(kb) {
                                v.insert(row);
                                added += 1;
                            }
                        }
                        p.count += added;
                    }
                    p.error = Some(Arc::new(e));
                }
                shared.progress.notify_waiters();
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        shared.progress.notify_waiters();
    }
}

async fn write_all(store: &dyn OnlineStore, rows: &Rows) -> tessera_online::Result<()> {
    for (view, map) in rows {
        let all: Vec<&StateRow> = map.values().collect();
        for chunk in all.chunks(CHUNK) {
            store
                .write(state_batch(
                    view,
                    chunk.iter().map(|(k, s, b)| (k.clone(), *s, b.to_vec())),
                ))
                .await?;
        }
    }
    Ok(())
}
