//! `tessera erase` as a user runs it: an entity of a batch source (materialised into the
//! embedded online store) and of a stream source's offline log disappears from every tier,
//! `--verify` proves it at the byte level and finds a planted copy, and a run killed
//! mid-erasure (fault injection) completes when run again.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::{fails, ok, s, tessera};

const SECRET_KEY: &str = "c-secret-1701";
const SECRET_VALUE: &str = "artisanal-kombucha-secret";
const SECRET_PAGE: &str = "page-only-the-secret-visits";

const STREAM: &str = r#"
  - name: clicks
    type: stream
    path: data/clicks
    timestamp_field: ts
    stream:
      schema: { customer_id: string, page: string }
"#;

/// A minimal repository whose customer `c-secret-1701` is in the CSV source, the online
/// store (materialised) and the offline log of a stream source.
fn repo(dir: &Path) -> String {
    repo_with(dir, None)
}

/// [`repo`], with the online store in Redis under a project of its own when `redis` names one.
fn repo_with(dir: &Path, redis: Option<&str>) -> String {
    let r = s(dir).to_string();
    ok(&["init", &r]);
    if let Some(project) = redis {
        let cfg = dir.join("tessera.yaml");
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("project: my_features", &format!("project: {project}"))
            .replace(
                "online_store: { type: embedded, path: .tessera/online }",
                "online_store: { type: redis, url: redis://127.0.0.1:6379/0 }",
            );
        assert!(text.contains("type: redis"), "{text}");
        std::fs::write(cfg, text).unwrap();
    }
    std::fs::write(
        dir.join("data/customer_stats.csv"),
        format!("customer_id,event_timestamp,orders_7d,spend_7d,favourite_category\nc1,2026-12-03T00:00:00Z,3,40.50,garden\n{SECRET_KEY},2026-12-03T00:00:00Z,6,87.00,{SECRET_VALUE}\nc3,2026-12-03T00:00:00Z,2,31.00,toys\n"),
    )
    .unwrap();
    let defs = dir.join("features/customers.yaml");
    let text = std::fs::read_to_string(&defs).unwrap();
    let text = text.replacen("\nfeature_views:", &format!("{STREAM}\nfeature_views:"), 1);
    std::fs::write(&defs, text).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("customer_id", DataType::Utf8, true),
        Field::new("page", DataType::Utf8, true),
    ]));
    std::fs::create_dir_all(dir.join("data/clicks")).unwrap();
    for seq in 0..3 {
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(
                    TimestampMicrosecondArray::from(vec![1_780_000_000_000_000 + seq; 3])
                        .with_timezone("UTC"),
                ),
                Arc::new(StringArray::from(vec!["c1", SECRET_KEY, "c3"])),
                Arc::new(StringArray::from(vec!["home", SECRET_PAGE, "cart"])),
            ],
        )
        .unwrap();
        let p = dir.join(format!("data/clicks/part-clicks-{seq:012}.parquet"));
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(p).unwrap(),
            schema.clone(),
            None,
        )
        .unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
    }
    let text = std::fs::read_to_string(&defs).unwrap().replacen(
        "\nconsumers:\n",
        "\nconsumers:\n  - { name: privacy_officer, token_env: TESSERA_TOKEN_PRIVACY, purposes: [personalization], erase: true }\n",
        1,
    );
    std::fs::write(&defs, text).unwrap();
    ok(&["apply", "--repo", &r]);
    ok(&[
        "materialize",
        "--repo",
        &r,
        "--start",
        "2000-01-01",
        "--end",
        "2100-01-01",
        "--quiet",
    ]);
    r
}

fn get(r: &str) -> String {
    ok(&[
        "get",
        "--repo",
        r,
        "--entity",
        &format!("customer_id={SECRET_KEY}"),
        "--features",
        "customer_stats:favourite_category",
        "--purpose",
        "personalization",
    ])
}

