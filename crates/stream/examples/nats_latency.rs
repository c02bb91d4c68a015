//! Event-to-servable latency through NATS JetStream and `tessera serve`.
//!
//! Publishes events of a `type: stream` source at a steady rate to its NATS subject (the
//! background load: random users), plus one **probe** event every `--probe-ms` for a
//! dedicated probe user, each stamped with its publish time (`ts`, and in its `event_id`).
//! A poller reads the probe user's count over HTTP (`POST /v1/features`, one keep-alive
//! connection, a request every `--poll-ms`) and records when each probe event became
//! visible: a read that sees the count go from c to c' makes probes c+1..c' visible when
//! that read's answer arrived (an upper bound; the poll interval adds up to `--poll-ms`). Prints one JSON line: publish→servable p50/p90/p99/max over the
//! probes, the rate achieved, probes seen, and the 1-minute load before and after.
//!
//! ```sh
//! TESSERA_TOKEN_PUSHER=… cargo run --release -p tessera-stream --example nats_latency -- \
//!     --subject bench.plays.x --http 127.0.0.1:6570 [--rate 5000] [--duration-s 60] \
//!     [--probe-ms 20] [--poll-ms 2] [--users 100000] [--feature user_windows:count_7d] \
//!     [--nats nats://127.0.0.1:4222]
//! nats_latency --delete-stream NAME     # only deletes a JetStream stream (cleanup)
//! ```
//! The server must already run over a repository whose source `plays` consumes `--subject`
//! (`ingest_bench --write-repo DIR --nats SUBJECT --consumer` writes one).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn rfc3339(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(f64::NAN)
}

struct Args {
    subject: String,
    http: String,
    rate: u64,
    duration_s: f64,
    probe_ms: u64,
    poll_ms: u64,
    users: u64,
    feature: String,
    nats: String,
    probe_user: i64,
    delete_stream: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args {
        subject: String::new(),
        http: "127.0.0.1:6566".into(),
        rate: 5000,
        duration_s: 60.0,
        probe_ms: 20,
        poll_ms: 2,
        users: 100_000,
        feature: "user_windows:count_7d".into(),
        nats: "nats://127.0.0.1:4222".into(),
        probe_user: 1_000_000_007,
        delete_stream: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--subject" => a.subject = val(),
            "--http" => a.http = val(),
            "--rate" => a.rate = val().parse::<f64>().unwrap() as u64,
            "--duration-s" => a.duration_s = val().parse().unwrap(),
            "--probe-ms" => a.probe_ms = val().parse().unwrap(),
            "--poll-ms" => a.poll_ms = val().parse().unwrap(),
            "--users" => a.users = val().parse::<f64>().unwrap() as u64,
            "--feature" => a.feature = val(),
            "--nats" => a.nats = val(),
            "--probe-user" => a.probe_user = val().parse().unwrap(),
            "--delete-stream" => a.delete_stream = Some(val()),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(
        !a.subject.is_empty() || a.delete_stream.is_some(),
        "--subject is required"
    );
    a
}

/// One keep-alive HTTP/1.1 connection.
struct Http {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl Http {
    async fn connect(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            host: addr.to_string(),
            buf: Vec::new(),
        })
    }

