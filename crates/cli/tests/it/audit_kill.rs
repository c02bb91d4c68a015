//! kill -9 of `tessera serve` during reads and pushes: every read and push answered 200 has
//! its audit record, and every event of a push answered 200 is in the source's offline log
//! exactly once — right after the kill, and again after a restart (no loss, no double count).
//!
//! Each read asks for a number of entities no other read of the trial asks for, and each
//! push carries a number of events no other push carries; the audit record keeps that
//! number (`rows`), so every answered request can be looked up. The server is killed with
//! SIGKILL at a pseudo-random instant while four clients read and one pushes.
//! `KILL_AUDIT_TRIALS` sets the number of trials (default 3); `bench/kill_audit.sh` runs
//! this test with more.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{ok, s};

const RANKER: &str = "cli-kill-ranker-token-0123456789";
const PLAYER_APP: &str = "cli-kill-player-app-token-0123456789";

/// Starts `tessera serve` with room for large reads; returns the child and its address.
fn serve(repo: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "serve",
            "--repo",
            repo,
            "--addr",
            "127.0.0.1:0",
            "--max-entities",
            "1000000",
        ])
        .env("TESSERA_TOKEN_RANKER", RANKER)
        .env("TESSERA_TOKEN_PLAYER_APP", PLAYER_APP)
        .env_remove("TESSERA_TOKEN_DASHBOARD")
        .env_remove("TESSERA_TOKEN_TRAINER")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = line.split("on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

/// One read of `n` entities; `Some(status)` if a whole response came back, `None` if the
/// connection failed (the server is gone).
fn read(addr: SocketAddr, n: u64) -> Option<u16> {
    let ids = vec!["1"; n as usize].join(",");
    let body = format!(r#"{{"features":["item_content:genre"],"entities":{{"item_id":[{ids}]}}}}"#);
    post(addr, "/get-online-features", RANKER, &body)
}

/// One push of `n` play events (ids unique to the trial and the push).
fn push(addr: SocketAddr, trial: usize, n: u64) -> Option<u16> {
    let events: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"user_id":1,"item_id":{i},"action":"play","dwell_s":1.0,"ts":"2026-01-01T00:00:00Z","event_id":"k{trial}-{n}-{i}"}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"source":"live_plays","events":[{}]}}"#,
        events.join(",")
    );
    post(addr, "/v1/push", PLAYER_APP, &body)
}

fn post(addr: SocketAddr, path: &str, token: &str, body: &str) -> Option<u16> {
    let mut c = TcpStream::connect(addr).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    write!(
        c,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut resp = Vec::new();
    c.read_to_end(&mut resp).ok()?;
    let resp = String::from_utf8_lossy(&resp);
    let (head, payload) = resp.split_once("\r\n\r\n")?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    // A response counts only if it arrived whole (the body is JSON that parses).
    serde_json::from_str::<serde_json::Value>(payload).ok()?;
    Some(status)
}

/// Every `event_id` in the Parquet files of an offline log directory (top level).
fn log_event_ids(dir: &std::path::Path) -> Vec<String> {
    let mut ids = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return ids;
    };
    for e in entries.flatten() {
        if e.path().extension().is_none_or(|x| x != "parquet") {
            continue;
        }
        let f = std::fs::File::open(e.path()).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let col = batch
                .column_by_name("event_id")
                .expect("an event_id column");
            let col = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8).unwrap();
            let col = col
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap();
            ids.extend(col.iter().flatten().map(str::to_string));
        }
    }
    ids
}

/// Checks that the log holds each acknowledged event exactly once; returns how many.
fn check_pushed_events(dir: &std::path::Path, acknowledged: &[String], when: &str) -> usize {
    let mut counts = std::collections::HashMap::new();
    for id in log_event_ids(dir) {
        *counts.entry(id).or_insert(0usize) += 1;
    }
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    let doubled: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        lost.is_empty(),
        "{when}: {} acknowledged events not in the offline log, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(
        doubled.is_empty(),
        "{when}: events in the offline log more than once, e.g. {:?}",
        &doubled[..doubled.len().min(5)]
    );
    acknowledged.len()
}

/// A pseudo-random number in `0..n` (the clock's nanoseconds, mixed).
fn random_below(n: u64) -> u64 {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    t.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) % n
}

#[test]
fn kill_9_during_reads_loses_no_audit_record_of_an_answered_read() {
    let trials: usize = std::env::var("KILL_AUDIT_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(3);
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    ok(&["init", "--template", "media", r]);
    ok(&["apply", "--repo", r]);
    let audit_dir = repo.join(".tessera/audit");
    let log_dir = repo.join("data/live_plays");
    let mut acknowledged_events: Vec<String> = Vec::new();
    let (mut answered_total, mut missing_total) = (0usize, 0usize);
    for trial in 0..trials {
        let (mut server, addr) = serve(r);
        let next = Arc::new(AtomicU64::new(1));
        let answered = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let (next, answered, stop) = (next.clone(), answered.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        match read(addr, n) {
                            Some(200) => answered.lock().unwrap().push(n),
                            Some(other) => panic!("read of {n} entities answered {other}"),
                            None => return,
                        }
                    }
                })
            })
            .collect();
        let pushed = Arc::new(Mutex::new(Vec::new()));
        let pusher = {
            let (pushed, stop) = (pushed.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 1;
                while !stop.load(Ordering::Relaxed) {
                    match push(addr, trial, n) {
                        Some(200) => pushed.lock().unwrap().push(n),
                        Some(other) => panic!("push of {n} events answered {other}"),
                        None => return,
                    }
                    n += 1;
                }
            })
        };
        std::thread::sleep(Duration::from_millis(50 + random_below(400)));
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        pusher.join().unwrap();
        for n in pushed.lock().unwrap().iter() {
            acknowledged_events.extend((0..*n).map(|i| format!("k{trial}-{n}-{i}")));
        }
        let events = check_pushed_events(&log_dir, &acknowledged_events, "after the kill");
        eprintln!("trial {trial}: {events} acknowledged events so far, each in the log once");
        for (action, answered) in [("online_read", &answered), ("online_write", &pushed)] {
            let answered = answered.lock().unwrap().clone();
            let out = ok(&["audit", "query", "--repo", r, "--action", action, "--json"]);
            let audited: BTreeSet<u64> = out
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["rows"].as_u64().unwrap()
                })
                .collect();
            let missing: Vec<u64> = answered
                .iter()
                .copied()
                .filter(|n| !audited.contains(n))
                .collect();
            eprintln!(
                "trial {trial}: {action}: {} answered, {} audited, {} answered without a record",
                answered.len(),
                audited.len(),
                missing.len()
            );
            answered_total += answered.len();
            missing_total += missing.len();
            assert!(
                missing.is_empty(),
                "trial {trial}: {action}: answered without an audit record (rows): {missing:?}"
            );
        }
        std::fs::remove_dir_all(&audit_dir).unwrap();
    }
    eprintln!(
        "{trials} trials: {answered_total} answered reads and pushes, {missing_total} without a record"
    );
    assert!(answered_total > 0, "nothing was answered before the kills");
    // A restart (which replays what the last kill left) keeps every event exactly once.
    let (mut server, addr) = serve(r);
    assert_eq!(read(addr, 1), Some(200), "the restarted server answers");
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
    check_pushed_events(&log_dir, &acknowledged_events, "after a restart");
}
