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
