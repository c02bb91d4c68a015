//! A real listener: requests over TCP, and a graceful shutdown that lets an in-flight
//! request finish and flushes the audit log.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::fixtures::{TestServer, RANKER};

const BODY: &str = r#"{"features":["user_stats:f0"],"entities":{"user_id":[1]}}"#;

fn head(len: usize) -> String {
    format!(
        "POST /get-online-features HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {RANKER}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
    )
}

pub(crate) async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("the server answers")
            .unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((h, b)) = text.split_once("\r\n\r\n") {
            let len = h
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if b.len() >= len {
                return text.to_string();
            }
        }
    }
    String::from_utf8_lossy(&buf).to_string()
}

#[tokio::test]
async fn serves_over_tcp_and_drains_on_shutdown() {
    let (s, _) = TestServer::embedded().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tessera_server::serve(listener, s.state.clone(), async {
        let _ = stop_rx.await;
    }));

    // A complete request on a keep-alive connection.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(format!("{}{BODY}", head(BODY.len())).as_bytes())
        .await
        .unwrap();
    let resp = read_response(&mut c).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#""values":[0.5]"#), "{resp}");

    // An in-flight request: headers and half the body, then shutdown, then the rest.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let (a, b) = BODY.split_at(20);
    slow.write_all(format!("{}{a}", head(BODY.len())).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop_tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !server.is_finished(),
        "the server waits for the in-flight request"
    );
    slow.write_all(b.as_bytes()).await.unwrap();
    let resp = read_response(&mut slow).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");

    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops after draining")
        .unwrap()
        .unwrap();
    // Both reads are on disk, and nothing is accepted any more.
    assert_eq!(s.audit_log.tail(10).unwrap().len(), 2);
    assert!(TcpStream::connect(addr).await.is_err());
}
