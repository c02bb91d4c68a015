//! Consent from the command line: one consent history (grant at t1, withdraw at t2,
//! re-grant at t3, imported from a file) applied online (`tessera get`: consent in force
//! now) and in a training set (in force at the spine row's time and now), then a
//! withdrawal that removes the user from every later training set; bad input refused with
//! hints; every change audited with keyed hashes only.

use super::{fails, int_column, ok, s};

const CONFIG: &str = "project: consent\nregistry: .tessera/registry\noffline_store: { path: .tessera/offline }\nonline_store: { type: embedded, path: .tessera/online }\naudit_log: .tessera/audit\n";

const DEFS: &str = r#"
entities:
  - { name: user, join_keys: [user_id] }
sources:
  - { name: stats, type: batch, path: data/stats.csv, timestamp_field: ts }
feature_views:
  - name: user_stats
    entities: [user]
    source: stats
    ttl: 3650d
    features:
      - { name: plays, type: int64, classification: personal }
purposes:
  - { name: ads, allows: [internal, personal], requires_consent: true }
  - { name: ranking, allows: [internal, personal] }
"#;

fn get(r: &str, purpose: &str) -> String {
    ok(&[
        "get",
        "--repo",
        r,
        "--entity",
        "user_id=u1",
        "--entity",
        "user_id=u2",
        "--features",
        "user_stats:plays",
        "--purpose",
        purpose,
    ])
}

fn training_set(r: &str, spine: &std::path::Path, out: &std::path::Path) -> String {
    ok(&[
        "training-set",
        "--repo",
        r,
        "--spine",
        s(spine),
        "--features",
        "user_stats:plays",
        "--purpose",
        "ads",
        "--out",
        s(out),
    ])
}

