//! [`CaptureProxy`]: a small TCP proxy that forwards every connection to a target and
//! records every byte crossing it, both ways. Put it between a [`crate::Device`] and its
//! server (give the device `http://<proxy address>`) to see exactly what leaves the device:
//! the wire-capture test and `tessera demo` use it. Plain threads and `std::net`, no
//! dependencies; for tests and demos, not for production traffic.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Everything that crossed a [`CaptureProxy`] so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    /// Client → target (the device's requests), all connections in arrival order.
    pub up: Vec<u8>,
    /// Target → client (the server's answers).
    pub down: Vec<u8>,
    /// Connections accepted.
    pub connections: u64,
}

impl Capture {
    /// Both directions, as (lossy) UTF-8 text: `(up, down)`.
    pub fn text(&self) -> (String, String) {
        (
            String::from_utf8_lossy(&self.up).into_owned(),
            String::from_utf8_lossy(&self.down).into_owned(),
        )
    }
}

/// A running proxy; it stops accepting when dropped (open connections finish on their own).
#[derive(Debug)]
pub struct CaptureProxy {
    addr: SocketAddr,
    capture: Arc<Mutex<Capture>>,
    stop: Arc<AtomicBool>,
}

impl CaptureProxy {
    /// Listens on a free loopback port and forwards each connection to `target`.
    pub fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let capture = Arc::new(Mutex::new(Capture::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (cap, stopped) = (capture.clone(), stop.clone());
        std::thread::Builder::new()
            .name("capture-proxy".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { return };
                    lock(&cap).connections += 1;
                    let Ok(server) = TcpStream::connect(target) else {
                        continue;
                    };
                    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone())
                    else {
                        continue;
                    };
                    pipe(client, server2, Direction::Up, cap.clone());
                    pipe(server, client2, Direction::Down, cap.clone());
                }
            })?;
        Ok(Self {
            addr,
            capture,
            stop,
        })
    }

    /// The address to connect to instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for a device's `server_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of what crossed so far.
    pub fn capture(&self) -> Capture {
        lock(&self.capture).clone()
    }
}

impl Drop for CaptureProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

fn lock(c: &Mutex<Capture>) -> MutexGuard<'_, Capture> {
    // A panicking pipe thread cannot leave a capture half-updated in a harmful way.
    c.lock().unwrap_or_else(|e| e.into_inner())
}

fn pipe(mut from: TcpStream, mut to: TcpStream, dir: Direction, cap: Arc<Mutex<Capture>>) {
    let spawned = std::thread::Builder::new()
        .name("capture-pipe".into())
        .spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                {
                    let mut c = lock(&cap);
                    let side = match dir {
                        Direction::Up => &mut c.up,
                        Direction::Down => &mut c.down,
                    };
                    side.extend_from_slice(&buf[..n]);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
    // Without a thread the connection is dropped, which the client sees as a failed call.
    drop(spawned);
}

/// One HTTP/1.1 message of a captured byte stream: its head (start line and headers) and
/// its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpMessage<'a> {
    /// Start line and headers, without the blank line.
    pub head: &'a [u8],
    /// The body (`content-length` bytes; everything left for a chunked or unframed one).
    pub body: &'a [u8],
}

/// Splits a captured direction into HTTP/1.1 messages (keep-alive connections carry several).
/// Bytes that do not parse as a message are returned as one message with an empty head, so
/// nothing captured is ever left out.
pub fn http_messages(bytes: &[u8]) -> Vec<HttpMessage<'_>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            out.push(HttpMessage {
                head: &[],
                body: rest,
            });
            break;
        };
        let head = &rest[..end];
        let after = &rest[end + 4..];
        let text = String::from_utf8_lossy(head).to_ascii_lowercase();
        let chunked = text
            .lines()
            .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
        let len = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        let take = match (chunked, len) {
            (false, Some(n)) => n.min(after.len()),
            (false, None) => 0,
            (true, _) => after.len(),
        };
        out.push(HttpMessage {
            head,
            body: &after[..take],
        });
        rest = &after[take..];
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn forwards_and_records_both_ways() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = echo.accept().unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(b"pong:").unwrap();
            s.write_all(&buf).unwrap();
        });
        let proxy = CaptureProxy::start(target).unwrap();
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.write_all(b"hello").unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"pong:hello");
        // Bytes are recorded before they are forwarded, so all of them are in by now.
        let cap = proxy.capture();
        assert_eq!(cap.up, b"hello");
        assert_eq!(cap.down, b"pong:hello");
        assert_eq!(cap.connections, 1);
    }

    #[test]
    fn splits_keep_alive_messages() {
        let bytes = b"POST /a HTTP/1.1\r\ncontent-length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\nPOST /c HTTP/1.1\r\nContent-Length: 2\r\n\r\nxy";
        let m = http_messages(bytes);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].body, b"abc");
        assert!(m[1].head.starts_with(b"GET /b"));
        assert_eq!(m[1].body, b"");
        assert_eq!(m[2].body, b"xy");
        let torn = http_messages(b"POST /a HTTP/1.1\r\nconte");
        assert_eq!((torn.len(), torn[0].head.len()), (1, 0));
    }
}
