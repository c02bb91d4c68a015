//! [`serve`]: the accept loop, with connection limits (and a reserve for health checks),
//! header and idle timeouts, graceful shutdown and the final audit flush.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;

use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::api_error::ApiError;
use crate::conn_guard::GuardedIo;
use crate::error::{Error, Result};
use crate::metrics::Route;
use crate::routes::app;
use crate::state::AppState;

/// Serves the API on `listener` until `shutdown` resolves; then stops accepting, lets
/// in-flight requests finish (closing idle keep-alive connections) for up to
/// `limits.drain_timeout`, and flushes the audit log to disk before returning.
///
/// Accept errors (a client resetting, too many open files) never stop the server: they are
/// logged and accepting resumes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    serve_http(listener, state.clone(), shutdown).await;
    flush_audit(&state).await
}

/// Writes and syncs every queued audit record and stops the audit writer. Call it once every
/// server sharing `state` has stopped.
pub async fn flush_audit(state: &AppState) -> Result<()> {
    state
        .access
        .audit()
        .shutdown()
        .await
        .map_err(Error::AuditFlush)?;
    tracing::info!("audit log flushed; stopped");
    Ok(())
}

/// As [`serve`], without the final audit flush (for running beside the gRPC server).
///
/// Connections: up to `limits.max_connections` are served; the next
/// `limits.reserved_connections` may call only `GET /health` and `GET /metrics` (other
/// routes answer 503 `too_many_connections`), must send their request within a second and
/// close after one request; beyond those, a connection gets a 503 and is closed. The server never stops accepting, so a flood of
/// idle connections cannot keep `/health` from answering, and each idle connection is
/// closed after `limits.idle_timeout` (see [`crate::Limits`]).
pub async fn serve_http(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send,
) {
    let limits = state.limits;
    let router = app(state.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut reserved_http = http.clone();
    reserved_http
        .header_read_timeout(limits.header_read_timeout.min(RESERVED_IDLE))
        .keep_alive(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let reserve = Arc::new(Semaphore::new(limits.reserved_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let open = Arc::new(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    if !is_connection_error(&e) {
                        tracing::warn!(error = %e, "accept failed; retrying in 100ms");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (slot, class) = match slots.clone().try_acquire_owned() {
            Ok(p) => (p, ConnClass::Full),
            Err(_) => match reserve.clone().try_acquire_owned() {
                Ok(p) => (p, ConnClass::Reserved),
                Err(_) => {
                    tokio::spawn(refuse_connection(stream, limits));
                    continue;
                }
            },
        };
        let (idle, http) = match class {
            ConnClass::Full => (limits.idle_timeout, http.clone()),
            ConnClass::Reserved => (
                limits.idle_timeout.min(RESERVED_IDLE),
                reserved_http.clone(),
            ),
        };
        let io = GuardedIo::new(stream, idle, Some(slot), true);
        let conn = Conn {
            http,
            router: router.clone(),
            class,
            stop: stop_rx.clone(),
            _open: open.clone(),
        };
        tokio::spawn(async move {
            if let Err(e) = conn.run(io).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let count = Arc::strong_count(&open) - 1;
    tracing::info!(
        connections = count,
        "shutting down: draining in-flight requests"
    );
    stop_tx.send_replace(true);
    let drained = async {
        while Arc::strong_count(&open) > 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(limits.drain_timeout, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            after = ?limits.drain_timeout,
            "connections still open after the drain timeout; closing them"
        );
    }
}

/// How long a connection in the reserve may stay idle or take to send its request's head:
/// the reserve turns over quickly, so a flood of idle connections cannot hold it.
const RESERVED_IDLE: Duration = Duration::from_secs(1);

/// Whether a connection is served fully or from the reserve kept for health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnClass {
    Full,
    Reserved,
}

/// One accepted connection and what serving it needs.
struct Conn {
    http: hyper::server::conn::http1::Builder,
    router: axum::Router,
    class: ConnClass,
    stop: watch::Receiver<bool>,
    /// Counts open connections for the drain.
    _open: Arc<()>,
}

impl Conn {
    async fn run(mut self, io: GuardedIo<tokio::net::TcpStream>) -> hyper::Result<()> {
        let activity = io.activity().clone();
        let (router, class) = (self.router.clone(), self.class);
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let busy = activity.begin();
            let router = router.clone();
            async move {
                let resp = answer(router, class, req).await;
                drop(busy);
                Ok::<_, Infallible>(resp)
            }
        });
        let conn = self.http.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let stopping = async {
            // A dropped sender means the server is gone: stop as well.
            let _ = self.stop.wait_for(|stop| *stop).await;
        };
        tokio::select! {
            r = conn.as_mut() => r,
            () = stopping => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        }
    }
}

/// Serves a request; on a reserved connection only the health and metrics routes, and the
/// connection closes after the answer.
async fn answer(router: axum::Router, class: ConnClass, req: Request<Incoming>) -> Response {
    if class == ConnClass::Full {
        return match router.oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
    }
    let path = req.uri().path();
    let mut resp = if path == Route::Health.path() || path == Route::Metrics.path() {
        match router.oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    } else {
        too_many_connections().into_response()
    };
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

fn too_many_connections() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_connections",
        "the server has as many connections as it serves; this one may only call GET /health and GET /metrics (hint: retry later, reuse keep-alive connections, or raise `max_connections` under `server:` in tessera.yaml)",
    )
}

/// Answers a connection beyond the reserve with a 503 and closes it.
async fn refuse_connection(mut stream: tokio::net::TcpStream, limits: crate::Limits) {
    use tokio::io::AsyncWriteExt;
    tracing::debug!(
        max_connections = limits.max_connections,
        reserved = limits.reserved_connections,
        "connection refused: too many open"
    );
    let body = serde_json::json!({
        "error": "too_many_connections",
        "message": format!(
            "the server has {} connections open, its limit (hint: retry later, reuse keep-alive connections, or raise `max_connections` under `server:` in tessera.yaml)",
            limits.max_connections + limits.reserved_connections
        ),
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset
    )
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
