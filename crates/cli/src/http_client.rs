//! A minimal HTTP/1.1 JSON client over one keep-alive connection, for the demo (which
//! talks to the server it started, as a real client would).

use std::net::SocketAddr;

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;

/// One connection to a server.
pub(crate) struct HttpClient {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

/// A response: status and body (JSON when it parses, else the text as a JSON string).
pub(crate) struct JsonResponse {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: serde_json::Value,
}

impl HttpClient {
    /// Connects to `addr` (TCP_NODELAY, as latency-sensitive clients do).
    pub(crate) async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            host: addr.to_string(),
        })
    }

    /// `POST path` with a JSON body and, when given, `Authorization: Bearer token`.
    pub(crate) async fn post_json(
        &mut self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<JsonResponse> {
        let mut req = Request::post(path)
            .header("host", &self.host)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(Full::new(Bytes::from(serde_json::to_vec(body)?)))?;
        self.sender.ready().await.context("connection closed")?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
        Ok(JsonResponse { status, body })
    }
}
