//! [`AuditSink`]: a buffered writer for the audit log, for servers that audit every request.
//!
//! [`AuditLog::append`] opens, writes and syncs the file for each record: right for a CLI
//! command, far too slow for a server answering thousands of reads a second. An
//! [`AuditSink`] hands records to a background thread through a bounded queue; the request
//! path pays for one queue push (well under a microsecond when the queue has room). The
//! thread wakes every [`SinkConfig::flush_interval`], writes everything queued in one
//! `write` (so the records are in the operating system's hands, safe from a crash of this
//! process) and syncs the file to disk at most every [`SinkConfig::sync_interval`].
//!
//! Nothing is dropped:
//! - a full queue makes [`AuditSink::record`] wait for room (back-pressure) instead of
//!   discarding records;
//! - [`AuditSink::flush`] returns once every record sent before it is written and synced;
//! - [`AuditSink::shutdown`] writes and syncs everything queued, then stops the thread —
//!   servers call it after draining in-flight requests;
//! - if the file cannot be written, the records stay queued, the write is retried, and
//!   [`AuditSink::record`] refuses new records ([`Error::SinkFailed`]) until a write
//!   succeeds, so a caller can refuse reads that could not be audited (fail closed). A
//!   write that fails partway (a full disk) is cut off the file before the retry, so the
//!   log holds whole lines and no record twice;
//! - a record is either written or refused: once [`AuditSink::shutdown`] has begun, new
//!   records are refused ([`Error::SinkClosed`]) and those already queued are written.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use tessera_audit::{AuditLog, AuditRecord, AuditSink, SinkConfig};
//! let dir = tempfile::tempdir().unwrap();
//! let sink = AuditSink::spawn(AuditLog::new(dir.path()), SinkConfig::default())?;
//! sink.record(AuditRecord::now("online_read", "ranker", "ranking")).await?;
//! sink.shutdown().await?;
//! assert_eq!(AuditLog::new(dir.path()).tail(10)?.len(), 1);
//! # Ok::<_, tessera_audit::Error>(()) }).unwrap();
//! ```

use std::fs::File;
use std::io::{Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::{repair_torn_tail, AuditLog, AuditRecord, Error, Result};

/// How an [`AuditSink`] buffers and syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkConfig {
    /// Records that may wait in the queue before [`AuditSink::record`] waits for room.
    pub queue_capacity: usize,
    /// How often the writer thread wakes to write what is queued.
    pub flush_interval: Duration,
    /// The longest a written record may stay unsynced (lost only if the machine, not the
    /// process, goes down).
    pub sync_interval: Duration,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            flush_interval: Duration::from_millis(5),
            sync_interval: Duration::from_secs(1),
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
}

/// What a flush or shutdown reports back: the write error, shared, if there was one.
type Ack = oneshot::Sender<std::result::Result<(), Arc<std::io::Error>>>;

enum Message {
    Record(AuditRecord),
    Flush(Ack),
    Shutdown(Ack),
}

