//! [`RemoteClient`]: HTTP/1.1 to a Tessera server's native read API (`POST /v1/features`),
//! with a bearer token, over a few kept-alive connections. hyper's client, without axum.
//! Callers bound every call with a timeout.

use std::sync::Mutex;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;

use crate::error::{Error, Result};

/// Connections kept for reuse at most.
const MAX_IDLE: usize = 4;

/// A client of one Tessera server.
pub(crate) struct RemoteClient {
    /// `host:port` to connect to.
    addr: String,
    /// The request path prefix (e.g. `` or `/tessera`), without a trailing `/`.
    base_path: String,
    authorization: Option<String>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for RemoteClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteClient")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// A server's answer: status and body.
#[derive(Debug)]
pub(crate) struct RemoteResponse {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

impl RemoteClient {
    /// A client of the server at `url` (`http://host:port`, optionally with a path prefix).
    pub(crate) fn new(url: &str, token: Option<&str>) -> Result<Self> {
        let bad = |why: &str| {
            Error::BadInput {
            message: format!("server URL `{url}` {why}"),
            hint: "give `http://host:port` of a `tessera serve` (TLS is not built in: put a local TLS proxy in front)".into(),
        }
        };
        let uri: Uri = url.parse().map_err(|_| bad("does not parse"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("is not http://"));
        }
        let auth = uri.authority().ok_or_else(|| bad("has no host"))?;
        let port = auth.port_u16().unwrap_or(80);
        let host = auth.host().trim_start_matches('[').trim_end_matches(']');
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        if let Some(t) = token {
            if t.is_empty() || t.chars().any(|c| c.is_control() || c == ' ') {
                return Err(Error::BadInput {
                    message: "the bearer token is empty or holds spaces or control characters"
                        .into(),
                    hint: "give the consumer's token exactly as the server's `token_env` holds it"
                        .into(),
                });
            }
        }
        Ok(Self {
            addr,
            base_path: uri.path().trim_end_matches('/').to_string(),
            authorization: token.map(|t| format!("Bearer {t}")),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// `POST {base}/v1/features` with a JSON body.
    pub(crate) async fn post_features(&self, body: Vec<u8>) -> Result<RemoteResponse> {
        self.post("/v1/features", "application/json", body).await
    }

    /// `POST {base}{path}` with a body of `content_type`.
    pub(crate) async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<RemoteResponse> {
        let mut sender = match self.take_idle() {
            Some(s) => s,
            None => self.connect().await?,
        };
        let mut req = Request::post(format!("{}{path}", self.base_path))
            .header("host", &self.addr)
            .header("content-type", content_type);
        if let Some(a) = &self.authorization {
            req = req.header("authorization", a);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| cloud(format!("cannot build the request: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| cloud(format!("request to {} failed: {e}", self.addr)))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| cloud(format!("reading the answer of {} failed: {e}", self.addr)))?
            .to_bytes();
        self.put_idle(sender);
        Ok(RemoteResponse { status, body })
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(s) = idle.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn put_idle(&self, s: SendRequest<Full<Bytes>>) {
        if s.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(s);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(&self.addr)
            .await
            .map_err(|e| cloud(format!("cannot connect to {}: {e}", self.addr)))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| cloud(format!("HTTP handshake with {} failed: {e}", self.addr)))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }
}

fn cloud(message: String) -> Error {
    Error::Remote { message }
}
