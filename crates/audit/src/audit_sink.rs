//! [`AuditSink`]: the audit log's writer for servers, which audit every request and answer
//! none before its record is in the file.
//!
//! [`AuditLog::append`] opens, writes and syncs the file for each record: right for a CLI
//! command, far too slow for a server answering thousands of reads a second. An
//! [`AuditSink`] hands records to one writer thread and commits them in groups:
//! [`AuditSink::record`] queues the record and returns once the record has been written
//! (`write(2)`) to the file — so a request answered after it is audited even if the process
//! is killed the next instant — and, with [`SyncMode::Always`], synced to disk. The thread
//! takes everything queued, writes it with one `write`, syncs if the mode asks, and wakes
//! every caller of that group; while it does, the next group gathers. Concurrent requests
//! therefore share writes and syncs, and a request waits for at most two of them.
//!
//! A request that finds the writer idle and nothing queued (a lone client, light load)
//! writes its own record, inline, with one `write` (modes `Batch` and `None`): the hand-off
//! to the writer thread and back costs more than the write itself. The same lock guards the
//! file either way, so the log stays one line per record, and the promise is unchanged: the
//! record is in the file before the caller is answered. If that write fails, the record
//! stays with the writer, which retries it and answers the caller as above.
//!
//! [`SyncMode`] says how far a record must get before the caller is answered:
//! - [`SyncMode::Always`]: written and synced (`fdatasync`): survives power loss;
//! - [`SyncMode::Batch`] (the default): written; a second thread syncs the file every
//!   [`SinkConfig::sync_interval`] if anything was written since — power loss can lose that
//!   much; neither the writer nor the requests wait for these syncs;
//! - [`SyncMode::None`]: written; syncing is left to the operating system.
//!
//! In every mode the record is written before the caller is answered: a crash of the
//! process loses nothing.
//!
//! Nothing is dropped:
//! - a full queue makes [`AuditSink::record`] wait for room (back-pressure) instead of
//!   discarding records;
//! - [`AuditSink::flush`] returns once every record sent before it is written and synced;
//! - [`AuditSink::shutdown`] writes and syncs everything queued, then stops the thread —
//!   servers call it after draining in-flight requests;
//! - if the file cannot be written, the records stay queued (their callers keep waiting),
//!   the write is retried every [`SinkConfig::flush_interval`], and [`AuditSink::record`]
//!   refuses new records ([`Error::SinkFailed`]) until a write succeeds, so a caller can
//!   refuse reads that could not be audited (fail closed). A write that fails partway (a
//!   full disk) is cut off the file before the retry, so the log holds whole lines and no
//!   record twice;
//! - a record is either written or refused: once [`AuditSink::shutdown`] has begun, new
//!   records are refused ([`Error::SinkClosed`]) and those already queued are written;
//! - the log's [`Rotation`](crate::Rotation) is applied after a write; a file rotated by
//!   another process is noticed before the next write, and reopened.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use tessera_audit::{AuditLog, AuditRecord, AuditSink, SinkConfig};
//! let dir = tempfile::tempdir().unwrap();
//! let sink = AuditSink::spawn(AuditLog::new(dir.path()), SinkConfig::default())?;
//! sink.record(AuditRecord::now("online_read", "ranker", "ranking")).await?;
//! // Written already: a reader sees it before any flush.
//! assert_eq!(AuditLog::new(dir.path()).tail(10)?.len(), 1);
//! sink.shutdown().await?;
//! # Ok::<_, tessera_audit::Error>(()) }).unwrap();
//! ```

use std::fs::File;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use tokio::sync::{oneshot, Semaphore, TryAcquireError};

use crate::rotation::{self, Rotation};
use crate::torn_tail::repair_torn_tail;
use crate::{AuditLog, AuditRecord, Error, Result};

/// How far a record gets before [`AuditSink::record`] returns (see the
/// `docs/AUDIT.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// Written and synced to disk (one `fdatasync` per group of concurrent records).
    Always,
    /// Written; synced at most every [`SinkConfig::sync_interval`].
    #[default]
    Batch,
    /// Written; syncing is left to the operating system.
    None,
}

/// How an [`AuditSink`] queues, writes and syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkConfig {
    /// Records that may wait in the queue before [`AuditSink::record`] waits for room.
    pub queue_capacity: usize,
    /// How long the writer waits before retrying a failed write.
    pub flush_interval: Duration,
    /// With [`SyncMode::Batch`], the longest a written record may stay unsynced (lost only
    /// if the machine, not the process, goes down).
    pub sync_interval: Duration,
    /// When records reach the disk.
    pub sync: SyncMode,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            flush_interval: Duration::from_millis(5),
            sync_interval: Duration::from_secs(1),
            sync: SyncMode::Batch,
        }
    }
}

