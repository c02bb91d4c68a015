//! What crosses the wire between a simulated device and a real `tessera serve`: a TCP
//! proxy (`tessera_edge::wire_capture`) forwards and records every byte both ways. No device-only feature
//! name, value or context field may appear in it, and the device asks only for the cloud
//! features of its read.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tessera_edge::wire_capture::CaptureProxy;
use tessera_edge::{Device, Event, RequestContext, Status};
use tessera_online::{KeyValue, Value};

use super::fixtures::{config, now_us, CLOUD_DEFINITIONS, DEVICE_DEFINITIONS};

pub(crate) const TOKEN: &str = "wire-test-player-app-token-0123456789";

/// The `tessera` binary: `$TESSERA_BIN`, or next to this test's target directory (built
/// with `cargo build -p tessera-cli --bin tessera` when missing).
pub(crate) fn tessera_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TESSERA_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>/deps/it-… → target/<profile>
    let bin = dir.join("tessera");
    if !bin.exists() {
        let release = dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
        cmd.args(["build", "-q", "-p", "tessera-cli", "--bin", "tessera"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().unwrap();
        assert!(status.success(), "building the tessera binary failed");
    }
    bin
}

pub(crate) fn run(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tessera {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Kills the server when the test ends, however it ends.
pub(crate) struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn start_server(bin: &Path, repo: &str) -> (Server, SocketAddr) {
    let mut child = Command::new(bin)
        .args(["serve", "--repo", repo, "--addr", "127.0.0.1:0"])
        .env("TESSERA_TOKEN_PLAYER_APP", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
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
    (server, addr)
}

fn day(offset_days: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::days(offset_days);
    t.format("%Y-%m-%dT00:00:00Z").to_string()
}

#[test]
fn device_only_data_never_crosses_the_wire() {
    let bin = tessera_bin();
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    std::fs::create_dir_all(repo.join("features")).unwrap();
    std::fs::create_dir_all(repo.join("data")).unwrap();
    std::fs::write(
        repo.join("tessera.yaml"),
        "project: wire\nregistry: .tessera/registry\noffline_store: { path: data/offline }\nonline_store: { type: embedded, path: .tessera/online }\naudit_log: .tessera/audit\n",
    )
    .unwrap();
    std::fs::write(repo.join("features/cloud.yaml"), CLOUD_DEFINITIONS).unwrap();
    std::fs::write(
        repo.join("data/user_daily.csv"),
        format!(
            "user_id,event_timestamp,plays_1d,top_genre_1d\n7,{},11,jazz\n7,{},13,funk\n8,{},5,pop\n",
            day(2),
            day(1),
            day(1)
        ),
    )
    .unwrap();
    std::fs::write(
        repo.join("data/items.csv"),
        format!(
            "item_id,added_at,genre,duration_s\n4242,{},ambient,215\n",
            day(30)
        ),
    )
    .unwrap();
    let r = repo.to_str().unwrap();
    run(&bin, &["apply", "--repo", r]);
    run(
        &bin,
        &["materialize", "--repo", r, "--incremental", "--quiet"],
    );
    let (server, addr) = start_server(&bin, r);
    // The device ships its own definitions next to the registered cloud ones; the server
    // serves its registered version and never sees them.
    std::fs::write(repo.join("features/device.yaml"), DEVICE_DEFINITIONS).unwrap();

    let proxy = CaptureProxy::start(addr).unwrap();
    let catalog = tessera_edge::catalog_from_repo(&repo).unwrap();
    let mut cfg = config(Some(proxy.url()));
    cfg.token = Some(TOKEN.into());
    cfg.remote_timeout = Duration::from_secs(5);
    let device = Device::open(&d.path().join("device"), catalog, cfg).unwrap();

    // Device signals with values that must never be seen on the wire.
    let now = now_us();
    device
        .record(
            "device_plays",
            vec![
                Event::at_micros(now - 60_000_000)
                    .with("user_id", 7)
                    .with("item_id", 9_191_919)
                    .with("dwell_s", 987_654)
                    .with("action", "play")
                    .with("genre", "zzsecretgenre"),
                Event::at_micros(now - 30_000_000)
                    .with("user_id", 7)
                    .with("item_id", 9_292_929)
                    .with("dwell_s", 123_457)
                    .with("action", "skip")
                    .with("genre", "zzsecretgenre"),
            ],
        )
        .unwrap();
    device
        .record(
            "device_context",
            vec![Event::at_micros(now - 1_000_000)
                .with("user_id", 7)
                .with("locale", "xx-SECRETLOCALE")
                .with("network", "secretnet-5g")],
        )
        .unwrap();
    let mut context = RequestContext::new();
    context.insert(
        "session_secret_field".into(),
        Value::String("ctx-SECRET-VALUE".into()),
    );
    let features = [
        "recent_plays:count_1h",
        "user_activity:plays_1d",
        "recent_plays:dwell_s_sum_1d",
        "session_context:locale",
        "recent_plays:item_id_last5_1d",
        "item_content:genre",
        "session_context:network",
        "user_activity:top_genre_1d",
        "recent_plays:genre_count_distinct_1d",
    ];
    let got = device
        .get(
            &features,
            &[
                ("user_id", vec![KeyValue::Int64(7)]),
                ("item_id", vec![KeyValue::Int64(4242)]),
            ],
            &context,
        )
        .unwrap();
    let val = |f: &str| {
        let v = got.get(f, 0).unwrap();
        assert!(matches!(v.status, Status::Present), "{f}: {v:?}");
        v.value.clone()
    };
    // Device values, computed on the device.
    assert_eq!(val("recent_plays:count_1h"), Value::Int64(2));
    assert_eq!(
        val("recent_plays:dwell_s_sum_1d"),
        Value::Int64(987_654 + 123_457)
    );
    assert_eq!(
        val("session_context:locale"),
        Value::String("xx-SECRETLOCALE".into())
    );
    assert_eq!(
        val("recent_plays:item_id_last5_1d"),
        Value::List(vec![Value::Int64(9_292_929), Value::Int64(9_191_919)])
    );
    // Cloud values, from the real server's online store.
    assert_eq!(val("user_activity:plays_1d"), Value::Int64(13));
    assert_eq!(
        val("user_activity:top_genre_1d"),
        Value::String("funk".into())
    );
    assert_eq!(val("item_content:genre"), Value::String("ambient".into()));
    // Again: fresh in the cache, no second request.
    device
        .get(
            &features,
            &[
                ("user_id", vec![KeyValue::Int64(7)]),
                ("item_id", vec![KeyValue::Int64(4242)]),
            ],
            &context,
        )
        .unwrap();
    assert_eq!(device.cloud_calls(), 1);
    drop(server);

    let (up, down) = proxy.capture().text();
    assert!(
        up.contains("POST /v1/features") && down.contains("200 OK"),
        "{up}\n{down}"
    );
    for secret in [
        "recent_plays",
        "session_context",
        "device_plays",
        "device_context",
        "count_1h",
        "locale",
        "network",
        "dwell",
        "last5",
        "SECRET",
        "secret",
        "987654",
        "123457",
        "9191919",
        "9292929",
        "1111111",
        "session_secret_field",
        "ctx-",
    ] {
        assert!(!up.contains(secret), "`{secret}` went to the cloud:\n{up}");
        assert!(
            !down.contains(secret),
            "`{secret}` came back from the cloud:\n{down}"
        );
    }
    // Exactly the cloud features of the read, in request order, and only their join keys.
    let body_start = up.find("\r\n\r\n").unwrap() + 4;
    let body: serde_json::Value = serde_json::from_str(&up[body_start..]).unwrap();
    assert_eq!(
        body["features"],
        serde_json::json!([
            "user_activity:plays_1d",
            "item_content:genre",
            "user_activity:top_genre_1d"
        ])
    );
    assert_eq!(
        body["entities"],
        serde_json::json!({"item_id": [4242], "user_id": [7]})
    );
    assert_eq!(up.matches("POST ").count(), 1, "{up}");
}