#[test]
fn one_consent_history_online_and_in_training_sets() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    std::fs::create_dir_all(repo.join("features")).unwrap();
    std::fs::create_dir_all(repo.join("data")).unwrap();
    std::fs::write(repo.join("tessera.yaml"), CONFIG).unwrap();
    std::fs::write(repo.join("features/defs.yaml"), DEFS).unwrap();
    std::fs::write(
        repo.join("data/stats.csv"),
        "ts,user_id,plays\n2025-12-01T00:00:00Z,u1,5\n2025-12-01T00:00:00Z,u2,7\n",
    )
    .unwrap();
    ok(&["apply", "--repo", r]);
    ok(&[
        "materialize",
        "--repo",
        r,
        "--start",
        "2000-01-01",
        "--end",
        "2100-01-01",
        "-q",
    ]);

    // Bad input: clear errors with hints; nothing recorded.
    let set = |p: &str, st: &str, at: &str| {
        fails(&[
            "consent",
            "set",
            "--repo",
            r,
            "--purpose",
            p,
            "--entity",
            "user_id=u1",
            "--state",
            st,
            "--at",
            at,
        ])
    };
    assert!(set("adz", "granted", "2026-01-01T00:00:00Z").contains("did you mean `ads`"));
    let e = set("ranking", "granted", "2026-01-01T00:00:00Z");
    assert!(
        e.contains("does not require consent") && e.contains("requires_consent: true"),
        "{e}"
    );
    assert!(set("ads", "maybe", "2026-01-01T00:00:00Z").contains("`granted` or `withdrawn`"));
    assert!(set("ads", "granted", "last week").contains("RFC 3339"));
    let e = fails(&[
        "consent",
        "set",
        "--repo",
        r,
        "--purpose",
        "ads",
        "--entity",
        "usr_id=u1",
        "--state",
        "granted",
    ]);
    assert!(e.contains("did you mean `user_id`"), "{e}");

    // Before any consent: online reads for `ads` withhold everything; `ranking` does not.
    let before = get(r, "ads");
    assert_eq!(before.matches("no_consent -").count(), 2, "{before}");
    assert_eq!(get(r, "ranking").matches("present ").count(), 2);
    let explained = ok(&[
        "explain-request",
        "--repo",
        r,
        "--features",
        "user_stats:plays",
        "--purpose",
        "ads",
    ]);
    assert!(explained.contains("consent required"), "{explained}");

    // The history of u1: granted t1, withdrawn t2, granted again t3 (imported, CSV).
    let csv = repo.join("consent.csv");
    std::fs::write(
        &csv,
        "user_id,purpose,state,at\nu1,ads,granted,2026-01-01T00:00:00Z\nu1,ads,withdrawn,2026-01-10T00:00:00Z\n",
    )
    .unwrap();
    assert!(
        ok(&["consent", "import", "--repo", r, s(&csv)]).contains("Recorded 2 consent change(s)")
    );
    let jsonl = repo.join("consent.jsonl");
    std::fs::write(
        &jsonl,
        "{\"entity\": \"user_id=u1\", \"purpose\": \"ads\", \"state\": \"granted\", \"at\": \"2026-01-20T00:00:00Z\"}\n",
    )
    .unwrap();
    ok(&["consent", "import", "--repo", r, s(&jsonl)]);
    // A bad line names the file and line, and nothing of the file is recorded.
    std::fs::write(
        &csv,
        "entity,purpose,state\nuser_id=u2,ads,granted\nuser_id=u2,ads,nope\n",
    )
    .unwrap();
    let e = fails(&["consent", "import", "--repo", r, s(&csv)]);
    assert!(e.contains("consent.csv:3"), "{e}");

    // Online: consent is in force now for u1 only.
    let now = get(r, "ads");
    let line = |who: &str| now.lines().find(|l| l.contains(who)).unwrap().to_string();
    assert!(line("u1").contains("present"), "{now}");
    assert!(line("u2").contains("no_consent"), "{now}");

    // Training set: u1's rows before t1 and between t2 and t3 are withheld; u2's too.
    let spine = repo.join("data/spine.csv");
    std::fs::write(
        &spine,
        "user_id,event_timestamp,label\nu1,2025-12-25T00:00:00Z,1\nu1,2026-01-05T00:00:00Z,0\nu1,2026-01-15T00:00:00Z,1\nu1,2026-01-25T00:00:00Z,0\nu2,2026-01-25T00:00:00Z,1\n",
    )
    .unwrap();
    let out = repo.join("train.parquet");
    let summary = training_set(r, &spine, &out);
    assert!(summary.contains("consent: 3 of 5 spine rows"), "{summary}");
    assert_eq!(
        int_column(&out, "user_stats__plays"),
        [None, Some(5), None, Some(5), None]
    );
    // Spine columns are kept for every row.
    assert_eq!(
        int_column(&out, "label"),
        [Some(1), Some(0), Some(1), Some(0), Some(1)]
    );

    // u1 withdraws now: online at once, and every later training set drops u1.
    ok(&[
        "consent",
        "set",
        "--repo",
        r,
        "--purpose",
        "ads",
        "--entity",
        "user_id=u1",
        "--state",
        "withdrawn",
    ]);
    assert!(line_of(&get(r, "ads"), "u1").contains("no_consent"));
    let summary = training_set(r, &spine, &out);
    assert!(summary.contains("consent: 5 of 5 spine rows"), "{summary}");
    assert_eq!(int_column(&out, "user_stats__plays"), [None; 5]);

    // Every change is audited; the log and the audit hold keyed hashes, never `u1`.
    let audit = ok(&[
        "audit", "query", "--repo", r, "--action", "consent", "--json",
    ]);
    assert_eq!(audit.lines().count(), 4, "{audit}");
    assert!(
        !audit.contains("u1") && audit.contains("state=withdrawn"),
        "{audit}"
    );
    let log = std::fs::read_to_string(repo.join(".tessera/consent/consent.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 4);
    assert!(!log.contains("u1") && !log.contains("u2"), "{log}");

    // The subject report answers with u1's whole consent history, oldest first.
    let report: serde_json::Value = serde_json::from_str(&ok(&[
        "subject-report",
        "--repo",
        r,
        "--entity",
        "user_id=u1",
        "--json",
    ]))
    .unwrap();
    let consent = report["consent"].as_array().unwrap();
    assert_eq!(consent.len(), 1, "{report}");
    assert_eq!(consent[0]["purpose"], "ads");
    let states: Vec<&str> = consent[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["granted", "withdrawn", "granted", "withdrawn"]);
    assert_eq!(
        consent[0]["changes"][0]["at"],
        "2026-01-01T00:00:00.000000Z"
    );
    let text = ok(&["subject-report", "--repo", r, "--entity", "user_id=u1"]);
    assert!(text.contains("ads: granted from 2026-01-01"), "{text}");
}

fn line_of(text: &str, who: &str) -> String {
    text.lines().find(|l| l.contains(who)).unwrap().to_string()
}

/// `tessera erase` erases the entity's consent history (every change recorded for it) and
/// reports how many lines it removed; other entities' history stays.
#[test]
fn erase_removes_the_consent_history() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    std::fs::create_dir_all(repo.join("features")).unwrap();
    std::fs::create_dir_all(repo.join("data")).unwrap();
    std::fs::write(repo.join("tessera.yaml"), CONFIG).unwrap();
    std::fs::write(repo.join("features/defs.yaml"), DEFS).unwrap();
    std::fs::write(
        repo.join("data/stats.csv"),
        "ts,user_id,plays\n2025-12-01T00:00:00Z,u1,5\n2025-12-01T00:00:00Z,u2,7\n",
    )
    .unwrap();
    ok(&["apply", "--repo", r]);
    for (who, state) in [("u1", "granted"), ("u1", "withdrawn"), ("u2", "granted")] {
        ok(&[
            "consent",
            "set",
            "--repo",
            r,
            "--purpose",
            "ads",
            "--entity",
            &format!("user_id={who}"),
            "--state",
            state,
        ]);
    }
    let log = repo.join(tessera_consent::CONSENT_LOG);
    let lines = || std::fs::read_to_string(&log).unwrap().lines().count();
    assert_eq!(lines(), 3);
    let out = ok(&["erase", "--repo", r, "--entity", "user_id=u1", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let consent = report["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == "consent")
        .unwrap()
        .clone();
    assert_eq!(consent["lines_removed"], 2, "{out}");
    assert_eq!(lines(), 1, "u2's grant stays");
    let h = tessera_core::EntityHasher::for_repo(&repo).unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&h.digest(&[("user_id", "u1")])), "{text}");
    assert!(text.contains(&h.digest(&[("user_id", "u2")])), "{text}");
    // Run again: nothing left to remove.
    let out = ok(&["erase", "--repo", r, "--entity", "user_id=u1", "--json"]);
    assert!(
        out.contains("\"lines_removed\": 0") || out.contains("\"lines_removed\":0"),
        "{out}"
    );
}

/// Writes consent events `(user, purpose, state, at µs)` as a Parquet file.
fn write_events(path: &std::path::Path, events: &[(&str, &str, &str, i64)]) {
    use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("purpose", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let col = |i: usize| -> Vec<&str> {
        events
            .iter()
            .map(|e| [e.0, e.1, e.2][i])
            .collect::<Vec<_>>()
    };
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(col(0))),
            Arc::new(StringArray::from(col(1))),
            Arc::new(StringArray::from(col(2))),
            Arc::new(
                TimestampMicrosecondArray::from(events.iter().map(|e| e.3).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
        ],
    )
    .unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None)
            .unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}

