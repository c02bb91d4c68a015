//! An open-loop load generator for the feature server: requests at a fixed offered rate,
//! latency measured from each request's *intended* send time (as wrk2 does), so a stalled
//! server is charged for every request it held up (no coordinated omission).
//!
//! ```text
//! cargo run --release -p tessera-server --example fixed_rate -- \
//!     --addr 127.0.0.1:6570 --path /get-online-features --token $TOKEN \
//!     --body-file body.json --rate 2000 --seconds 30 --connections 16
//! ```
//! `--rate 0` runs closed-loop (each connection sends as soon as its last answer arrived):
//! the capacity. `--bodies-file` gives one body per line, used in turn (e.g. random entity
//! ids). `--per-second` prints p50/p99 and the count of each second; `--bucket-s N` the same
//! per N seconds (a soak reports per minute). In a body, `{seq}` becomes the request's index
//! and `{now}` the send time (RFC 3339, UTC): unique event ids and current timestamps for
//! pushes.
//!
//! Each of `--connections` keep-alive connections owns the request slots `i ≡ k (mod
//! connections)` of the schedule `start + i / rate`; a connection that falls behind (still
//! waiting for an answer at the next slot) sends its next request at once and the wait
//! counts in its latency. A connection that was free at its slot but woke late (the
//! runtime's timer has a millisecond's grain) counts from the actual send: the generator's
//! lateness is not the server's. A server that falls behind for good would keep the run
//! going: `--grace-s` (10) after the end, the slots not yet sent count as errors and the run
//! stops. Prints one JSON line:
//! offered and achieved rate, count, errors (non-2xx or broken connections) and the
//! latency percentiles in microseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Args {
    addr: String,
    path: String,
    token: Option<String>,
    bodies: Vec<String>,
    rate: f64,
    seconds: f64,
    connections: usize,
    bucket_s: u64,
    grace_s: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:6570".into(),
        path: "/get-online-features".into(),
        token: std::env::var("TESSERA_BENCH_TOKEN").ok(),
        bodies: Vec::new(),
        rate: 1000.0,
        seconds: 10.0,
        connections: 16,
        bucket_s: 0,
        grace_s: 10.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--per-second" {
            a.bucket_s = 1;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => a.addr = v,
            "--path" => a.path = v,
            "--token" => a.token = Some(v),
            "--body" => a.bodies.push(v),
            "--body-file" => a.bodies.push(read(&v)?.trim_end().to_string()),
            "--bodies-file" => a.bodies.extend(
                read(&v)?
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string),
            ),
            "--rate" => a.rate = v.parse().map_err(|e| format!("--rate: {e}"))?,
            "--seconds" => a.seconds = v.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--grace-s" => a.grace_s = v.parse().map_err(|e| format!("--grace-s: {e}"))?,
            "--bucket-s" => a.bucket_s = v.parse().map_err(|e| format!("--bucket-s: {e}"))?,
            "--connections" => {
                a.connections = v.parse().map_err(|e| format!("--connections: {e}"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.bodies.is_empty() {
        return Err("give --body, --body-file or --bodies-file".into());
    }
    a.connections = a.connections.max(1);
    Ok(a)
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// One keep-alive connection: sends a request, reads one whole answer, returns its status.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    async fn open(addr: &str) -> std::io::Result<Self> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(s),
        })
    }

    async fn call(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.reader.get_mut().write_all(request).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.reader.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).await?;
        Ok(status)
    }
}

/// One request of the schedule: fixed bytes, or a body with `{seq}`/`{now}` to fill in.
enum Request {
    Fixed(Vec<u8>),
    Template { head: String, body: String },
}

impl Request {
    fn new(path: &str, addr: &str, auth: &str, body: &str) -> Self {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}"
        );
        if body.contains("{seq}") || body.contains("{now}") {
            Request::Template {
                head,
                body: body.to_string(),
            }
        } else {
            Request::Fixed(Self::bytes(&head, body))
        }
    }

    fn bytes(head: &str, body: &str) -> Vec<u8> {
        format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    fn render(&self, seq: usize) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Request::Fixed(b) => std::borrow::Cow::Borrowed(b),
            Request::Template { head, body } => {
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                let body = body
                    .replace("{seq}", &seq.to_string())
                    .replace("{now}", &now);
                std::borrow::Cow::Owned(Self::bytes(head, &body))
            }
        }
    }
}

/// What one connection measured: (intended send offset µs, latency µs, ok).
type Samples = Vec<(u64, u64, bool)>;

