//! [`serve_grpc`]: the gRPC server with the HTTP server's limits — the largest message
//! (`max_body_bytes`), a bound on connections (beyond `max_connections`, a new connection is
//! closed at once), an idle timeout (a connection with no call in progress and no traffic
//! for `idle_timeout` is closed), and a drain on shutdown bounded by `drain_timeout`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tonic::transport::server::Connected;

use crate::conn_guard::{Activity, Busy, GuardedIo};
use crate::error::{Error, Result};
use crate::grpc::GrpcService;
use crate::state::AppState;

/// Concurrent calls (HTTP/2 streams) on one connection.
const MAX_STREAMS_PER_CONNECTION: u32 = 256;

/// Serves gRPC on `listener` until `shutdown` resolves, then lets in-flight calls finish for
/// up to `limits.drain_timeout`. Does not flush the audit log: the caller does, once every
/// server has stopped.
pub async fn serve_grpc(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let limits = state.limits;
    let incoming = Incoming {
        listener,
        slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        idle_timeout: limits.idle_timeout,
    };
    let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tonic::transport::Server::builder()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(GrpcService::new(state).into_server())
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            let _ = fired_tx.send(());
        });
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => return r.map_err(Error::Grpc),
        _ = fired_rx => {}
    }
    match tokio::time::timeout(limits.drain_timeout, &mut server).await {
        Ok(r) => r.map_err(Error::Grpc),
        Err(_) => {
            tracing::warn!(
                after = ?limits.drain_timeout,
                "gRPC calls still running after the drain timeout; closing them"
            );
            Ok(())
        }
    }
}

/// Marks a call in progress on its connection (so the idle timeout spares it).
pub(crate) fn busy<T>(req: &tonic::Request<T>) -> Option<Busy> {
    req.extensions()
        .get::<GrpcConnInfo>()
        .map(|c| c.activity.begin())
}

/// Accepted connections, each holding a connection slot; one beyond the limit is closed.
struct Incoming {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    idle_timeout: Duration,
}

impl futures::Stream for Incoming {
    type Item = std::io::Result<GrpcIo>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let (stream, peer) = match this.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(x)) => x,
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "gRPC accept failed");
                    continue;
                }
            };
            let Ok(slot) = this.slots.clone().try_acquire_owned() else {
                tracing::debug!(%peer, "gRPC connection refused: too many open");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let io = GuardedIo::new(stream, this.idle_timeout, Some(slot), false);
            return Poll::Ready(Some(Ok(GrpcIo(io))));
        }
    }
}

/// A gRPC connection's I/O.
struct GrpcIo(GuardedIo<TcpStream>);

/// What a gRPC call knows of its connection.
#[derive(Debug, Clone)]
pub(crate) struct GrpcConnInfo {
    activity: Arc<Activity>,
}

impl Connected for GrpcIo {
    type ConnectInfo = GrpcConnInfo;

    fn connect_info(&self) -> GrpcConnInfo {
        GrpcConnInfo {
            activity: self.0.activity().clone(),
        }
    }
}

impl AsyncRead for GrpcIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for GrpcIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
