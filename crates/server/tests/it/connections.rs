//! Issue 14, defects 6 and 8, over a real listener: idle connections are closed, a flood of
//! them does not keep `/health` from answering, and the errors hyper answers itself (431,
//! 414, a bad Content-Length) have the documented JSON body.

use std::net::SocketAddr;
use std::time::Duration;

use tessera_server::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::fixtures::{Options, TestServer};
use crate::lifecycle::read_response;

struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<tessera_server::Result<()>>,
    _server: TestServer,
}

async fn start(limits: Limits) -> Running {
    let (s, _) = TestServer::embedded_with(Options {
        limits,
        ..Options::default()
    })
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(tessera_server::serve(listener, s.state.clone(), async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop,
        task,
        _server: s,
    }
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    read_response(&mut c).await
}

/// Whether the server closes `c` (EOF or reset) within `within`.
async fn closed_within(c: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(within, c.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a 503 before the close
        }
    }
}

#[tokio::test]
async fn idle_connections_are_closed_and_health_answers_through_a_flood() {
    let srv = start(Limits {
        max_connections: 4,
        reserved_connections: 8,
        idle_timeout: Duration::from_millis(500),
        header_read_timeout: Duration::from_secs(30),
        ..Limits::default()
    })
    .await;
    // Idle, unauthenticated connections: more than the server serves.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(srv.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // /health still answers, on a connection from the reserve.
    let health = get(srv.addr, "/health").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // Other routes on the reserve answer a JSON 503 that names the setting.
    let other = get(srv.addr, "/nope").await;
    assert!(other.starts_with("HTTP/1.1 503"), "{other}");
    assert!(
        other.contains("\"error\":\"too_many_connections\""),
        "{other}"
    );
    assert!(other.contains("max_connections"), "{other}");
    // Every idle connection is closed by the server.
    for c in &mut idle {
        assert!(
            closed_within(c, Duration::from_secs(10)).await,
            "an idle connection stays open"
        );
    }
    // And normal service resumes.
    let resp = get(srv.addr, "/nope").await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    srv.stop.send(()).unwrap();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn connections_beyond_the_reserve_get_a_json_503() {
    let srv = start(Limits {
        max_connections: 1,
        reserved_connections: 0,
        idle_timeout: Duration::from_secs(30),
        ..Limits::default()
    })
    .await;
    let _held = TcpStream::connect(srv.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    let resp = read_response(&mut c).await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(resp.contains("content-type: application/json"), "{resp}");
    assert!(
        resp.contains("\"error\":\"too_many_connections\""),
        "{resp}"
    );
    srv.stop.send(()).unwrap();
    srv.task.await.unwrap().unwrap();
}

/// Sends raw bytes on a new connection and returns the answer.
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(bytes).await.unwrap();
    read_response(&mut c).await
}

fn json_body(resp: &str) -> serde_json::Value {
    let (head, body) = resp.split_once("\r\n\r\n").expect("a head and a body");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{resp}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {resp}"))
}

#[tokio::test]
async fn errors_hyper_answers_itself_have_json_bodies() {
    let srv = start(Limits::default()).await;
    // Too many headers: 431.
    let mut req = String::from("GET /health HTTP/1.1\r\nhost: x\r\n");
    for i in 0..150 {
        req.push_str(&format!("x-h{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let resp = raw(srv.addr, req.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    assert_eq!(json_body(&resp)["error"], "headers_too_large");
    // A URI over hyper's limit: 414.
    let req = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    let resp = raw(srv.addr, req.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 414"), "{resp}");
    assert_eq!(json_body(&resp)["error"], "uri_too_long");
    // A Content-Length that is not a number: 400.
    let req = "POST /v1/features HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n{}";
    let resp = raw(srv.addr, req.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let j = json_body(&resp);
    assert_eq!(j["error"], "bad_http_request");
    assert!(
        j["message"].as_str().unwrap().contains("Content-Length"),
        "{resp}"
    );
    // Two different Content-Lengths: 400 as well.
    let req =
        "POST /v1/features HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}";
    let resp = raw(srv.addr, req.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert_eq!(json_body(&resp)["error"], "bad_http_request");
    srv.stop.send(()).unwrap();
    srv.task.await.unwrap().unwrap();
}