async fn run_connection(
    args: Arc<Args>,
    requests: Arc<Vec<Request>>,
    k: usize,
    start: Instant,
) -> Samples {
    let mut out = Vec::new();
    let end = start + Duration::from_secs_f64(args.seconds);
    let mut conn = Conn::open(&args.addr).await.ok();
    let mut i = k;
    // When this connection's last answer arrived: it is free from then on.
    let mut free_at = start;
    loop {
        let intended = if args.rate > 0.0 {
            start + Duration::from_secs_f64(i as f64 / args.rate)
        } else {
            Instant::now()
        };
        if intended >= end {
            break;
        }
        if Instant::now() >= end + Duration::from_secs_f64(args.grace_s) {
            // The server fell so far behind that the run would not end: every slot not
            // sent by now counts as a failed request, sent or not.
            // Its latency is at least how late it already is.
            let late = Instant::now().duration_since(intended).as_micros() as u64;
            out.push((
                intended.duration_since(start).as_micros() as u64,
                late,
                false,
            ));
            i += args.connections;
            continue;
        }
        if intended > Instant::now() {
            tokio::time::sleep_until(intended.into()).await;
        }
        let sent = Instant::now();
        // A connection still busy at the intended instant was held up by the server: the
        // request's latency counts from the intended instant (no coordinated omission). A
        // connection that was free then could have sent on time; what lies between the
        // intended instant and the send is the generator's own timer (tokio's has a
        // millisecond's grain), not the server's, and is left out.
        let from = if free_at > intended { intended } else { sent };
        let request = requests[i % requests.len()].render(i);
        let ok = match conn.as_mut() {
            Some(c) => matches!(c.call(&request).await, Ok(s) if (200..300).contains(&s)),
            None => false,
        };
        if !ok {
            // A broken connection is reopened for the next request.
            conn = Conn::open(&args.addr).await.ok();
        }
        let done = Instant::now();
        free_at = done;
        out.push((
            intended.duration_since(start).as_micros() as u64,
            done.duration_since(from).as_micros() as u64,
            ok,
        ));
        i += args.connections;
    }
    out
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("fixed_rate: {e}");
            std::process::exit(2);
        }
    };
    let auth = args
        .token
        .as_ref()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let requests: Arc<Vec<Request>> = Arc::new(
        args.bodies
            .iter()
            .map(|b| Request::new(&args.path, &args.addr, &auth, b))
            .collect(),
    );
    let start = Instant::now() + Duration::from_millis(50);
    let tasks: Vec<_> = (0..args.connections)
        .map(|k| tokio::spawn(run_connection(args.clone(), requests.clone(), k, start)))
        .collect();
    let mut samples: Samples = Vec::new();
    for t in tasks {
        if let Ok(s) = t.await {
            samples.extend(s);
        }
    }
    let elapsed = samples
        .iter()
        .map(|(at, lat, _)| at + lat)
        .max()
        .unwrap_or(0) as f64
        / 1e6;
    let errors = samples.iter().filter(|s| !s.2).count();
    if args.bucket_s > 0 {
        let width = args.bucket_s * 1_000_000;
        let buckets = (args.seconds.ceil() as u64).div_ceil(args.bucket_s).max(1) as usize;
        let mut per: Vec<(Vec<u64>, usize)> = vec![(Vec::new(), 0); buckets];
        for (at, lat, ok) in &samples {
            if let Some((v, errors)) = per.get_mut((*at / width) as usize) {
                v.push(*lat);
                *errors += usize::from(!ok);
            }
        }
        for (b, (mut v, errors)) in per.into_iter().enumerate() {
            v.sort_unstable();
            println!(
                "{{\"bucket\":{b},\"from_s\":{},\"count\":{},\"errors\":{errors},\"p50_us\":{},\"p99_us\":{}}}",
                b as u64 * args.bucket_s,
                v.len(),
                percentile(&v, 50.0),
                percentile(&v, 99.0)
            );
        }
    }
    let mut lat: Vec<u64> = samples.iter().map(|s| s.1).collect();
    lat.sort_unstable();
    println!(
        "{{\"offered_rps\":{},\"achieved_rps\":{:.0},\"count\":{},\"errors\":{errors},\"connections\":{},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}",
        args.rate,
        lat.len() as f64 / elapsed.max(1e-9),
        lat.len(),
        args.connections,
        percentile(&lat, 50.0),
        percentile(&lat, 90.0),
        percentile(&lat, 99.0),
        percentile(&lat, 99.9),
        lat.last().copied().unwrap_or(0),
    );
}