/// Counters describing a sink, for metrics.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Records written to the file.
    pub written: AtomicU64,
    /// Writes that failed (each is retried).
    pub write_errors: AtomicU64,
    /// Times [`AuditSink::record`] found the queue full and waited.
    pub waits: AtomicU64,
    /// Groups written (each with one `write`): `written / groups` is the mean group size.
    pub groups: AtomicU64,
    /// Times the file was synced to disk.
    pub syncs: AtomicU64,
    /// Times the active file was rotated by this sink.
    pub rotations: AtomicU64,
}

/// What the writer reports to a waiting caller: the write error, shared, if there was one.
type Ack = oneshot::Sender<std::result::Result<(), Arc<std::io::Error>>>;

/// What callers have handed to the writer and it has not yet taken.
#[derive(Default)]
struct Queue {
    /// Serialised records, one line each.
    lines: Vec<u8>,
    count: usize,
    /// One per record in `lines`, in order.
    waiters: Vec<Ack>,
    flushes: Vec<Ack>,
    shutdown: Option<Ack>,
    /// Shutdown has begun: nothing more is taken.
    closed: bool,
    /// The [`AuditSink`] was dropped without a shutdown.
    dropped: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    room: Semaphore,
    capacity: usize,
    failed: AtomicBool,
    last_error: Mutex<Option<Arc<std::io::Error>>>,
    stats: SinkStats,
    /// With [`SyncMode::Batch`]: a handle on the active file for the syncer thread, which
    /// syncs it every [`SinkConfig::sync_interval`] when `unsynced`, off the writer's path.
    sync_handle: Mutex<Option<File>>,
    unsynced: AtomicBool,
    /// The writer has stopped: so does the syncer.
    stopped: AtomicBool,
    /// A failed write is waiting to be retried (the writer then wakes every
    /// [`SinkConfig::flush_interval`] even with nothing queued).
    retry: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the lock; a poisoned queue is still consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The audit log's group-commit writer. Cheap to share behind an `Arc`.
pub struct AuditSink {
    shared: Arc<Shared>,
    /// The writer's state, for a request that finds it idle to write its record itself.
    inline: Arc<dyn InlineWrite>,
    /// Whether requests may write inline (not with `Always`: a sync would block them).
    inline_writes: bool,
    path: PathBuf,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSink")
            .field("path", &self.path)
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

impl AuditSink {
    /// Opens the log's file for appending (so a path that cannot be written fails here, at
    /// startup, not on the first request), replaces a torn final line left by a crash (see
    /// the [crate docs](crate)), and starts the writer thread.
    pub fn spawn(log: AuditLog, config: SinkConfig) -> Result<Self> {
        let path = log.path().to_path_buf();
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = open_append(&path).map_err(io)?;
        repair_torn_tail(&mut file).map_err(io)?;
        Self::spawn_with(path, *log.rotation(), file, config)
    }

    /// As [`AuditSink::spawn`], writing to `file` (tests hand in one that fails).
    fn spawn_with(
        path: PathBuf,
        rotation: Rotation,
        file: impl LogFile,
        config: SinkConfig,
    ) -> Result<Self> {
        let capacity = config.queue_capacity.clamp(1, Semaphore::MAX_PERMITS);
        let inline_writes = config.sync != SyncMode::Always && file.inline_writes();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            room: Semaphore::new(capacity),
            capacity,
            failed: AtomicBool::new(false),
            last_error: Mutex::new(None),
            stats: SinkStats::default(),
            sync_handle: Mutex::new(file.sync_handle()),
            unsynced: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            retry: AtomicBool::new(false),
        });
        let writer = Arc::new(Mutex::new(Writer {
            first_record: rotation::first_record_time(&path),
            file,
            path: path.clone(),
            rotation,
            config,
            shared: shared.clone(),
            pending: Vec::with_capacity(64 * 1024),
            pending_count: 0,
            pending_acks: Vec::new(),
            flush_acks: Vec::new(),
            torn: None,
            dirty: false,
        }));
        let inline: Arc<dyn InlineWrite> = writer.clone();
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let syncer = match config.sync {
            SyncMode::Batch => {
                let shared = shared.clone();
                let every = config.sync_interval.max(Duration::from_millis(1));
                Some(
                    std::thread::Builder::new()
                        .name("tessera-audit-sync".into())
                        .spawn(move || run_syncer(&shared, every))
                        .map_err(io)?,
                )
            }
            _ => None,
        };
        let worker = std::thread::Builder::new()
            .name("tessera-audit".into())
            .spawn(move || {
                run_writer(&writer);
                if let Some(s) = syncer {
                    s.thread().unpark();
                    let _ = s.join();
                }
            })
            .map_err(io)?;
        Ok(Self {
            shared,
            inline,
            inline_writes,
            path,
            worker: Mutex::new(Some(worker)),
        })
    }

    /// The file records go to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sink's counters.
    pub fn stats(&self) -> &SinkStats {
        &self.shared.stats
    }