    async fn post(
        &mut self,
        path: &str,
        token: &str,
        body: &str,
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.write_all(req.as_bytes()).await?;
        // Headers.
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p;
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_string();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())
                    .flatten()
            })
            .ok_or_else(|| std::io::Error::other("no content-length"))?;
        let start = head_end + 4;
        while self.buf.len() < start + len {
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let body = self.buf[start..start + len].to_vec();
        self.buf.drain(..start + len);
        Ok((status, body))
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let a = parse_args();
    let client = async_nats::connect(&a.nats).await.expect("NATS");
    let js = async_nats::jetstream::new(client.clone());
    if a.subject.is_empty() {
        // Only `--delete-stream NAME`: clean up after a run (once the server has stopped).
        let name = a.delete_stream.clone().unwrap_or_default();
        let r = js.delete_stream(&name).await;
        eprintln!("deleted JetStream stream {name}: {}", r.is_ok());
        return;
    }
    let token = std::env::var("TESSERA_TOKEN_PUSHER").expect("TESSERA_TOKEN_PUSHER");
    let load_before = load1();

    // The poller: probe visibility.
    let mut http = Http::connect(&a.http).await.expect("HTTP server");
    let body = format!(
        r#"{{"features": ["{}"], "entities": {{"user_id": [{}]}}}}"#,
        a.feature, a.probe_user
    );
    let read_count = |b: &[u8]| -> Option<i64> {
        let v: serde_json::Value = serde_json::from_slice(b).ok()?;
        v["features"][0]["values"][0].as_i64()
    };
    let (st, b) = http.post("/v1/features", &token, &body).await.unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    let base_count = read_count(&b).unwrap_or(0);

    // Probe publish times (Instant), in order.
    let probes: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::new(std::sync::Mutex::new(Vec::new()));
    let done_publishing = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let ack_errors = Arc::new(AtomicU64::new(0));

    // Acks are awaited off the publishing path, in order.
    let (ack_tx, mut ack_rx) =
        tokio::sync::mpsc::channel::<async_nats::jetstream::context::PublishAckFuture>(100_000);
    let ae = ack_errors.clone();
    let acker = tokio::spawn(async move {
        while let Some(f) = ack_rx.recv().await {
            if f.await.is_err() {
                ae.fetch_add(1, Ordering::Relaxed);
            }
        }
    });

    let publisher = {
        let js = js.clone();
        let probes = probes.clone();
        let done = done_publishing.clone();
        let published = published.clone();
        let subject = a.subject.clone();
        let (rate, users, probe_user, probe_ms, duration) =
            (a.rate, a.users, a.probe_user, a.probe_ms, a.duration_s);
        tokio::spawn(async move {
            let tick = Duration::from_millis(5);
            let per_tick = rate as f64 * tick.as_secs_f64();
            let start = Instant::now();
            let mut next_probe = start;
            let mut seq: u64 = 0;
            let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let pid = std::process::id();
            while start.elapsed().as_secs_f64() < duration {
                interval.tick().await;
                // Background events due by now (catching up if a tick was late).
                let due = rate as f64 * start.elapsed().as_secs_f64();
                let n = (due - seq as f64).clamp(0.0, per_tick * 50.0) as u64;
                for _ in 0..n {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let u = (rng >> 33) % users;
                    let t = now_us();
                    let body = format!(
                        r#"{{"user_id": {u}, "item_id": {}, "action": "play", "dwell_s": 1.5, "ts": "{}", "event_id": "b{pid}-{seq}-{t}"}}"#,
                        (rng >> 13) % 10_000,
                        rfc3339(t)
                    );
                    seq += 1;
                    if let Ok(f) = js.publish(subject.clone(), body.into()).await {
                        let _ = ack_tx.send(f).await;
                    }
                    published.fetch_add(1, Ordering::Relaxed);
                }
                if Instant::now() >= next_probe {
                    let k = probes.lock().unwrap().len();
                    let t = now_us();
                    let body = format!(
                        r#"{{"user_id": {probe_user}, "item_id": 1, "action": "play", "dwell_s": 1.0, "ts": "{}", "event_id": "p{pid}-{k}-{t}"}}"#,
                        rfc3339(t)
                    );
                    probes.lock().unwrap().push(Instant::now());
                    if let Ok(f) = js.publish(subject.clone(), body.into()).await {
                        let _ = ack_tx.send(f).await;
                    }
                    next_probe += Duration::from_millis(probe_ms);
                }
            }
            done.store(true, Ordering::SeqCst);
            (seq, start.elapsed().as_secs_f64())
        })
    };

    // Poll until publishing is over and every probe is visible (or 60 s after the end).
    let mut lat_ms: Vec<f64> = Vec::new();
    let mut seen: i64 = 0;
    let mut polls = 0u64;
    let mut errors = 0u64;
    let mut end_wait: Option<Instant> = None;
    loop {
        match http.post("/v1/features", &token, &body).await {
            Ok((200, b)) => {
                // Conservative: the probe counts as visible when the answer arrived.
                let t = Instant::now();
                polls += 1;
                if let Some(c) = read_count(&b) {
                    let c = c - base_count;
                    if c > seen {
                        let probes = probes.lock().unwrap();
                        for k in seen..c {
                            if let Some(p) = probes.get(k as usize) {
                                lat_ms.push(t.saturating_duration_since(*p).as_secs_f64() * 1000.0);
                            }
                        }
                        seen = c;
                    }
                }
            }
            Ok((s, b)) => {
                errors += 1;
                if errors < 5 {
                    eprintln!("poll answered {s}: {}", String::from_utf8_lossy(&b));
                }
            }
            Err(e) => {
                errors += 1;
                eprintln!("poll failed: {e}; reconnecting");
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Ok(h) = Http::connect(&a.http).await {
                    http = h;
                }
            }
        }
        if done_publishing.load(Ordering::SeqCst) {
            let total = probes.lock().unwrap().len() as i64;
            let since = *end_wait.get_or_insert_with(Instant::now);
            if seen >= total || since.elapsed() > Duration::from_secs(60) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(a.poll_ms)).await;
    }
    let drain_s = end_wait.map_or(0.0, |e| e.elapsed().as_secs_f64());
    let (sent, pub_s) = publisher.await.unwrap();
    drop(js);
    let _ = acker.await;
    let load_after = load1();
    let total_probes = probes.lock().unwrap().len();
    lat_ms.sort_by(f64::total_cmp);
    println!(
        "{{\"bench\": \"nats_latency\", \"target_rate\": {}, \"achieved_rate\": {:.0}, \"published\": {}, \"publish_s\": {:.1}, \"ack_errors\": {}, \"probes\": {total_probes}, \"probes_seen\": {}, \"lat_ms_p50\": {:.1}, \"lat_ms_p90\": {:.1}, \"lat_ms_p99\": {:.1}, \"lat_ms_max\": {:.1}, \"polls\": {polls}, \"poll_errors\": {errors}, \"drain_after_end_s\": {drain_s:.2}, \"load1_before\": {load_before:.2}, \"load1_after\": {load_after:.2}}}",
        a.rate,
        sent as f64 / pub_s,
        published.load(Ordering::Relaxed),
        pub_s,
        ack_errors.load(Ordering::Relaxed),
        lat_ms.len(),
        pct(&lat_ms, 0.5),
        pct(&lat_ms, 0.9),
        pct(&lat_ms, 0.99),
        lat_ms.last().copied().unwrap_or(f64::NAN),
    );
}
