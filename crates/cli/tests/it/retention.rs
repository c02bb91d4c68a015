//! `tessera retention apply`, the retention filter of training sets and online reads,
//! `tessera subject-report`, and entity digests in the audit log, through the binary.

use std::path::Path;

use super::{fails, ok, s};

/// RFC 3339 of now minus `secs` seconds.
fn ago(secs: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

const DAY: i64 = 86_400;

/// A minimal repository whose source rows sit around a 30-day boundary, registered with
/// `retention` (or without, to materialise everything first).
fn repo(dir: &Path, retention: Option<&str>, ttl: &str) {
    if !dir.join("tessera.yaml").exists() {
        ok(&["init", s(dir)]);
        let rows = [
            ("subject-inside", ago(30 * DAY - 60)),  // a minute inside
            ("subject-outside", ago(30 * DAY + 60)), // a minute outside
            ("subject-before-1970", "1969-12-31T23:59:59Z".to_string()),
            ("subject-new", ago(DAY)),
        ];
        let mut csv =
            "customer_id,event_timestamp,orders_7d,spend_7d,favourite_category\n".to_string();
        for (k, t) in &rows {
            csv.push_str(&format!("{k},{t},1,2.5,garden\n"));
        }
        std::fs::write(dir.join("data/customer_stats.csv"), csv).unwrap();
        let now = ago(0);
        let mut spine = "customer_id,event_timestamp,label\n".to_string();
        for (k, _) in &rows {
            spine.push_str(&format!("{k},{now},1\n"));
        }
        std::fs::write(dir.join("data/spine.csv"), spine).unwrap();
    }
    let f = dir.join("features/customers.yaml");
    let text = std::fs::read_to_string(&f).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("retention:") {
            continue;
        }
        if line.trim_start().starts_with("ttl:") {
            out.push_str(&format!("    ttl: {ttl}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.trim_start().starts_with("timestamp_field:") {
            if let Some(r) = retention {
                out.push_str(&format!("    retention: {r}\n"));
            }
        }
    }
    std::fs::write(&f, out).unwrap();
}

#[test]
fn retention_deletes_online_rows_and_filters_training_sets() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("repo");
    let r = s(&dir);
    // Everything materialised while nothing declared a retention.
    repo(&dir, None, "100000d");
    ok(&["apply", "--repo", r]);
    ok(&[
        "materialize",
        "--repo",
        r,
        "--start",
        "1960-01-01",
        "--end",
        &ago(0),
        "-q",
    ]);

    // A ttl longer than the retention is refused at plan and apply.
    repo(&dir, Some("30d"), "60d");
    let e = fails(&["apply", "--repo", r]);
    assert!(e.contains("longer than its retention"), "{e}");
    repo(&dir, Some("0s"), "30d");
    assert!(fails(&["plan", "--repo", r]).contains("invalid `retention: 0s`"));
    repo(&dir, Some("30d"), "30d");
    ok(&["apply", "--repo", r]);

    // Before any pass, online reads already never serve the rows past the retention.
    let get = |k: &str| {
        ok(&[
            "get",
            "--repo",
            r,
            "--entity",
            &format!("customer_id='{k}'"),
            "--features",
            "customer_stats:orders_7d",
            "--purpose",
            "personalization",
        ])
    };
    assert!(get("subject-outside").contains("expired"));
    assert!(get("subject-inside").contains("present"));

    // A dry run counts and deletes nothing.
    let dry: serde_json::Value = serde_json::from_str(&ok(&[
        "retention",
        "apply",
        "--repo",
        r,
        "--dry-run",
        "--json",
    ]))
    .unwrap();
    assert_eq!(dry["online_store"][0]["removed_rows"], 2, "{dry}");
    assert!(get("subject-outside").contains("expired"));

    let done: serde_json::Value =
        serde_json::from_str(&ok(&["retention", "apply", "--repo", r, "--json"])).unwrap();
    assert_eq!(done["online_store"][0]["view"], "customer_stats");
    assert_eq!(done["online_store"][0]["removed_rows"], 2, "{done}");
    assert_eq!(done["removed_total"], 2);
    assert!(get("subject-outside").contains("missing"));
    assert!(get("subject-before-1970").contains("missing"));
    assert!(get("subject-inside").contains("present"));
    // A second pass finds nothing.
    let again: serde_json::Value =
        serde_json::from_str(&ok(&["retention", "apply", "--repo", r, "--json"])).unwrap();
    assert_eq!(again["removed_total"], 0);

    // The run is audited.
    let audit = ok(&[
        "audit",
        "query",
        "--repo",
        r,
        "--action",
        "retention",
        "--json",
    ]);
    assert_eq!(audit.lines().count(), 3, "{audit}");
    assert!(audit.contains("online_rows=2"), "{audit}");

    // Training sets never see the rows past the retention, though the CSV still has them.
    let out = dir.join("out.parquet");
    let printed = ok(&[
        "training-set",
        "--repo",
        r,
        "--spine",
        s(&dir.join("data/spine.csv")),
        "--service",
        "my_model_v1",
        "--out",
        s(&out),
    ]);
    assert!(printed.contains("2 of 4 spine rows matched"), "{printed}");
}

#[test]
fn subject_report_and_audit_digests() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("repo");
    let r = s(&dir);
    repo(&dir, Some("30d"), "30d");
    ok(&["apply", "--repo", r]);
    ok(&[
        "materialize",
        "--repo",
        r,
        "--start",
        "1960-01-01",
        "--end",
        &ago(0),
        "-q",
    ]);
    ok(&[
        "get",
        "--repo",
        r,
        "--entity",
        "customer_id='subject-new'",
        "--entity",
        "customer_id='subject-inside'",
        "--service",
        "my_model_v1",
    ]);
    ok(&[
        "training-set",
        "--repo",
        r,
        "--spine",
        s(&dir.join("data/spine.csv")),
        "--service",
        "my_model_v1",
        "--out",
        s(&dir.join("t.parquet")),
    ]);

    // The audit log names the entities only as keyed hashes.
    let mut bytes = Vec::new();
    for e in std::fs::read_dir(dir.join(".tessera/audit")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            bytes.extend(std::fs::read(p).unwrap());
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("\"entities\":["), "{text}");
    assert!(!text.contains("subject-new"), "{text}");
    assert!(!text.contains("subject-inside"), "{text}");

    let report: serde_json::Value = serde_json::from_str(&ok(&[
        "subject-report",
        "--repo",
        r,
        "--entity",
        "customer_id='subject-new'",
        "--json",
    ]))
    .unwrap();
    let online = report["online_store"].as_array().unwrap();
    assert_eq!(online.len(), 1, "{report}");
    assert_eq!(online[0]["view"], "customer_stats");
    assert_eq!(online[0]["values"]["favourite_category"], "\"garden\"");
    let offline = report["offline"].as_array().unwrap();
    assert_eq!(offline[0]["source"], "customer_stats_daily");
    assert_eq!(offline[0]["rows"].as_array().unwrap().len(), 1);
    let reads: Vec<&str> = report["reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["action"].as_str().unwrap())
        .collect();
    assert_eq!(reads, ["online_read", "training_set"], "{report}");

    // An entity never read has no reads; one held nowhere has nothing.
    let none: serde_json::Value = serde_json::from_str(&ok(&[
        "subject-report",
        "--repo",
        r,
        "--entity",
        "customer_id='nobody'",
        "--json",
    ]))
    .unwrap();
    assert!(none["online_store"].as_array().unwrap().is_empty());
    assert!(none["offline"].as_array().unwrap().is_empty());
    assert!(none["reads"].as_array().unwrap().is_empty());
}

#[test]
fn the_server_applies_retention_periodically_through_its_own_store() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("repo");
    let r = s(&dir);
    repo(&dir, None, "100000d");
    ok(&["apply", "--repo", r]);
    ok(&[
        "materialize",
        "--repo",
        r,
        "--start",
        "1960-01-01",
        "--end",
        &ago(0),
        "-q",
    ]);
    repo(&dir, Some("30d"), "30d");
    ok(&["apply", "--repo", r]);
    let mut server = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "serve",
            "--repo",
            r,
            "--addr",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--retention-every",
            "1s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    // The pass logs each run; wait for the first.
    let mut seen = Vec::new();
    let found = loop {
        let Some(Ok(line)) = lines.next() else {
            break false;
        };
        let done = line.contains("retention pass:");
        seen.push(line);
        if done {
            break true;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert!(found, "{}", seen.join("\n"));
    assert!(status.success(), "serve exited with {status}");
    let audit = ok(&[
        "audit",
        "query",
        "--repo",
        r,
        "--action",
        "retention",
        "--json",
    ]);
    let first = audit.lines().next().unwrap_or_default();
    assert!(first.contains("\"consumer\":\"server\""), "{audit}");
    assert!(first.contains("online_rows=2"), "{audit}");
    // The rows are gone from the store the server held.
    let got = ok(&[
        "get",
        "--repo",
        r,
        "--entity",
        "customer_id='subject-outside'",
        "--features",
        "customer_stats:orders_7d",
        "--purpose",
        "personalization",
    ]);
    assert!(got.contains("missing"), "{got}");
}