/// A buffered, background writer of audit records. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct AuditSink {
    tx: mpsc::Sender<Message>,
    failed: Arc<AtomicBool>,
    last_error: Arc<Mutex<Option<Arc<std::io::Error>>>>,
    stats: Arc<SinkStats>,
    path: PathBuf,
    worker: Mutex<Option<JoinHandle<()>>>,
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
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        repair_torn_tail(&mut file).map_err(io)?;
        Self::spawn_with(path, file, config)
    }

    /// As [`AuditSink::spawn`], writing to `file` (tests hand in one that fails).
    fn spawn_with(path: PathBuf, file: impl LogFile, config: SinkConfig) -> Result<Self> {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let failed = Arc::new(AtomicBool::new(false));
        let last_error = Arc::new(Mutex::new(None));
        let stats = Arc::new(SinkStats::default());
        let writer = Writer {
            file,
            rx,
            config,
            failed: failed.clone(),
            last_error: last_error.clone(),
            stats: stats.clone(),
            pending: Vec::new(),
            buf: Vec::with_capacity(64 * 1024),
            torn: None,
            dirty: false,
            last_sync: Instant::now(),
        };
        let worker = std::thread::Builder::new()
            .name("tessera-audit".into())
            .spawn(move || writer.run())
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            tx,
            failed,
            last_error,
            stats,
            path,
            worker: Mutex::new(Some(worker)),
        })
    }

    /// The file records go to.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The sink's counters.
    pub fn stats(&self) -> &SinkStats {
        &self.stats
    }

    /// Records waiting to be written.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Queues one record. Waits only when the queue is full. Fails when the sink has been
    /// shut down or the log cannot currently be written ([`Error::SinkFailed`]).
    pub async fn record(&self, record: AuditRecord) -> Result<()> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(self.failed_error());
        }
        match self.tx.try_send(Message::Record(record)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(msg)) => {
                self.stats.waits.fetch_add(1, Ordering::Relaxed);
                self.tx.send(msg).await.map_err(|_| self.closed_error())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.closed_error()),
        }
    }

    /// Returns once every record queued before this call is written and synced to disk.
    pub async fn flush(&self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Message::Flush(ack))
            .await
            .map_err(|_| self.closed_error())?;
        done.await
            .map_err(|_| self.closed_error())?
            .map_err(|source| self.failed_error_with(source))
    }

    /// Writes and syncs everything queued, then stops the writer thread. Records sent
    /// afterwards are refused. Calling it twice is harmless.
    pub async fn shutdown(&self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        let result = match self.tx.send(Message::Shutdown(ack)).await {
            Ok(()) => done
                .await
                .unwrap_or(Ok(()))
                .map_err(|source| self.failed_error_with(source)),
            Err(_) => Ok(()), // already shut down
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
        let last = self.last_error.lock().ok().and_then(|e| e.clone());
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
}

struct Writer<F> {
    file: F,
    rx: mpsc::Receiver<Message>,
    config: SinkConfig,
    failed: Arc<AtomicBool>,
    last_error: Arc<Mutex<Option<Arc<std::io::Error>>>>,
    stats: Arc<SinkStats>,
    /// Records received but not yet written (kept across failed writes).
    pending: Vec<AuditRecord>,
    buf: Vec<u8>,
    /// Where the part of a batch that a failed write left in the file lies (`start..end`):
    /// cut off before the batch is written again.
    torn: Option<(u64, u64)>,
    /// Written since the last sync.
    dirty: bool,
    last_sync: Instant,
}

impl<F: LogFile> Writer<F> {
    fn run(mut self) {
        let mut acks: Vec<Ack> = Vec::new();
        loop {
            // Sleeping instead of blocking on the queue means senders never pay for waking
            // this thread: a push is a plain queue operation.
            std::thread::sleep(self.config.flush_interval);
            let mut shutdown: Option<Ack> = None;
            let mut disconnected = false;
            loop {
                match self.rx.try_recv() {
                    Ok(Message::Record(r)) => self.pending.push(r),
                    Ok(Message::Flush(ack)) => acks.push(ack),
                    Ok(Message::Shutdown(ack)) if shutdown.is_none() => {
                        // Refuse records from now on. Those already queued, also behind
                        // this message, were accepted: keep taking them, to write them.
                        self.rx.close();
                        shutdown = Some(ack);
                    }
                    Ok(Message::Shutdown(ack)) => acks.push(ack),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            let must_sync = !acks.is_empty()
                || shutdown.is_some()
                || disconnected
                || self.last_sync.elapsed() >= self.config.sync_interval;
            let result = self.write_pending(must_sync);
            if result.is_ok() || shutdown.is_some() || disconnected {
                for ack in acks.drain(..) {
                    let _ = ack.send(result.clone());
                }
            }
            if let Some(ack) = shutdown {
                self.rx.close();
                let _ = ack.send(result);
                return;
            }
            if disconnected {
                return;
            }
        }
    }

    fn write_pending(&mut self, sync: bool) -> std::result::Result<(), Arc<std::io::Error>> {
        let result = self.try_write(sync);
        match &result {
            Ok(()) => self.failed.store(false, Ordering::Relaxed),
            Err(e) => {
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(e.clone());
                }
                self.failed.store(true, Ordering::Relaxed);
            }
        }
        result
    }

    fn try_write(&mut self, sync: bool) -> std::result::Result<(), Arc<std::io::Error>> {
        if !self.pending.is_empty() {
            self.buf.clear();
            for r in &self.pending {
                serde_json::to_writer(&mut self.buf, r)
                    .map_err(|e| Arc::new(std::io::Error::other(e)))?;
                self.buf.push(b'\n');
            }
            self.cut_torn().map_err(Arc::new)?;
            if let Err((written, e)) = self.file.append(&self.buf) {
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
            self.stats
                .written
                .fetch_add(self.pending.len() as u64, Ordering::Relaxed);
            self.pending.clear();
            self.dirty = true;
        }
        if sync && self.dirty {
            self.file.sync().map_err(Arc::new)?;
            self.dirty = false;
            self.last_sync = Instant::now();
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
                queue_capacity: 8, // small, so senders have to wait for room
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
        assert!(sink.stats().waits.load(Ordering::Relaxed) > 0);
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
}