    /// Records queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.shared
            .capacity
            .saturating_sub(self.shared.room.available_permits())
    }

    /// Writes one record: returns once it is in the file (and on disk, with
    /// [`SyncMode::Always`]). Waits for room when the queue is full. Fails when the sink has
    /// been shut down or the log cannot currently be written ([`Error::SinkFailed`]); a
    /// record whose write fails is retried, and this waits for the retry.
    ///
    /// Dropping the returned future after it has queued the record does not unqueue it:
    /// the record is still written.
    pub async fn record(&self, record: AuditRecord) -> Result<()> {
        if self.shared.failed.load(Ordering::Relaxed) {
            return Err(self.failed_error());
        }
        let mut line = serde_json::to_vec(&record).map_err(|e| Error::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        // The writer is idle and nothing is queued: write the record here, saving the
        // hand-off to the writer thread and back (not with `Always`: a sync would block).
        if self.inline_writes {
            match self.inline.try_write_inline(&line) {
                Inline::Written => return Ok(()),
                Inline::Failed(done) => return self.wait(done).await,
                Inline::Busy => {}
            }
        }
        let permit = match self.shared.room.try_acquire() {
            Ok(p) => p,
            Err(TryAcquireError::NoPermits) => {
                self.shared.stats.waits.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .room
                    .acquire()
                    .await
                    .map_err(|_| self.closed_error())?
            }
            Err(TryAcquireError::Closed) => return Err(self.closed_error()),
        };
        let (ack, done) = oneshot::channel();
        {
            let mut q = self.shared.lock();
            if q.closed || q.dropped {
                return Err(self.closed_error());
            }
            // The writer gives the room back when it takes the record.
            permit.forget();
            q.lines.extend_from_slice(&line);
            q.count += 1;
            q.waiters.push(ack);
        }
        self.shared.wake.notify_one();
        self.wait(done).await
    }

    async fn wait(
        &self,
        done: oneshot::Receiver<std::result::Result<(), Arc<std::io::Error>>>,
    ) -> Result<()> {
        done.await
            .map_err(|_| self.closed_error())?
            .map_err(|source| self.failed_error_with(source))
    }

    /// Returns once every record queued before this call is written and synced to disk.
    pub async fn flush(&self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        {
            let mut q = self.shared.lock();
            if q.closed && q.shutdown.is_none() {
                return Err(self.closed_error());
            }
            q.flushes.push(ack);
        }
        self.shared.wake.notify_one();
        self.wait(done).await
    }

    /// Writes and syncs everything queued, then stops the writer thread. Records sent
    /// afterwards are refused. Calling it twice is harmless.
    pub async fn shutdown(&self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        let first = {
            let mut q = self.shared.lock();
            if q.closed && q.shutdown.is_none() {
                false // already shut down
            } else {
                if q.shutdown.is_some() {
                    q.flushes.push(ack);
                } else {
                    q.shutdown = Some(ack);
                }
                true
            }
        };
        let result = if first {
            self.shared.wake.notify_one();
            match done.await {
                Ok(r) => r.map_err(|source| self.failed_error_with(source)),
                Err(_) => Ok(()),
            }
        } else {
            Ok(())
        };
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some(w) = worker {
            // The thread has acknowledged and is returning; joining takes microseconds.
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        result
    }

    fn closed_error(&self) -> Error {
        Error::SinkClosed {
            path: self.path.clone(),
        }
    }

    fn failed_error(&self) -> Error {
        let last = self.shared.last_error.lock().ok().and_then(|e| e.clone());
        self.failed_error_with(
            last.unwrap_or_else(|| Arc::new(std::io::Error::other("an earlier write failed"))),
        )
    }

    fn failed_error_with(&self, source: Arc<std::io::Error>) -> Error {
        Error::SinkFailed {
            path: self.path.clone(),
            source,
        }
    }
}

impl Drop for AuditSink {
    /// Without a [`AuditSink::shutdown`], the writer still writes and syncs what is queued,
    /// then stops.
    fn drop(&mut self) {
        self.shared.lock().dropped = true;
        self.shared.wake.notify_one();
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
}

/// The file a [`Writer`] appends to: a trait so that tests can make writes fail partway.
trait LogFile: Send + 'static {
    /// Appends all of `buf`; on failure, also says how many of its bytes reached the file.
    fn append(&mut self, buf: &[u8]) -> std::result::Result<(), (usize, std::io::Error)>;
    /// The offset just past the last byte written through this handle.
    fn position(&mut self) -> std::io::Result<u64>;
    /// The file's length.
    fn size(&self) -> std::io::Result<u64>;
    /// Cuts the file to `len` bytes.
    fn truncate(&mut self, len: u64) -> std::io::Result<()>;
    /// Syncs written data to disk.
    fn sync(&mut self) -> std::io::Result<()>;
    /// Which file this is (device, inode).
    fn identity(&self) -> std::io::Result<(u64, u64)>;
    /// Opens `path` anew (after a rotation).
    fn reopen(&mut self, path: &Path) -> std::io::Result<()>;
    /// A second handle on the same file, for syncing it from another thread.
    fn sync_handle(&self) -> Option<File>;
    /// Whether a request may write to it itself when the writer is idle (a test file whose
    /// writes block until the test lets them through says no: it would block the caller).
    fn inline_writes(&self) -> bool {
        true
    }
}

impl LogFile for File {
    fn append(&mut self, buf: &[u8]) -> std::result::Result<(), (usize, std::io::Error)> {
        let mut done = 0;
        while done < buf.len() {
            match self.write(&buf[done..]) {
                Ok(0) => return Err((done, std::io::ErrorKind::WriteZero.into())),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err((done, e)),
            }
        }
        Ok(())
    }

    fn position(&mut self) -> std::io::Result<u64> {
        self.stream_position()
    }

    fn size(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }

    fn identity(&self) -> std::io::Result<(u64, u64)> {
        Ok(rotation::identity(&self.metadata()?))
    }

    fn reopen(&mut self, path: &Path) -> std::io::Result<()> {
        let mut f = open_append(path)?;
        repair_torn_tail(&mut f)?;
        *self = f;
        Ok(())
    }

    fn sync_handle(&self) -> Option<File> {
        self.try_clone().ok()
    }
}

/// With [`SyncMode::Batch`]: syncs the active file every `every` if something was written
/// since the last sync, so that the writer (and the requests waiting for it) never wait for
/// a periodic sync.
fn run_syncer(shared: &Shared, every: Duration) {
    while !shared.stopped.load(Ordering::Acquire) {
        std::thread::park_timeout(every);
        if shared.unsynced.swap(false, Ordering::AcqRel) {
            let handle = shared
                .sync_handle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match handle.as_ref().map(File::sync_data) {
                Some(Ok(())) => {
                    shared.stats.syncs.fetch_add(1, Ordering::Relaxed);
                }
                // Tried again at the next tick.
                Some(Err(_)) => shared.unsynced.store(true, Ordering::Release),
                None => {}
            }
        }
    }
}

struct Writer<F> {
    file: F,
    path: PathBuf,
    rotation: Rotation,
    config: SinkConfig,
    shared: Arc<Shared>,
    /// Records taken from the queue but not yet written (kept across failed writes).
    pending: Vec<u8>,
    pending_count: usize,
    /// The callers waiting for the records in `pending`.
    pending_acks: Vec<Ack>,
    flush_acks: Vec<Ack>,
    /// Where the part of a batch that a failed write left in the file lies (`start..end`):
    /// cut off before the batch is written again.
    torn: Option<(u64, u64)>,
    /// Written since the last sync.
    dirty: bool,
    /// When the active file's first record was written (for rotation by age).
    first_record: Option<SystemTime>,
}

/// What the writer took from the queue.
struct Taken {
    lines: Vec<u8>,
    count: usize,
    waiters: Vec<Ack>,
    flushes: Vec<Ack>,
    shutdown: Option<Ack>,
    dropped: bool,
}

/// The writer thread: waits for work (without holding the writer, so that a request can
/// write inline meanwhile), then writes it.
fn run_writer<F: LogFile>(writer: &Mutex<Writer<F>>) {
    let (shared, flush_interval) = {
        let w = writer.lock().unwrap_or_else(PoisonError::into_inner);
        (w.shared.clone(), w.config.flush_interval)
    };
    loop {
        let taken = take(&shared, flush_interval);
        let mut w = writer.lock().unwrap_or_else(PoisonError::into_inner);
        if w.apply(taken) {
            return;
        }
    }
}

/// Waits for work, then takes everything queued.
fn take(shared: &Shared, flush_interval: Duration) -> Taken {
    let mut q = shared.lock();
    loop {
        if q.count > 0 || !q.flushes.is_empty() || q.shutdown.is_some() || q.dropped {
            break;
        }
        if shared.retry.load(Ordering::Acquire) {
            // Retry a failed write after `flush_interval`.
            if flush_interval.is_zero() {
                break;
            }
            let (guard, res) = shared
                .wake
                .wait_timeout(q, flush_interval)
                .unwrap_or_else(PoisonError::into_inner);
            q = guard;
            if res.timed_out() {
                break;
            }
        } else {
            q = shared.wake.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
    }
    let lines = std::mem::take(&mut q.lines);
    let count = std::mem::take(&mut q.count);
    let waiters = std::mem::take(&mut q.waiters);
    let flushes = std::mem::take(&mut q.flushes);
    let shutdown = q.shutdown.take();
    if shutdown.is_some() {
        // Refuse records from now on; those queued until now are written.
        q.closed = true;
        shared.room.close();
    }
    let dropped = q.dropped;
    drop(q);
    shared.room.add_permits(count);
    Taken {
        lines,
        count,
        waiters,
        flushes,
        shutdown,
        dropped,
    }
}

/// What became of a record a request tried to write itself.
enum Inline {
    /// It is in the file.
    Written,
    /// The writer was busy or records are queued: queue it.
    Busy,
    /// The write failed; the record stays with the writer, which retries it and answers
    /// here.
    Failed(oneshot::Receiver<std::result::Result<(), Arc<std::io::Error>>>),
}

/// A writer a request can use directly when it is idle.
trait InlineWrite: Send + Sync {
    fn try_write_inline(&self, line: &[u8]) -> Inline;
}

impl<F: LogFile> InlineWrite for Mutex<Writer<F>> {
    fn try_write_inline(&self, line: &[u8]) -> Inline {
        let Ok(mut w) = self.try_lock() else {
            return Inline::Busy;
        };
        if !w.pending.is_empty() {
            return Inline::Busy; // a failed write awaits its retry
        }
        {
            let q = w.shared.lock();
            if q.count > 0 || !q.flushes.is_empty() || q.shutdown.is_some() || q.closed || q.dropped
            {
                return Inline::Busy;
            }
        }
        w.pending.extend_from_slice(line);
        w.pending_count = 1;
        match w.write_pending(false) {
            Ok(()) => {
                w.rotate_if_due();
                Inline::Written
            }
            Err(_) => {
                let (ack, done) = oneshot::channel();
                w.pending_acks.push(ack);
                let shared = w.shared.clone();
                drop(w);
                // Under the queue's lock, so the wake-up cannot fall between the writer's
                // check of `retry` and its wait.
                drop(shared.lock());
                shared.wake.notify_one();
                Inline::Failed(done)
            }
        }
    }
}

impl<F: LogFile> Writer<F> {
    /// Writes what was taken and answers its callers; `true` when the writer must stop.
    fn apply(&mut self, taken: Taken) -> bool {
        self.pending.extend_from_slice(&taken.lines);
        self.pending_count += taken.count;
        self.pending_acks.extend(taken.waiters);
        self.flush_acks.extend(taken.flushes);
        let stopping = taken.shutdown.is_some() || taken.dropped;
        let must_sync =
            self.config.sync == SyncMode::Always || !self.flush_acks.is_empty() || stopping;
        let result = self.write_pending(must_sync);
        if self.pending.is_empty() || stopping {
            // Written (perhaps not synced, if `result` says so), or never will be.
            for ack in self.pending_acks.drain(..) {
                let _ = ack.send(result.clone());
            }
        }
        if result.is_ok() || stopping {
            for ack in self.flush_acks.drain(..) {
                let _ = ack.send(result.clone());
            }
        }
        if result.is_ok() {
            self.rotate_if_due();
        }
        if let Some(ack) = taken.shutdown {
            self.shared.stopped.store(true, Ordering::Release);
            let _ = ack.send(result);
            return true;
        }
        if taken.dropped {
            self.shared.stopped.store(true, Ordering::Release);
            return true;
        }
        false
    }

    fn write_pending(&mut self, sync: bool) -> std::result::Result<(), Arc<std::io::Error>> {
        let result = self.try_write(sync);
        self.shared
            .retry
            .store(!self.pending.is_empty(), Ordering::Release);
        match &result {
            Ok(()) => self.shared.failed.store(false, Ordering::Relaxed),
            Err(e) => {
                self.shared
                    .stats
                    .write_errors
                    .fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.shared.last_error.lock() {
                    *last = Some(e.clone());
                }
                self.shared.failed.store(true, Ordering::Relaxed);
            }
        }
        result
    }

    fn try_write(&mut self, sync: bool) -> std::result::Result<(), Arc<std::io::Error>> {
        if !self.pending.is_empty() {
            self.cut_torn().map_err(Arc::new)?;
            self.follow_rotation().map_err(Arc::new)?;
            if let Err((written, e)) = self.file.append(&self.pending) {
                if written > 0 {
                    // Part of the batch is in the file: remember where, so the retry cuts
                    // it off instead of leaving a torn line and writing records twice.
                    let end = self.file.position().or_else(|_| self.file.size());
                    self.torn = end
                        .ok()
                        .map(|end| (end.saturating_sub(written as u64), end));
                }
                return Err(Arc::new(e));
            }
            let stats = &self.shared.stats;
            stats
                .written
                .fetch_add(self.pending_count as u64, Ordering::Relaxed);
            stats.groups.fetch_add(1, Ordering::Relaxed);
            self.pending.clear();
            self.pending_count = 0;
            self.dirty = true;
            self.shared.unsynced.store(true, Ordering::Release);
            self.first_record.get_or_insert_with(SystemTime::now);
        }
        if sync && self.dirty {
            self.file.sync().map_err(Arc::new)?;
            self.shared.stats.syncs.fetch_add(1, Ordering::Relaxed);
            self.dirty = false;
        }
        Ok(())
    }

    /// Cuts off what a failed write left, if it is still the end of the file. If another
    /// process has appended since, it is left alone: cutting would erase their records.
    fn cut_torn(&mut self) -> std::io::Result<()> {
        if let Some((start, end)) = self.torn {
            if self.file.size()? == end {
                self.file.truncate(start)?;
            }
            self.torn = None;
        }
        Ok(())
    }

    /// Reopens the active file if another process has rotated it away.
    fn follow_rotation(&mut self) -> std::io::Result<()> {
        let moved = match std::fs::metadata(&self.path) {
            Ok(m) => rotation::identity(&m) != self.file.identity()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(e),
        };
        if moved {
            self.reopen()?;
        }
        Ok(())
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        if self.dirty {
            // What was written to the old file reaches the disk as the mode promised.
            self.file.sync()?;
            self.dirty = false;
        }
        self.file.reopen(&self.path)?;
        *self
            .shared
            .sync_handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = self.file.sync_handle();
        self.first_record = rotation::first_record_time(&self.path);
        Ok(())
    }

    /// Rotates the active file if it is due. A failure is counted and retried after the
    /// next write; records are not refused for it.
    fn rotate_if_due(&mut self) {
        if !self.rotation.enabled() {
            return;
        }
        let due = self
            .file
            .size()
            .is_ok_and(|size| self.rotation.due(size, self.first_record));
        if !due {
            return;
        }
        let rotated = self.file.identity().and_then(|id| {
            if self.dirty {
                self.file.sync()?;
                self.dirty = false;
            }
            rotation::rotate(&self.path, Some(id), &self.rotation)
        });
        match rotated {
            Ok(true) => {
                self.shared.stats.rotations.fetch_add(1, Ordering::Relaxed);
                if self.reopen().is_err() {
                    self.shared
                        .stats
                        .write_errors
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(false) => {}
            Err(_) => {
                self.shared
                    .stats
                    .write_errors
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuditQuery;

    #[tokio::test]
    async fn every_record_is_written_in_order_and_flush_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        let sink = AuditSink::spawn(
            log.clone(),
            SinkConfig {
                queue_capacity: 8,
                ..SinkConfig::default()
            },
        )
        .unwrap();
        for i in 0..100 {
            let mut r = AuditRecord::now("online_read", "ranker", "ranking");
            r.rows = i;
            sink.record(r).await.unwrap();
        }
        sink.flush().await.unwrap();
        let rows: Vec<u64> = log
            .query(&AuditQuery::default())
            .unwrap()
            .iter()
            .map(|r| r.rows)
            .collect();
        assert_eq!(rows, (0..100).collect::<Vec<_>>());
        sink.shutdown().await.unwrap();
        assert!(sink
            .record(AuditRecord::now("online_read", "ranker", "ranking"))
            .await
            .is_err());
        sink.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_writes_what_is_queued() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(&dir.path().join("nested"));
        let sink = AuditSink::spawn(
            log.clone(),
            SinkConfig {
                flush_interval: Duration::from_millis(200),
                ..SinkConfig::default()
            },
        )
        .unwrap();
        for _ in 0..10 {
            sink.record(AuditRecord::now("online_read", "a", "b"))
                .await
                .unwrap();
        }
        sink.shutdown().await.unwrap();
        assert_eq!(log.tail(100).unwrap().len(), 10);
    }

    #[tokio::test]
    async fn a_record_sent_while_shutting_down_is_written_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        let sink = AuditSink::spawn(
            log.clone(),
            SinkConfig {
                flush_interval: Duration::from_millis(100),
                ..SinkConfig::default()
            },
        )
        .unwrap();
        // `shutdown` queues its message first; the record is queued behind it, before the
        // writer wakes.
        let (shut, sent) = tokio::join!(
            sink.shutdown(),
            sink.record(AuditRecord::now("online_read", "ranker", "ranking"))
        );
        shut.unwrap();
        let written = log.tail(10).unwrap().len();
        match sent {
            Ok(()) => assert_eq!(written, 1, "an accepted record must be written"),
            Err(e) => {
                assert!(matches!(e, Error::SinkClosed { .. }), "{e}");
                assert_eq!(written, 0);
            }
        }
        let late = sink.record(AuditRecord::now("online_read", "ranker", "ranking"));
        assert!(matches!(late.await, Err(Error::SinkClosed { .. })));
    }

    /// A file whose next write stops after `fail_after` bytes, like a disk filling up.
    struct FailingFile {
        file: File,
        fail_after: Option<usize>,
    }

    impl LogFile for FailingFile {
        fn append(&mut self, buf: &[u8]) -> std::result::Result<(), (usize, std::io::Error)> {
            match self.fail_after.take() {
                Some(n) => {
                    self.file.write_all(&buf[..n]).unwrap();
                    Err((n, std::io::Error::other("no space left on device")))
                }
                None => self.file.append(buf),
            }
        }
        fn position(&mut self) -> std::io::Result<u64> {
            self.file.position()
        }
        fn size(&self) -> std::io::Result<u64> {
            self.file.size()
        }
        fn truncate(&mut self, len: u64) -> std::io::Result<()> {
            self.file.truncate(len)
        }
        fn sync(&mut self) -> std::io::Result<()> {
            self.file.sync()
        }
        fn identity(&self) -> std::io::Result<(u64, u64)> {
            self.file.identity()
        }
        fn reopen(&mut self, path: &Path) -> std::io::Result<()> {
            self.file.reopen(path)
        }
        fn sync_handle(&self) -> Option<File> {
            self.file.sync_handle()
        }
    }

    #[tokio::test]
    async fn a_write_that_fails_partway_is_cut_off_before_the_retry() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        log.append(&AuditRecord::now("training_set", "local:alice", "training"))
            .unwrap();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .unwrap();
        let sink = AuditSink::spawn_with(
            log.path().to_path_buf(),
            Rotation::default(),
            FailingFile {
                file,
                fail_after: Some(70),
            },
            SinkConfig {
                flush_interval: Duration::from_millis(50),
                ..SinkConfig::default()
            },
        )
        .unwrap();
        for i in 0..3 {
            let mut r = AuditRecord::now("online_read", "ranker", "ranking");
            r.rows = i;
            sink.record(r).await.unwrap();
        }
        // The first write fails after 70 bytes; the flush returns once the retry succeeds.
        sink.flush().await.unwrap();
        assert_eq!(sink.stats().write_errors.load(Ordering::Relaxed), 1);
        let read = log.read(&AuditQuery::default()).unwrap();
        assert_eq!(read.torn_final_line, None);
        let rows: Vec<(&str, u64)> = read
            .records
            .iter()
            .map(|r| (r.action.as_str(), r.rows))
            .collect();
        assert_eq!(
            rows,
            [
                ("training_set", 0),
                ("online_read", 0),
                ("online_read", 1),
                ("online_read", 2)
            ]
        );
        sink.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn spawn_replaces_a_torn_final_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        std::fs::write(log.path(), "{\"time\":\"2026-01-01T00:00:00Z\",\"act").unwrap();
        let sink = AuditSink::spawn(log.clone(), SinkConfig::default()).unwrap();
        sink.record(AuditRecord::now("online_read", "ranker", "ranking"))
            .await
            .unwrap();
        sink.shutdown().await.unwrap();
        let actions: Vec<String> = log
            .tail(10)
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect();
        assert_eq!(actions, [crate::ACTION_REPAIR, "online_read"]);
    }

    #[test]
    fn unwritable_location_fails_at_spawn() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(AuditSink::spawn(AuditLog::new(&file), SinkConfig::default()).is_err());
    }

    /// A file whose first write waits until the test opens the gate.
    struct GatedFile {
        file: File,
        gate: Option<std::sync::mpsc::Receiver<()>>,
    }

    impl LogFile for GatedFile {
        fn append(&mut self, buf: &[u8]) -> std::result::Result<(), (usize, std::io::Error)> {
            if let Some(gate) = self.gate.take() {
                let _ = gate.recv();
            }
            self.file.append(buf)
        }
        fn inline_writes(&self) -> bool {
            false // a request writing inline would block this single-threaded test
        }
        fn position(&mut self) -> std::io::Result<u64> {
            self.file.position()
        }
        fn size(&self) -> std::io::Result<u64> {
            self.file.size()
        }
        fn truncate(&mut self, len: u64) -> std::io::Result<()> {
            self.file.truncate(len)
        }
        fn sync(&mut self) -> std::io::Result<()> {
            self.file.sync()
        }
        fn identity(&self) -> std::io::Result<(u64, u64)> {
            self.file.identity()
        }
        fn reopen(&mut self, path: &Path) -> std::io::Result<()> {
            self.file.reopen(path)
        }
        fn sync_handle(&self) -> Option<File> {
            self.file.sync_handle()
        }
    }

    #[tokio::test]
    async fn a_full_queue_makes_senders_wait_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        let (open, gate) = std::sync::mpsc::channel();
        let file = open_append(log.path()).unwrap();
        let sink = Arc::new(
            AuditSink::spawn_with(
                log.path().to_path_buf(),
                Rotation::default(),
                GatedFile {
                    file,
                    gate: Some(gate),
                },
                SinkConfig {
                    queue_capacity: 8, // small, so senders have to wait for room
                    ..SinkConfig::default()
                },
            )
            .unwrap(),
        );
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut r = AuditRecord::now("online_read", "ranker", "ranking");
                    r.rows = i;
                    sink.record(r).await
                })
            })
            .collect();
        // Let every task run (this single-threaded runtime runs the others while this one
        // yields): the writer holds at most one queue's worth, the queue the next, the
        // rest wait.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert!(sink.queued() <= 8);
        let waits = sink.stats().waits.load(Ordering::Relaxed);
        assert!(waits >= 100 - 16, "{waits} waits");
        assert!(log.tail(200).unwrap().is_empty(), "nothing written yet");
        open.send(()).unwrap();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let mut rows: Vec<u64> = log.tail(200).unwrap().iter().map(|r| r.rows).collect();
        rows.sort_unstable();
        assert_eq!(rows, (0..100).collect::<Vec<_>>());
        sink.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_record_is_in_the_file_when_record_returns() {
        for sync in [SyncMode::None, SyncMode::Batch, SyncMode::Always] {
            let dir = tempfile::tempdir().unwrap();
            let log = AuditLog::new(dir.path());
            let sink = Arc::new(
                AuditSink::spawn(
                    log.clone(),
                    SinkConfig {
                        sync,
                        // Longer than the test: a batch sync would be a timing accident.
                        sync_interval: Duration::from_secs(3600),
                        ..SinkConfig::default()
                    },
                )
                .unwrap(),
            );
            let tasks: Vec<_> = (0..64)
                .map(|i| {
                    let (sink, log) = (sink.clone(), log.clone());
                    tokio::spawn(async move {
                        let mut r = AuditRecord::now("online_read", "ranker", "ranking");
                        r.rows = i;
                        sink.record(r).await.unwrap();
                        // Read back through another handle, before any flush.
                        let text = std::fs::read_to_string(log.path()).unwrap();
                        assert!(text.contains(&format!("\"rows\":{i},")), "{sync:?} {i}");
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let stats = sink.stats();
            assert_eq!(stats.written.load(Ordering::Relaxed), 64);
            let (groups, syncs) = (
                stats.groups.load(Ordering::Relaxed),
                stats.syncs.load(Ordering::Relaxed),
            );
            match sync {
                // Every group is synced before its callers are answered.
                SyncMode::Always => assert_eq!(syncs, groups),
                _ => assert_eq!(syncs, 0, "{sync:?}: written, not synced"),
            }
            sink.shutdown().await.unwrap();
        }
    }

    #[tokio::test]
    async fn the_sink_rotates_and_keeps_what_retention_says() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path()).with_rotation(Rotation {
            max_bytes: Some(500),
            retain_files: Some(3),
            ..Rotation::default()
        });
        let sink = AuditSink::spawn(log.clone(), SinkConfig::default()).unwrap();
        for i in 0..40 {
            let mut r = AuditRecord::now("online_read", "ranker", "ranking");
            r.rows = i;
            sink.record(r).await.unwrap();
        }
        sink.shutdown().await.unwrap();
        assert!(sink.stats().rotations.load(Ordering::Relaxed) >= 4);
        let files = log.files().unwrap();
        assert_eq!(files.len(), 4, "3 rotated and the active file: {files:?}");
        let rows: Vec<u64> = log.tail(1000).unwrap().iter().map(|r| r.rows).collect();
        let first = rows[0];
        assert!(first > 0, "the oldest files are gone");
        assert_eq!(rows, (first..40).collect::<Vec<_>>());
        let queried: Vec<u64> = log
            .query(&AuditQuery::default())
            .unwrap()
            .iter()
            .map(|r| r.rows)
            .collect();
        assert_eq!(queried, rows);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rotation_by_another_writer_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let rotating = AuditLog::new(dir.path()).with_rotation(Rotation {
            max_bytes: Some(1_500),
            ..Rotation::default()
        });
        // The sink does not rotate; another process (here, another handle) does.
        let sink =
            Arc::new(AuditSink::spawn(AuditLog::new(dir.path()), SinkConfig::default()).unwrap());
        let writer = {
            let sink = sink.clone();
            tokio::spawn(async move {
                for i in 0..300 {
                    let mut r = AuditRecord::now("online_read", "ranker", "ranking");
                    r.rows = i;
                    sink.record(r).await.unwrap();
                }
            })
        };
        let other = tokio::task::spawn_blocking(move || {
            for i in 0..60 {
                let mut r = AuditRecord::now("training_set", "local:alice", "training");
                r.rows = 1000 + i;
                rotating.append_all(&[r], false).unwrap();
            }
        });
        writer.await.unwrap();
        other.await.unwrap();
        sink.shutdown().await.unwrap();
        let log = AuditLog::new(dir.path());
        assert!(log.files().unwrap().len() > 2);
        let mut rows: Vec<u64> = log
            .query(&AuditQuery::default())
            .unwrap()
            .iter()
            .map(|r| r.rows)
            .collect();
        rows.sort_unstable();
        let want: Vec<u64> = (0..300).chain(1000..1060).collect();
        assert_eq!(rows, want, "every record once");
    }

    #[tokio::test]
    async fn batch_mode_syncs_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let sink = AuditSink::spawn(
            AuditLog::new(dir.path()),
            SinkConfig {
                sync_interval: Duration::from_millis(10),
                ..SinkConfig::default()
            },
        )
        .unwrap();
        sink.record(AuditRecord::now("online_read", "ranker", "ranking"))
            .await
            .unwrap();
        // The syncer gets to it within a few intervals; wait up to 10 s on a loaded machine.
        let mut waited = 0;
        while sink.stats().syncs.load(Ordering::Relaxed) == 0 && waited < 1000 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += 1;
        }
        assert_eq!(
            sink.stats().syncs.load(Ordering::Relaxed),
            1,
            "one write, one sync"
        );
        sink.shutdown().await.unwrap();
    }
}
