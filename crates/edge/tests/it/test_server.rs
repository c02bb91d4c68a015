//! A stand-in for a Tessera server's `POST /v1/features`: it answers every asked feature
//! with a value computed from the entity key (`key * 10` for integers, `"<feature>-<key>"`
//! for strings), after an optional delay, and counts and records the requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running test server.
pub(crate) struct TestServer {
    pub url: String,
    pub requests: Arc<AtomicU64>,
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    pub delay_ms: Arc<AtomicU64>,
    /// Entities (user ids) the server answers `erased` for.
    pub erased: Arc<Mutex<Vec<i64>>>,
    /// Entities (user ids) the server answers with a withheld status (`suppressed`,
    /// `no_consent`) — carelessly leaving the value in, which a device must drop.
    pub withheld: Arc<Mutex<Vec<(i64, &'static str)>>>,
    _runtime: tokio::runtime::Runtime,
}

impl TestServer {
    pub(crate) fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicU64::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let erased = Arc::new(Mutex::new(Vec::new()));
        let withheld = Arc::new(Mutex::new(Vec::new()));
        let (r, b, d, er, wh) = (
            requests.clone(),
            bodies.clone(),
            delay_ms.clone(),
            erased.clone(),
            withheld.clone(),
        );
        runtime.spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let (r, b, d, er, wh) = (r.clone(), b.clone(), d.clone(), er.clone(), wh.clone());
                tokio::spawn(async move {
                    loop {
                        let Some(body) = read_request(&mut sock).await else { return };
                        r.fetch_add(1, Ordering::SeqCst);
                        let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        b.lock().unwrap().push(req.clone());
                        let delay = d.load(Ordering::SeqCst);
                        if delay > 0 {
                            tokio::time::sleep(Duration::from_millis(delay)).await;
                        }
                        let gone = er.lock().unwrap().clone();
                        let held = wh.lock().unwrap().clone();
                        let out = answer(&req, &gone, &held).to_string();
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{out}",
                            out.len()
                        );
                        if sock.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            url,
            requests,
            bodies,
            delay_ms,
            erased,
            withheld,
            _runtime: runtime,
        }
    }
}

/// Reads one HTTP/1.1 request with a content-length body; `None` at EOF.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf[end + 4..end + 4 + len].to_vec());
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn answer(
    req: &serde_json::Value,
    erased: &[i64],
    withheld: &[(i64, &'static str)],
) -> serde_json::Value {
    let entities = req["entities"].as_object().unwrap();
    let (_, keys) = entities.iter().next().unwrap();
    let keys = keys.as_array().unwrap();
    let features: Vec<serde_json::Value> = req["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = f.as_str().unwrap();
            // For `analytics`, plays arrive minimised as a real server sends them.
            if req["purpose"] == "analytics" && name.ends_with("plays_1d") {
                return serde_json::json!({
                    "feature": name,
                    "type": "string",
                    "values": vec!["10-20"; keys.len()],
                    "statuses": vec!["present"; keys.len()],
                    "event_timestamps": vec!["2026-01-01T00:00:00Z"; keys.len()],
                });
            }
            let values: Vec<serde_json::Value> = keys
                .iter()
                .map(|k| match k.as_i64() {
                    Some(n) if erased.contains(&n) => serde_json::Value::Null,
                    Some(n) if name.ends_with("plays_1d") || name.ends_with("duration_s") => {
                        (n * 10).into()
                    }
                    _ => format!("{name}-{k}").into(),
                })
                .collect();
            serde_json::json!({
                "feature": name,
                "values": values,
                "statuses": keys
                    .iter()
                    .map(|k| {
                        let n = k.as_i64();
                        if n.is_some_and(|n| erased.contains(&n)) {
                            "erased"
                        } else if let Some((_, s)) = withheld.iter().find(|(u, _)| Some(*u) == n) {
                            s
                        } else {
                            "present"
                        }
                    })
                    .collect::<Vec<_>>(),
                "event_timestamps": vec!["2026-01-01T00:00:00Z"; keys.len()],
            })
        })
        .collect();
    serde_json::json!({ "features": features })
}