/// Consent from a batch source of consent events (`consent:` in tessera.yaml): checked at
/// plan, read by `tessera consent sync` idempotently (a second sync adds nothing; a later
/// event wins), then applied online and in training sets like any other consent.
#[test]
fn consent_from_a_parquet_source_of_events() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    std::fs::create_dir_all(repo.join("features")).unwrap();
    std::fs::create_dir_all(repo.join("data")).unwrap();
    let consent_cfg = "consent: { source: consent_events, entity: user_id, purpose_field: purpose, state_field: state, timestamp_field: at }\n";
    std::fs::write(repo.join("tessera.yaml"), format!("{CONFIG}{consent_cfg}")).unwrap();
    let defs = DEFS.replace(
        "sources:\n",
        "sources:\n  - { name: consent_events, type: batch, path: data/consent.parquet, timestamp_field: at }\n",
    );
    std::fs::write(repo.join("features/defs.yaml"), &defs).unwrap();
    std::fs::write(
        repo.join("data/stats.csv"),
        "ts,user_id,plays\n2025-12-01T00:00:00Z,u1,5\n2025-12-01T00:00:00Z,u2,7\n",
    )
    .unwrap();
    // 2026-01-01, 2026-01-10, 2026-01-20 (µs).
    let (jan1, jan10, jan20) = (
        1_767_225_600_000_000i64,
        1_768_003_200_000_000i64,
        1_768_867_200_000_000i64,
    );
    let events = repo.join("data/consent.parquet");
    write_events(
        &events,
        &[
            ("u1", "ads", "granted", jan1),
            ("u2", "ads", "withdrawn", jan10),
            ("u2", "ads", "granted", jan1),
        ],
    );

    // Checked at plan: a misspelt source, a missing column.
    let yaml = repo.join("tessera.yaml");
    std::fs::write(
        &yaml,
        format!(
            "{CONFIG}{}",
            consent_cfg.replace("consent_events", "consent_evnts")
        ),
    )
    .unwrap();
    let e = fails(&["plan", "--repo", r]);
    assert!(
        e.contains("tessera.yaml") && e.contains("did you mean `consent_events`"),
        "{e}"
    );
    std::fs::write(
        &yaml,
        format!(
            "{CONFIG}{}",
            consent_cfg.replace("state_field: state", "state_field: status")
        ),
    )
    .unwrap();
    let e = fails(&["plan", "--repo", r]);
    assert!(
        e.contains("no column `status`") && e.contains("state_field"),
        "{e}"
    );
    std::fs::write(&yaml, format!("{CONFIG}{consent_cfg}")).unwrap();
    ok(&["plan", "--repo", r]);
    ok(&["apply", "--repo", r]);
    ok(&[
        "materialize",
        "--repo",
        r,
        "--start",
        "2000-01-01",
        "--end",
        "2100-01-01",
        "-q",
    ]);

    // Synced once: three changes; again: nothing new.
    let first = ok(&["consent", "sync", "--repo", r]);
    assert!(
        first.contains("Read 3 consent event(s)") && first.contains("3 new change(s)"),
        "{first}"
    );
    let again = ok(&["consent", "sync", "--repo", r]);
    assert!(
        again.contains("0 new change(s)") && again.contains("3 already recorded"),
        "{again}"
    );
    let log = repo.join(tessera_consent::CONSENT_LOG);
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);

    // Online: u2 withdrew (the later event wins, whatever the row order).
    let now = get(r, "ads");
    assert!(line_of(&now, "u1").contains("present"), "{now}");
    assert!(line_of(&now, "u2").contains("no_consent"), "{now}");
    // Training set: u2 had consent at the spine time but not now: excluded.
    let spine = repo.join("data/spine.csv");
    std::fs::write(
        &spine,
        "user_id,event_timestamp,label\nu1,2026-01-05T00:00:00Z,1\nu2,2026-01-05T00:00:00Z,0\n",
    )
    .unwrap();
    let out = repo.join("train.parquet");
    training_set(r, &spine, &out);
    assert_eq!(int_column(&out, "user_stats__plays"), [Some(5), None]);

    // A later event arrives in the source: only it is added, and it wins.
    write_events(
        &events,
        &[
            ("u1", "ads", "granted", jan1),
            ("u2", "ads", "withdrawn", jan10),
            ("u2", "ads", "granted", jan1),
            ("u2", "ads", "granted", jan20),
        ],
    );
    let later = ok(&["consent", "sync", "--repo", r]);
    assert!(later.contains("1 new change(s)"), "{later}");
    assert!(line_of(&get(r, "ads"), "u2").contains("present"));
    // Audited like every consent change, with keyed hashes only.
    let audit = ok(&[
        "audit", "query", "--repo", r, "--action", "consent", "--json",
    ]);
    // One record per (purpose, state, time): granted at t1 (u1, u2), withdrawn at t2,
    // granted at t3.
    assert_eq!(audit.lines().count(), 3, "{audit}");
    assert!(!audit.contains("u1") && !audit.contains("u2"), "{audit}");
}