#[test]
fn erase_removes_every_copy_and_verify_proves_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("repo");
    let r = repo(&dir);
    assert!(get(&r).contains(SECRET_VALUE), "{}", get(&r));

    let entity = format!("customer_id={SECRET_KEY}");
    let out = ok(&[
        "erase",
        "--repo",
        &r,
        "--entity",
        &entity,
        "--rewrite-sources",
        "--verify",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tier = |name: &str| {
        report["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tier"] == name)
            .unwrap_or_else(|| panic!("no tier {name}: {out}"))
            .clone()
    };
    assert!(
        tier("online")["rows_removed"].as_u64().unwrap() >= 1,
        "{out}"
    );
    assert_eq!(tier("offline_log")["rows_removed"], 3, "{out}");
    assert_eq!(tier("offline_log")["files_rewritten"], 3, "{out}");
    assert_eq!(tier("sources")["rows_removed"], 1, "{out}");
    assert_eq!(report["verify"]["clean"], true, "{out}");
    assert!(
        report["verify"]["needles"].as_u64().unwrap() >= 3,
        "the key and both string values are looked for: {out}"
    );
    assert!(
        !out.contains(SECRET_KEY) && !out.contains(SECRET_VALUE),
        "the report holds no clear key or value"
    );
    // Nothing left online; the other customers are still there.
    let after = get(&r);
    assert!(
        after.contains("missing") && !after.contains(SECRET_VALUE),
        "{after}"
    );
    let other = ok(&[
        "get",
        "--repo",
        &r,
        "--entity",
        "customer_id=c3",
        "--features",
        "customer_stats:favourite_category",
        "--purpose",
        "personalization",
    ]);
    assert!(other.contains("toys"), "{other}");
    let csv = std::fs::read_to_string(dir.join("data/customer_stats.csv")).unwrap();
    assert!(!csv.contains(SECRET_KEY) && csv.contains("c3"), "{csv}");

    // The other direction: a copy planted in a managed file is found, and the run fails.
    std::fs::write(
        dir.join(".tessera/planted.bin"),
        format!("xx{SECRET_KEY}yy"),
    )
    .unwrap();
    let out = tessera(&["erase", "--repo", &r, "--entity", &entity, "--verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("planted.bin") && stdout.contains("key (text) at byte 2"),
        "{stdout}"
    );
}

#[test]
fn an_erasure_killed_after_a_tier_completes_when_run_again() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("repo");
    let r = repo(&dir);
    let entity = format!("customer_id={SECRET_KEY}");
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["erase", "--repo", &r, "--entity", &entity])
        .env("TESSERA_FAULT_ERASE_AFTER_TIER", "online")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the process was aborted");
    // The journal holds keyed hashes only, and says what is left.
    let journals = dir.join(".tessera/erasure/journal");
    for e in std::fs::read_dir(&journals).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        assert!(!text.contains(SECRET_KEY), "{text}");
    }
    let pending = ok(&["erase", "--repo", &r]);
    assert!(
        pending.contains("unfinished") && pending.contains("tombstone, online"),
        "{pending}"
    );
    // The log still holds the entity; the rerun finishes the job.
    let out = ok(&[
        "erase", "--repo", &r, "--entity", &entity, "--verify", "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["resumed"], true, "{out}");
    let offline = report["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == "offline_log")
        .unwrap()
        .clone();
    assert_eq!(offline["rows_removed"], 3, "{out}");
    assert_eq!(report["verify"]["clean"], true, "{out}");
    assert!(ok(&["erase", "--repo", &r]).contains("No unfinished erasure"));
    // Without --rewrite-sources the CSV (not Tessera's) keeps its row, and says so ...
    assert!(out.contains("--rewrite-sources"), "{out}");
    let csv = std::fs::read_to_string(dir.join("data/customer_stats.csv")).unwrap();
    assert!(csv.contains(SECRET_KEY));
    // ... but the tombstone keeps it out of every later read: materialising again does
    // not bring it back online, and a training set drops its spine rows.
    ok(&[
        "materialize",
        "--repo",
        &r,
        "--start",
        "2000-01-01",
        "--end",
        "2100-01-01",
        "--quiet",
    ]);
    let after = get(&r);
    assert!(
        after.contains("missing") && !after.contains(SECRET_VALUE),
        "{after}"
    );
    let spine = dir.join("spine.csv");
    std::fs::write(
        &spine,
        format!("customer_id,event_timestamp,label\nc1,2026-12-04T00:00:00Z,1\n{SECRET_KEY},2026-12-04T00:00:00Z,0\nc3,2026-12-04T00:00:00Z,1\n"),
    )
    .unwrap();
    let out_file = dir.join("train.parquet");
    let t = ok(&[
        "training-set",
        "--repo",
        &r,
        "--spine",
        s(&spine),
        "--service",
        "my_model_v1",
        "--out",
        s(&out_file),
    ]);
    assert!(t.contains("Wrote 2 rows"), "{t}");
    let bytes = std::fs::read(&out_file).unwrap();
    assert!(
        !bytes
            .windows(SECRET_VALUE.len())
            .any(|w| w == SECRET_VALUE.as_bytes()),
        "the training set holds no value of the erased entity"
    );
    assert!(fails(&["erase", "--repo", &r, "--entity", "customer_id"]).contains("join_key=value"));
}

const APP_TOKEN: &str = "erase-test-app-token-0123456789";
const PRIVACY_TOKEN: &str = "erase-test-privacy-token-0123456789";

fn post(addr: std::net::SocketAddr, path: &str, token: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        c,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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

#[test]
fn the_running_server_erases_through_its_own_stores() {
    use std::io::BufRead;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("repo");
    let r = repo(&dir);
    // A consent history of the entity (and of another one) in the repository's log.
    let hasher = tessera_core::EntityHasher::for_repo(&dir).unwrap();
    let consent_log = dir.join(tessera_consent::CONSENT_LOG);
    std::fs::create_dir_all(consent_log.parent().unwrap()).unwrap();
    let line = |who: &str| {
        format!(
            "{{\"entity\":\"{}\",\"purpose\":\"personalization\",\"state\":\"granted\",\"at_us\":1767225600000000,\"at\":\"2026-01-01T00:00:00Z\",\"recorded_us\":1767225600000000}}\n",
            hasher.digest(&[("customer_id", who)])
        )
    };
    std::fs::write(&consent_log, line(SECRET_KEY) + &line("c1")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--repo", &r, "--addr", "127.0.0.1:0"])
        .env("TESSERA_TOKEN_MY_APP", APP_TOKEN)
        .env("TESSERA_TOKEN_PRIVACY", PRIVACY_TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr: std::net::SocketAddr = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = line.split("on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    // While the server runs, the CLI refuses and points to the route.
    let entity = format!("customer_id={SECRET_KEY}");
    let e = fails(&["erase", "--repo", &r, "--entity", &entity]);
    assert!(e.contains("POST /v1/erase"), "{e}");

    let body = format!(r#"{{"entities": {{"customer_id": ["{SECRET_KEY}"]}}}}"#);
    let (status, answer) = post(addr, "/v1/erase", APP_TOKEN, &body);
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("erase: true"), "{answer}");
    let (status, answer) = post(
        addr,
        "/v1/erase",
        PRIVACY_TOKEN,
        r#"{"entities": {"customer_id": []}}"#,
    );
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = post(addr, "/v1/erase", PRIVACY_TOKEN, &body);
    assert_eq!(status, 200, "{answer}");
    assert!(!answer.contains(SECRET_KEY), "{answer}");
    let report: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let tier = |name: &str| {
        report["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tier"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no tier {name}: {answer}"))
    };
    assert_eq!(tier("offline_log")["rows_removed"], 3, "{answer}");
    assert_eq!(tier("consent")["lines_removed"], 1, "{answer}");
    let left = std::fs::read_to_string(&consent_log).unwrap();
    assert_eq!(left, line("c1"), "only the other entity's history stays");
    assert!(
        tier("online")["rows_removed"].as_u64().unwrap() >= 1,
        "{answer}"
    );
    // The server reads it as gone at once.
    let (status, answer) = post(
        addr,
        "/v1/features",
        APP_TOKEN,
        &format!(
            r#"{{"features": ["customer_stats:favourite_category"], "entities": {{"customer_id": ["{SECRET_KEY}"]}}}}"#
        ),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(!answer.contains(SECRET_VALUE), "{answer}");
    assert!(
        answer.contains("\"erased\""),
        "read as erased, not missing: {answer}"
    );
    assert!(!answer.contains("\"missing\""), "{answer}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    // With the server stopped, the same erasure finishes what a live server cannot
    // (compaction), and the bytes prove it; the audit log names it by keyed hash only.
    let out = ok(&[
        "erase", "--repo", &r, "--entity", &entity, "--verify", "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["resumed"], true, "{out}");
    assert_eq!(report["verify"]["clean"], true, "{out}");
    let audit = ok(&[
        "audit", "query", "--repo", &r, "--action", "erase", "--json",
    ]);
    assert!(
        audit.contains("privacy_officer") && !audit.contains(SECRET_KEY),
        "{audit}"
    );
}

#[test]
fn erase_from_the_redis_store() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("repo");
    let project = format!("erase_test_{}", std::process::id());
    let r = repo_with(&dir, Some(&project));
    assert!(get(&r).contains(SECRET_VALUE), "{}", get(&r));
    let entity = format!("customer_id={SECRET_KEY}");
    let out = ok(&[
        "erase", "--repo", &r, "--entity", &entity, "--verify", "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let online = report["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == "online")
        .unwrap()
        .clone();
    assert_eq!(online["store"], "redis", "{out}");
    assert!(online["rows_removed"].as_u64().unwrap() >= 1, "{out}");
    assert_eq!(report["verify"]["clean"], true, "{out}");
    let after = get(&r);
    assert!(
        after.contains("missing") && !after.contains(SECRET_VALUE),
        "{after}"
    );
    // The other customers stay in Redis.
    let other = ok(&[
        "get",
        "--repo",
        &r,
        "--entity",
        "customer_id=c3",
        "--features",
        "customer_stats:favourite_category",
        "--purpose",
        "personalization",
    ]);
    assert!(other.contains("toys"), "{other}");
    // Leave the shared Redis as it was: this project's keys go (best effort).
    let keys = Command::new("redis-cli")
        .args(["--scan", "--pattern", &format!("tessera:{project}:*")])
        .output();
    if let Ok(keys) = keys {
        for k in String::from_utf8_lossy(&keys.stdout).lines() {
            let _ = Command::new("redis-cli").args(["del", k]).output();
        }
    }
}

/// Regression: on the media template, redb's compaction kept a freed page with the erased
/// user's row inside the file, and `--verify` found the key. The online tier now looks for
/// the key after compacting and rebuilds the store as a fresh copy when it is there; values
/// the user shares with other users' live rows (a genre) are not evidence.
#[test]
fn erase_verifies_clean_on_the_media_template() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("media");
    let r = s(&repo);
    ok(&["init", "--template", "media", r]);
    ok(&["apply", "--repo", r]);
    ok(&[
        "materialize",
        "--repo",
        r,
        "--start",
        "2020-01-01",
        "--end",
        "2030-01-01",
        "--quiet",
    ]);
    for user in ["7", "8", "12"] {
        let out = ok(&[
            "erase",
            "--repo",
            r,
            "--entity",
            &format!("user_id={user}"),
            "--verify",
        ]);
        assert!(out.contains("nothing found"), "user {user}: {out}");
    }
}
