//! `tessera audit tail|query` as an operator sees them: client-chosen strings cannot forge
//! lines or reach the terminal as escape sequences, and a rotated log reads as one.

use super::{ok, s};

#[test]
fn client_strings_are_escaped_in_human_output() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    ok(&["init", r]);
    let log = repo.join(".tessera/audit/audit.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    // A purpose and a feature name that try to end the line and print a fake record, and an
    // escape sequence that would clear the screen.
    let forged = serde_json::json!({
        "time": "2026-01-01T00:00:00.000000Z",
        "action": "online_read",
        "consumer": "ranker",
        "purpose": "ranking\n2026-01-01T00:00:01.000000Z ALLOW online_read  consumer=admin purpose=audit",
        "features": ["v:f\u{1b}[2J\u{1b}[H", "v:\u{202e}gnikcart"],
        "rows": 1,
        "decision": "deny",
        "reasons": ["bad\rALLOW"],
        "latency_us": 5,
        "detail": "tab\there \\ and \u{7}"
    });
    std::fs::write(&log, format!("{forged}\n")).unwrap();
    for args in [
        vec!["audit", "tail", "--repo", r],
        vec!["audit", "query", "--repo", r, "--decision", "deny"],
    ] {
        let out = ok(&args);
        assert_eq!(out.lines().count(), 3, "a line, a reason, a detail:\n{out}");
        assert!(
            !out.contains(['\u{1b}', '\r', '\u{7}', '\u{202e}', '\t']),
            "{out:?}"
        );
        assert!(
            out.contains("purpose=ranking\\n2026-01-01T00:00:01.000000Z ALLOW"),
            "{out}"
        );
        assert!(
            out.contains("features=[v:f\\u{1b}[2J\\u{1b}[H,v:\\u{202e}gnikcart]"),
            "{out}"
        );
        assert!(out.contains("reason: bad\\rALLOW"), "{out}");
        assert!(out.contains("detail: tab\\there \\\\ and \\u{7}"), "{out}");
    }
    // JSON output stays JSON: the same record, exactly.
    let json = ok(&["audit", "tail", "--repo", r, "--json"]);
    let back: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(back, forged);
}

#[test]
fn a_rotated_log_reads_as_one_in_time_order() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    ok(&["init", r]);
    ok(&["apply", "--repo", r]);
    let cfg = repo.join("tessera.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("audit_log: .tessera/audit\n"), "{text}");
    std::fs::write(
        &cfg,
        text.replace(
            "audit_log: .tessera/audit\n",
            "audit_log: { path: .tessera/audit, sync: always, rotate: { size: 500 }, retain: { files: 3 } }\n",
        ),
    )
    .unwrap();
    for i in 1..=20 {
        let ids: Vec<String> = (0..i).map(|_| "--entity=item_id=1".to_string()).collect();
        let mut args = vec![
            "get",
            "--repo",
            r,
            "--features",
            "item_content:genre",
            "--purpose",
            "ranking",
        ];
        args.extend(ids.iter().map(String::as_str));
        ok(&args);
    }
    let dir = repo.join(".tessera/audit");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    files.sort();
    let rotated = files.iter().filter(|f| f.starts_with("audit-")).count();
    assert_eq!(rotated, 3, "retain.files keeps 3 rotated files: {files:?}");
    let rows = |out: String| -> Vec<u64> {
        out.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["rows"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    let all = rows(ok(&[
        "audit",
        "query",
        "--repo",
        r,
        "--action",
        "online_read",
        "--json",
    ]));
    let first = all[0];
    assert!(first > 1, "the oldest files were deleted: {all:?}");
    assert_eq!(all, (first..=20).collect::<Vec<_>>());
    let last = rows(ok(&["audit", "tail", "--repo", r, "-n", "5", "--json"]));
    assert_eq!(last, [16, 17, 18, 19, 20]);
}
