//! `tessera release` and `tessera budget show` through the binary: a declared release and
//! one described by flags, the budget they spend, the refusal past it, the audit records,
//! and `plan`'s errors for a malformed `releases:` entry.

use serde_json::Value;

use super::{fails, ok, s};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn releases_spend_the_budget_until_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("media");
    ok(&["init", "--template", "media", s(&repo)]);
    ok(&["apply", "--repo", s(&repo)]);
    let base = [
        "release",
        "--repo",
        s(&repo),
        "--consumer",
        "dashboard",
        "--purpose",
        "analytics",
    ];
    let run = |extra: &[&str]| json(&ok(&[&base[..], extra, &["--json"]].concat()));

    let a = run(&["--name", "plays_per_genre"]);
    assert_eq!(a["mechanism"], "discrete_gaussian");
    assert_eq!(a["group_selection"], "domain");
    let groups = a["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 8, "one per genre of the public domain");
    assert_eq!(groups[0]["group"], "pop");
    // σ² = 50² / (2·0.1) = 12500; at this σ the discrete Gaussian's variance equals σ².
    let v = groups[0]["variance"].as_f64().unwrap();
    assert!((v - 12_500.0).abs() < 1e-6, "{v}");
    assert_eq!(a["noise"]["count"]["sigma2"], 12_500.0);
    assert_eq!(a["cost"]["rho"], 0.1);
    assert_eq!(a["budget"]["remaining_rho"], 0.4);

    // A release described by flags, in ε: charged ε²/2.
    let m = run(&[
        "--query",
        "mean",
        "--source",
        "play_log",
        "--entity",
        "user",
        "--column",
        "dwell_s",
        "--lo",
        "0",
        "--hi",
        "600",
        "--precision",
        "0.1",
        "--max-rows",
        "20",
        "--epsilon",
        "0.5",
    ]);
    assert_eq!(m["mechanism"], "discrete_laplace");
    assert_eq!(m["cost"]["rho"], 0.125);
    let mean = m["groups"][0]["value"].as_f64().unwrap();
    assert!((0.0..=600.0).contains(&mean), "{mean}");
    assert!(m["groups"][0]["count"].is_number() && m["groups"][0]["sum"].is_number());

    let err = fails(&[&base[..], &["--name", "plays_per_genre", "--rho", "0.3"]].concat());
    assert!(err.contains("release refused: it costs ρ = 0.3"), "{err}");
    assert!(err.contains("ρ = 0.275"), "what is left: {err}");
    assert!(err.contains("resets at"), "{err}");

    let b = json(&ok(&[
        "budget",
        "show",
        "--repo",
        s(&repo),
        "--consumer",
        "dashboard",
        "--json",
    ]));
    assert_eq!(b[0]["purpose"], "analytics");
    assert_eq!(b[0]["releases"], 2);
    assert!((b[0]["spent_rho"].as_f64().unwrap() - 0.225).abs() < 1e-12);
    let table = ok(&["budget", "show", "--repo", s(&repo)]);
    assert!(
        table.contains("dashboard") && table.contains("0.275") && table.contains("30d"),
        "{table}"
    );

    // Permission first: a purpose without a budget, a consumer without the purpose.
    let err = fails(&[
        "release",
        "--repo",
        s(&repo),
        "--consumer",
        "ranker",
        "--purpose",
        "analytics",
        "--name",
        "plays_per_genre",
    ]);
    assert!(err.contains("does not hold purpose `analytics`"), "{err}");
    let err = fails(&[
        "release",
        "--repo",
        s(&repo),
        "--consumer",
        "trainer",
        "--purpose",
        "training",
        "--name",
        "plays_per_genre",
    ]);
    assert!(err.contains("has no differential-privacy budget"), "{err}");

    // Every outcome is audited with its cost and what is left.
    let audit = ok(&[
        "audit",
        "query",
        "--repo",
        s(&repo),
        "--action",
        "dp_release",
        "--json",
    ]);
    let lines: Vec<Value> = audit.lines().map(json).collect();
    assert_eq!(lines.len(), 5, "{audit}");
    assert!(
        lines[0]["detail"]
            .as_str()
            .unwrap()
            .contains("rho_remaining=0.4"),
        "{audit}"
    );
    assert_eq!(lines[2]["decision"], "deny");
    assert!(
        lines.iter().all(|l| !l.to_string().contains("\"value\"")),
        "no value is audited"
    );
}

#[test]
fn plan_explains_a_malformed_release() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("media");
    ok(&["init", "--template", "media", s(&repo)]);
    let f = repo.join("features/media.yaml");
    let text = std::fs::read_to_string(&f).unwrap();
    let bad = text
        .replace(
            "source: play_log\n    entity: user",
            "source: play_logs\n    entity: user",
        )
        .replace(
            "query: histogram",
            "query: histogram\n    measure: { column: dwell_s, lo: 5, hi: 1 }",
        );
    std::fs::write(&f, bad).unwrap();
    let err = fails(&["plan", "--repo", s(&repo)]);
    assert!(err.contains("release `plays_per_genre`"), "{err}");
    assert!(
        err.contains("unknown source `play_logs`") && err.contains("play_log"),
        "{err}"
    );
    assert!(err.contains("takes no `measure`"), "{err}");
    assert!(err.contains("`lo < hi`"), "{err}");
    let unknown = text.replace("max_rows: 50", "max_rows: 50\n    maxrows: 3");
    std::fs::write(&f, unknown).unwrap();
    let err = fails(&["plan", "--repo", s(&repo)]);
    assert!(err.contains("maxrows"), "{err}");
}