/// `POST /v1/features` for `ads` of u1 and u2 (no authentication); the statuses of u1, u2.
fn served_statuses(addr: std::net::SocketAddr) -> Vec<String> {
    use std::io::{Read, Write};
    let body = r#"{"features": ["user_stats:plays"], "entities": {"user_id": ["u1", "u2"]}, "purpose": "ads"}"#;
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        c,
        "POST /v1/features HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(resp.split_once("\r\n\r\n").unwrap().1).unwrap();
    json["features"][0]["statuses"]
        .as_array()
        .unwrap_or_else(|| panic!("{json}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// `tessera serve` reads the consent source at start and every `sync_every`: an event that
/// arrives in the source while it runs takes effect without a restart.
#[test]
fn serve_syncs_the_consent_source_every_sync_every() {
    use std::io::BufRead;
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    std::fs::create_dir_all(repo.join("features")).unwrap();
    std::fs::create_dir_all(repo.join("data")).unwrap();
    std::fs::write(
        repo.join("tessera.yaml"),
        format!("{CONFIG}consent: {{ source: consent_events, entity: user_id, timestamp_field: at, sync_every: 200ms }}\n"),
    )
    .unwrap();
    let defs = DEFS.replace(
        "sources:\n",
        "sources:\n  - { name: consent_events, type: batch, path: data/consent.parquet, timestamp_field: at }\n",
    );
    std::fs::write(repo.join("features/defs.yaml"), &defs).unwrap();
    std::fs::write(
        repo.join("data/stats.csv"),
        "ts,user_id,plays\n2025-12-01T00:00:00Z,u1,5\n2025-12-01T00:00:00Z,u2,7\n",
    )
    .unwrap();
    let (jan1, jan10) = (1_767_225_600_000_000i64, 1_768_003_200_000_000i64);
    let events = repo.join("data/consent.parquet");
    write_events(
        &events,
        &[
            ("u1", "ads", "granted", jan1),
            ("u2", "ads", "granted", jan1),
        ],
    );
    ok(&["apply", "--repo", r]);
    ok(&[
        "materialize",
        "--repo",
        r,
        "--start",
        "2000-01-01",
        "--end",
        "2100-01-01",
        "-q",
    ]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "serve",
            "--repo",
            r,
            "--addr",
            "127.0.0.1:0",
            "--auth",
            "none",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let addr: std::net::SocketAddr = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        said.lock().unwrap().push_str(&line);
        if let Some(rest) = line.split("on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    let log_lines = said.clone();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            log_lines.lock().unwrap().push_str(&l);
        }
    });
    // Synced at start: both users have consent.
    let until = |want: [&str; 2]| {
        for _ in 0..300 {
            if served_statuses(addr) == want {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("never served {want:?}: {:?}", served_statuses(addr));
    };
    until(["present", "present"]);
    let text = said.lock().unwrap().clone();
    assert!(
        text.contains("consent: source `consent_events` read into the consent log every"),
        "the server says it syncs the consent source: {text}"
    );
    // u2 withdraws in the source: the running server picks it up.
    write_events(
        &events,
        &[
            ("u1", "ads", "granted", jan1),
            ("u2", "ads", "granted", jan1),
            ("u2", "ads", "withdrawn", jan10),
        ],
    );
    until(["present", "no_consent"]);
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let log = repo.join(tessera_consent::CONSENT_LOG);
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
    // The server's syncs are audited as the server's.
    let audit = ok(&[
        "audit", "query", "--repo", r, "--action", "consent", "--json",
    ]);
    assert_eq!(audit.lines().count(), 2, "{audit}");
    assert!(audit.lines().all(|l| l.contains("\"server\"")), "{audit}");
}
