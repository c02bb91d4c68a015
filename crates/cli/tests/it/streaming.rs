//! `tessera ingest` against the real NATS JetStream server: kill -9 mid-stream, restart, and
//! every published event is counted exactly once — online, and in the offline log.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{ok, s};

const CONFIG: &str = "project: crash\nregistry: .tessera/registry\noffline_store: { path: data/offline }\nonline_store: { type: embedded, path: .tessera/online }\naudit_log: .tessera/audit\n";

fn defs(unique: &str) -> String {
    format!(
        r#"
entities: [{{ name: user, join_keys: [user_id] }}]
sources:
  - name: plays
    type: stream
    path: data/plays
    timestamp_field: ts
    stream:
      schema: {{ user_id: int64, dwell_s: float64, event_id: string }}
      event_id_field: event_id
      allowed_lateness: 1d
      nats: {{ subject: tessera.crash.{unique}, stream: TESSERA_CRASH_{unique}, durable: crash-{unique} }}
feature_views:
  - name: user_plays
    entities: [user]
    source: plays
    classification: internal
    aggregations:
      - {{ function: count, windows: [lifetime, 1d] }}
      - {{ column: dwell_s, function: sum, windows: [lifetime] }}
purposes: [{{ name: ranking, allows: [internal] }}]
"#
    )
}

fn ingest(repo: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["ingest", "--repo", repo, "--report-every", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn log_rows(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        if e.path().extension().is_some_and(|x| x == "parquet") {
            let Ok(f) = std::fs::File::open(e.path()) else {
                continue;
            };
            use parquet::file::reader::FileReader;
            if let Ok(r) = parquet::file::reader::SerializedFileReader::new(f) {
                n += r.metadata().file_metadata().num_rows() as usize;
            }
        }
    }
    n
}

#[test]
fn kill_9_mid_stream_loses_and_doubles_nothing() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    let unique = format!("c{}", std::process::id());
    std::fs::create_dir_all(repo.join("features")).unwrap();
    std::fs::write(repo.join("tessera.yaml"), CONFIG).unwrap();
    std::fs::write(repo.join("features/defs.yaml"), defs(&unique)).unwrap();
    ok(&["apply", "--repo", r]);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let users = 50i64;
    let total = 30_000usize;
    let mut expected: HashMap<i64, i64> = HashMap::new();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let js = rt.block_on(async {
        let client = async_nats::connect("nats://127.0.0.1:4222")
            .await
            .expect("NATS JetStream not reachable at nats://127.0.0.1:4222: start it with scripts/services.sh");
        let js = async_nats::jetstream::new(client);
        let _ = js.delete_stream(format!("TESSERA_CRASH_{unique}")).await;
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: format!("TESSERA_CRASH_{unique}"),
            subjects: vec![format!("tessera.crash.{unique}")],
            ..Default::default()
        })
        .await
        .unwrap();
        js
    });
    // Publish everything first (acknowledged by JetStream), some events twice.
    rt.block_on(async {
        let mut acks = Vec::new();
        for k in 0..total {
            let u = (k as i64 * 7) % users;
            *expected.entry(u).or_default() += 1;
            let ts = now_us - 3_600_000_000 + k as i64;
            let body = format!(
                r#"{{"user_id": {u}, "dwell_s": 1.0, "event_id": "e{k}", "ts": "{}"}}"#,
                chrono::DateTime::from_timestamp_micros(ts)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            );
            acks.push(
                js.publish(format!("tessera.crash.{unique}"), body.clone().into())
                    .await
                    .unwrap(),
            );
            if k % 97 == 0 {
                acks.push(
                    js.publish(format!("tessera.crash.{unique}"), body.into())
                        .await
                        .unwrap(),
                );
            }
            if acks.len() >= 512 {
                for a in acks.drain(..) {
                    a.await.unwrap();
                }
            }
        }
        for a in acks {
            a.await.unwrap();
        }
    });

    // Start ingesting; kill -9 once part of the stream is in (a fifth, or the fraction
    // KILL_FRACTION: bench/kill_matrix.sh picks it at random).
    let fraction: f64 = std::env::var("KILL_FRACTION")
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or(0.2);
    let kill_at = ((total as f64 * fraction) as usize).clamp(1, total - 1);
    let log_dir = repo.join("data/plays");
    let mut child = ingest(r);
    let t0 = Instant::now();
    while log_rows(&log_dir) < kill_at && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let part = log_rows(&log_dir);
    assert!(
        part > 0 && part < total,
        "killed mid-stream: {part} of {total} in the log"
    );
    Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();

    // Restart and let it drain; then stop it cleanly.
    let mut child = ingest(r);
    let t0 = Instant::now();
    while log_rows(&log_dir) < total && t0.elapsed() < Duration::from_secs(180) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        log_rows(&log_dir),
        total,
        "the offline log holds every event once"
    );

    // Online: every user's lifetime count equals what was published (duplicates excluded).
    let mut entity_args: Vec<String> = Vec::new();
    for u in 0..users {
        entity_args.push("--entity".into());
        entity_args.push(format!("user_id={u}"));
    }
    let mut args: Vec<&str> = vec![
        "get",
        "--repo",
        r,
        "--features",
        "user_plays:count_lifetime",
        "--purpose",
        "ranking",
    ];
    args.extend(entity_args.iter().map(String::as_str));
    let out = ok(&args);
    let mut seen = 0;
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 4 && f[1] == "user_plays:count_lifetime" {
            let u: i64 = f[0].trim_start_matches("user_id=").parse().unwrap();
            let v: i64 = f.last().unwrap().parse().unwrap();
            assert_eq!(v, expected[&u], "user {u}: {out}");
            seen += 1;
        }
    }
    assert_eq!(seen, users as usize, "{out}");
    rt.block_on(async {
        let _ = js.delete_stream(format!("TESSERA_CRASH_{unique}")).await;
    });
}
