//! `tessera materialize`, `get` and `serve` as a user runs them: a real server process on a
//! loopback port, real HTTP, SIGTERM, and the audit log afterwards.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{fails, ok, s};

const RANKER: &str = "cli-test-ranker-token-0123456789";
const DASHBOARD: &str = "cli-test-dashboard-token-0123456789";

/// Sends one HTTP/1.1 request (`Connection: close`) and returns (status, body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Starts `tessera serve` on a free port; returns the child and its address (read from the
/// line it prints once listening).
fn start_server(repo: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--repo", repo, "--addr", "127.0.0.1:0"])
        .env("TESSERA_TOKEN_RANKER", RANKER)
        .env("TESSERA_TOKEN_DASHBOARD", DASHBOARD)
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
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

#[test]
fn materialize_get_serve_and_sigterm() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    ok(&["init", "--template", "media", r]);
    // Nothing registered: materialize says what to do.
    assert!(fails(&["materialize", "--repo", r, "--incremental"]).contains("tessera apply"));
    ok(&["apply", "--repo", r]);
    assert!(fails(&["materialize", "--repo", r]).contains("--start"));
    assert!(fails(&[
        "materialize",
        "--repo",
        r,
        "--start",
        "yesterday",
        "--end",
        "2026-01-01"
    ])
    .contains("not a time"));

    let first = ok(&["materialize", "--repo", r, "--incremental", "--quiet"]);
    assert!(
        first.contains("user_activity") && first.contains("written"),
        "{first}"
    );
    // Idempotent: a second full run over the same range writes nothing new.
    let again = ok(&[
        "materialize",
        "--repo",
        r,
        "--start",
        "2000-01-01",
        "--end",
        "2100-01-01",
        "--quiet",
    ]);
    assert!(again.contains(" 0 written"), "{again}");

    // `get` goes through the policy gate and the audit log like any read.
    let got = ok(&[
        "get",
        "--repo",
        r,
        "--entity",
        "user_id=1",
        "--entity",
        "user_id=999999",
        "--features",
        "user_activity:plays_1d,user_activity:top_genre_1d",
        "--purpose",
        "ranking",
    ]);
    assert!(got.contains("present") && got.contains("missing"), "{got}");
    let e = fails(&[
        "get",
        "--repo",
        r,
        "--entity",
        "user_id=1",
        "--features",
        "user_activity:plays_1d",
        "--purpose",
        "analytics",
    ]);
    assert!(e.contains("classified `personal`"), "{e}");
    assert!(fails(&[
        "get",
        "--repo",
        r,
        "--entity",
        "user_id=1",
        "--features",
        "user_activity:plays_1d"
    ])
    .contains("--purpose"));
    assert!(fails(&[
        "get",
        "--repo",
        r,
        "--entity",
        "user_id=1",
        "--features",
        "user_activity:nope",
        "--purpose",
        "ranking"
    ])
    .contains("nope"));
    // `--consumer` reads as a declared consumer, without its token (its default purpose
    // applies); the audit record says which local user acted as it.
    let got = ok(&[
        "get",
        "--repo",
        r,
        "--entity",
        "user_id=1",
        "--features",
        "user_activity:plays_1d",
        "--consumer",
        "ranker",
    ]);
    assert!(got.contains("purpose ranking"), "{got}");

    // Serving needs tokens: with none in the environment it refuses to start.
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--repo", r, "--addr", "127.0.0.1:0"])
        .env_remove("TESSERA_TOKEN_RANKER")
        .env_remove("TESSERA_TOKEN_DASHBOARD")
        .env_remove("TESSERA_TOKEN_TRAINER")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TESSERA_TOKEN_"));

    let (server, addr) = start_server(r);
    // Kills the server if an assertion below fails, so no test leaves a process behind.
    struct KillOnDrop(Option<Child>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Some(mut c) = self.0.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let mut guard = KillOnDrop(Some(server));
    assert_eq!(http(addr, "GET", "/health", None, "").0, 200);
    let read = r#"{"features":["user_activity:plays_1d","item_content:genre"],"entities":{"user_id":[1,999999],"item_id":[1,2]}}"#;
    let (status, body) = http(addr, "POST", "/get-online-features", Some(RANKER), read);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = v["metadata"]["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(names, ["user_id", "item_id", "plays_1d", "genre"], "{body}");
    let statuses = &v["results"][2]["statuses"];
    assert_eq!(statuses[1], "NOT_FOUND", "{body}");
    // `item_content` is a content view: not materialised, served from the server's memory.
    assert_eq!(
        v["results"][3]["statuses"],
        serde_json::json!(["PRESENT", "PRESENT"]),
        "{body}"
    );
    assert!(v["results"][3]["values"][0].is_string(), "{body}");
    let (status, body) = http(
        addr,
        "POST",
        "/v1/features?explain=true",
        Some(RANKER),
        r#"{"features":["item_content:genre","user_activity:plays_1d"],"entities":{"item_id":[1],"user_id":[1]}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let plan: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(plan["features"][0]["provider"], "content", "{body}");
    assert_eq!(plan["features"][1]["provider"], "online", "{body}");

    // An on-demand feature from a materialised feature and a request-context field, over
    // the native route and Feast's: `evening_plays_7d` is `plays_7d` times 1.5 from 18:00.
    let plays_at = |hour: i64| {
        let (status, body) = http(
            addr,
            "POST",
            "/v1/features",
            Some(RANKER),
            &format!(
                r#"{{"features":["user_history:plays_7d","user_item_affinity:evening_plays_7d"],"entities":{{"user_id":[1],"item_id":[1]}},"context":{{"hour_of_day":{hour}}}}}"#
            ),
        );
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["features"][1]["statuses"][0], "present", "{body}");
        (
            v["features"][0]["values"][0].as_i64().unwrap(),
            v["features"][1]["values"][0].as_f64().unwrap(),
        )
    };
    let (plays, evening) = plays_at(20);
    assert!(plays > 0, "user 1 has plays in the generated week");
    assert_eq!(evening, plays as f64 * 1.5);
    assert_eq!(plays_at(9), (plays, plays as f64));
    let (status, body) = http(
        addr,
        "POST",
        "/get-online-features",
        Some(RANKER),
        r#"{"features":["user_item_affinity:evening_plays_7d"],"entities":{"user_id":[1],"item_id":[1]},"context":{"hour_of_day":20}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["results"][2]["values"][0], plays as f64 * 1.5, "{body}");
    let (status, body) = http(
        addr,
        "POST",
        "/v1/features",
        Some(RANKER),
        r#"{"features":["user_item_affinity:evening_plays_7d"],"entities":{"user_id":[1],"item_id":[1]}}"#,
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("missing_context"), "{body}");
    assert_eq!(
        http(addr, "POST", "/get-online-features", None, read).0,
        401
    );
    let analytics = r#"{"features":["user_activity:plays_1d","item_content:genre"],"entities":{"user_id":[1],"item_id":[1]},"purpose":"analytics"}"#;
    let (status, body) = http(addr, "POST", "/v1/features", Some(DASHBOARD), analytics);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("user_activity:plays_1d"), "{body}");
    let (status, body) = http(
        addr,
        "POST",
        "/get-online-features",
        Some(RANKER),
        "{not json",
    );
    assert_eq!(status, 400, "{body}");
    let (status, metrics) = http(addr, "GET", "/metrics", None, "");
    assert_eq!(status, 200);
    assert!(metrics.contains("tessera_"), "{metrics}");

    // SIGTERM: a clean exit, and every read is in the audit log.
    let mut server = guard.0.take().unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    let reads = ok(&[
        "audit",
        "query",
        "--repo",
        r,
        "--action",
        "online_read",
        "--json",
    ]);
    let lines: Vec<&str> = reads.lines().collect();
    // get (allow), get (deny), serve: ranker allow, dashboard deny (the 401 and the
    // malformed body never reach the access layer).
    assert!(lines.len() >= 4, "{reads}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"consumer\":\"dashboard\"") && l.contains("deny")),
        "{reads}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\"consumer\":\"local:")),
        "{reads}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"consumer\":\"local:") && l.contains(" as ranker\"")),
        "{reads}"
    );
}
