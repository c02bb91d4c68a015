//! [`GuardedIo`]: a connection that closes itself when idle, holds its connection slot, and
//! (for HTTP/1) gives hyper's own error answers a JSON body.
//!
//! A connection is idle when no request is in progress on it ([`Activity::begin`] marks
//! one) and no byte has moved for the idle timeout: before its first request, between
//! keep-alive requests, or with a client that stopped sending. Its next read then fails
//! with `TimedOut`, and the server closes it. A request in progress is never cut.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use crate::hyper_errors;

/// What a connection is doing, shared by its I/O and the requests served on it.
#[derive(Debug)]
pub(crate) struct Activity {
    origin: Instant,
    /// Milliseconds since `origin` of the last byte read or written.
    last_ms: AtomicU64,
    /// Requests in progress.
    busy: AtomicUsize,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        })
    }

    /// Marks a request in progress until the guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    fn touch(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Release);
    }

    fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.last_ms.load(Ordering::Acquire))
    }

    fn busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }
}

/// A request in progress (see [`Activity::begin`]).
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
        self.0.touch();
    }
}

/// A hyper error answer being written in place of the one hyper gave.
struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    /// What the caller's buffer held (reported written once the replacement is).
    claimed: usize,
}

/// A connection's I/O with an idle timeout and its connection slot.
pub(crate) struct GuardedIo<T> {
    inner: T,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    timer: Pin<Box<Sleep>>,
    /// Give hyper's bodiless HTTP/1 error answers (400, 414, 431) a JSON body.
    rewrite_errors: bool,
    replacement: Option<Replacement>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl<T> GuardedIo<T> {
    pub(crate) fn new(
        inner: T,
        idle_timeout: Duration,
        slot: Option<OwnedSemaphorePermit>,
        rewrite_errors: bool,
    ) -> Self {
        let activity = Activity::new();
        Self {
            inner,
            timer: Box::pin(tokio::time::sleep(idle_timeout)),
            activity,
            idle_timeout,
            rewrite_errors,
            replacement: None,
            _slot: slot,
        }
    }

    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// Whether the connection has been idle for the timeout; re-arms the timer otherwise.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = if self.activity.busy() {
                Instant::now() + self.idle_timeout
            } else {
                let due = self.activity.last() + self.idle_timeout;
                if due <= Instant::now() {
                    return Poll::Ready(());
                }
                due
            };
            self.timer.as_mut().reset(deadline);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.activity.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.poll_idle(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connection idle for {:?}; closed", this.idle_timeout),
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.rewrite_errors && this.replacement.is_none() {
            if let Some(bytes) = hyper_errors::with_json_body(buf) {
                this.replacement = Some(Replacement {
                    bytes,
                    written: 0,
                    claimed: buf.len(),
                });
            }
        }
        if let Some(r) = &mut this.replacement {
            while r.written < r.bytes.len() {
                match Pin::new(&mut this.inner).poll_write(cx, &r.bytes[r.written..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => r.written += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            let claimed = r.claimed;
            this.replacement = None;
            this.activity.touch();
            return Poll::Ready(Ok(claimed));
        }
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes each answer from one buffer, which is what the error
    // rewrite inspects.
    fn is_write_vectored(&self) -> bool {
        false
    }
}
