//! `tessera release` and `tessera budget show` through the binary: a declared release and
//! ad-hoc ones (flags, a JSON file) through the policy gate, the budget they spend, the
//! refusal past it, the audit records, and `plan`'s errors for a malformed `releases:` entry.

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

    // An ad-hoc release described by flags passes the policy gate: `dwell_s` is personal
    // (user_history aggregates it) and `analytics` allows public and internal data only.
    let mean = [
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
    ];
    let err = fails(&[&base[..], &mean[..]].concat());
    assert!(
        err.contains("measure column `dwell_s` of source `play_log` is personal, which purpose `analytics` does not allow"),
        "{err}"
    );
    // One that reads no column beyond the entity's key and the time: in ε, charged ε²/2.
    let m = run(&[
        "--query",
        "count",
        "--source",
        "play_log",
        "--entity",
        "user",
        "--max-rows",
        "20",
        "--epsilon",
        "0.5",
    ]);
    assert_eq!(m["mechanism"], "discrete_laplace");
    assert_eq!(m["release"], "adhoc_count");
    assert_eq!(m["cost"]["rho"], 0.125);
    assert!(m["groups"][0]["value"].as_f64().unwrap() > 0.0);

    // The same ad-hoc form as a JSON file (the `adhoc` object of POST /v1/releases): items
    // per public genre.
    let q = dir.path().join("q.json");
    std::fs::write(
        &q,
        r#"{"source": "item_catalog", "entity": "item", "query": "histogram", "max_rows": 1,
            "group_by": {"column": "genre", "domain": ["pop", "rock"]}}"#,
    )
    .unwrap();
    let h = run(&["--query", s(&q), "--rho", "0.05"]);
    assert_eq!(h["release"], "adhoc_histogram");
    assert_eq!(h["groups"][1]["group"], "rock");
    assert_eq!(h["budget"]["remaining_rho"], 0.225);
    let err = fails(
        &[
            &base[..],
            &["--query", s(&q), "--source", "x", "--rho", "0.05"],
        ]
        .concat(),
    );
    assert!(err.contains("holds the whole ad-hoc release"), "{err}");

    let err = fails(&[&base[..], &["--name", "plays_per_genre", "--rho", "0.3"]].concat());
    assert!(err.contains("release refused: it costs ρ = 0.3"), "{err}");
    assert!(err.contains("ρ = 0.225"), "what is left: {err}");
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
    assert_eq!(b[0]["releases"], 3);
    assert!((b[0]["spent_rho"].as_f64().unwrap() - 0.275).abs() < 1e-12);
    let table = ok(&["budget", "show", "--repo", s(&repo)]);
    assert!(
        table.contains("dashboard") && table.contains("0.225") && table.contains("30d"),
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
    assert_eq!(lines.len(), 8, "{audit}");
    assert!(
        lines[0]["detail"]
            .as_str()
            .unwrap()
            .contains("rho_remaining=0.4"),
        "{audit}"
    );
    assert_eq!(lines[1]["decision"], "deny", "the policy gate");
    assert!(
        lines[1]["detail"]
            .as_str()
            .unwrap()
            .contains(r#"adhoc={"source":"play_log""#),
        "a refused ad-hoc query is audited too: {audit}"
    );
    assert!(
        lines[3]["detail"]
            .as_str()
            .unwrap()
            .contains(r#"adhoc={"source":"item_catalog""#),
        "the ad-hoc query is audited: {audit}"
    );
    assert_eq!(
        lines[4]["decision"], "error",
        "flags beside --query FILE.json"
    );
    assert_eq!(lines[5]["decision"], "deny", "over the budget");
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

    // Several group columns: each needs a domain or the release a threshold.
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("group_by:"))
        .unwrap();
    let two = text.replace(
        line,
        "    group_by: { columns: [genre, action], domain: { genre: [pop, rock] } }",
    );
    std::fs::write(&f, &two).unwrap();
    let err = fails(&["plan", "--repo", s(&repo)]);
    assert!(
        err.contains("column `action` needs a public `domain`, or the release a `threshold_delta`"),
        "{err}"
    );
    // Columns the sources lack are found at plan, not at the first run.
    let misspelt = text.replace(
        line,
        "    group_by: { columns: [genre, acton], domain: { genre: [pop, rock], acton: [play] } }",
    );
    std::fs::write(&f, &misspelt).unwrap();
    let err = fails(&["plan", "--repo", s(&repo)]);
    assert!(
        err.contains("release `plays_per_genre`")
            && err.contains("a group column `acton` is not a column of source `play_log`")
            && err.contains("did you mean `action`?"),
        "{err}"
    );
    let fine = text.replace(
        line,
        "    group_by: { columns: [genre, action], domain: { genre: [pop, rock], action: [play, skip] } }",
    );
    std::fs::write(&f, &fine).unwrap();
    ok(&["plan", "--repo", s(&repo)]);
}
