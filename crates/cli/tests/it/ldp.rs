//! `tessera ldp simulate` and `tessera ldp estimate` from the command line: the simulation
//! is reproducible and its estimates sit within their stated sd of the truth; bad
//! parameters are refused with a fix; `estimate` reads the demo repository's declared
//! report, needs a purpose, and is audited.

use super::{fails, ok, s};

fn simulate(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["ldp", "simulate", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&all)).unwrap()
}

#[test]
fn simulate_is_reproducible_and_within_its_stated_error() {
    for mechanism in ["cms", "hcms"] {
        let args = [
            "--mechanism",
            mechanism,
            "--epsilon",
            "4",
            "--k",
            "16",
            "--m",
            "256",
            "--devices",
            "60000",
            "--domain",
            "12",
            "--distribution",
            "zipf:1.1",
            "--seed",
            "5",
        ];
        let doc = simulate(&args);
        assert_eq!(
            doc,
            simulate(&args)
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert("seconds".into(), doc["seconds"].clone());
                    serde_json::Value::Object(o)
                })
                .unwrap()
        );
        let values = doc["values"].as_array().unwrap();
        assert_eq!(values.len(), 12);
        let total: u64 = values
            .iter()
            .map(|v| v["true_count"].as_u64().unwrap())
            .sum();
        assert_eq!(total, 60_000);
        assert!(doc["realised_epsilon"].as_f64().unwrap() <= 4.0);
        for v in values {
            let (t, e, sd) = (
                v["true_count"].as_f64().unwrap(),
                v["estimate"].as_f64().unwrap(),
                v["sd"].as_f64().unwrap(),
            );
            assert!(sd > 0.0 && (e - t).abs() < 5.0 * sd, "{mechanism}: {v}");
        }
        // Zipf: the first value is the most frequent.
        assert!(values[0]["true_count"].as_u64() > values[11]["true_count"].as_u64());
    }
    let table = ok(&[
        "ldp",
        "simulate",
        "--devices",
        "2000",
        "--domain",
        "3",
        "--distribution",
        "uniform",
    ]);
    assert!(
        table.contains("true_count") && table.contains("v2"),
        "{table}"
    );
}

#[test]
fn bad_parameters_are_refused_with_a_fix() {
    let e = fails(&["ldp", "simulate", "--mechanism", "hcms", "--m", "1000"]);
    assert!(
        e.contains("not a power of two") && e.contains("use 1024"),
        "{e}"
    );
    let e = fails(&["ldp", "simulate", "--epsilon", "0"]);
    assert!(e.contains("ε must be > 0"), "{e}");
    let e = fails(&["ldp", "simulate", "--distribution", "pareto"]);
    assert!(e.contains("zipf:1.1"), "{e}");
    let e = fails(&["ldp", "simulate", "--mechanism", "rappor"]);
    assert!(e.contains("use `cms`"), "{e}");
}

#[test]
fn estimate_reads_the_declared_report_and_is_audited() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    ok(&["init", "--template", "media", r]);
    ok(&["apply", "--repo", r]);
    let catalog = ok(&["catalog", "--repo", r]);
    assert!(
        catalog.contains("genre_plays of device_taste:genre: cms ε=4 k=16 m=1024, device cap ε=8 per 1d, 8 candidates"),
        "{catalog}"
    );
    // Nothing reported yet: zero reports, every estimate 0.
    let out = ok(&[
        "ldp",
        "estimate",
        "--repo",
        r,
        "--report",
        "genre_plays",
        "--purpose",
        "analytics",
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["reports"], 0);
    assert_eq!(doc["estimates"].as_array().unwrap().len(), 8);
    // Candidates from a file.
    let cands = d.path().join("cands.txt");
    std::fs::write(&cands, "jazz\n\nsynthwave\n").unwrap();
    let out = ok(&[
        "ldp",
        "estimate",
        "--repo",
        r,
        "--report",
        "genre_plays",
        "--consumer",
        "dashboard",
        "--purpose",
        "analytics",
        "--candidates",
        s(&cands),
    ]);
    assert!(out.contains("jazz") && out.contains("synthwave"), "{out}");

    let e = fails(&["ldp", "estimate", "--repo", r, "--report", "genre_plays"]);
    assert!(e.contains("--purpose"), "{e}");
    let e = fails(&[
        "ldp",
        "estimate",
        "--repo",
        r,
        "--report",
        "genre_plays",
        "--consumer",
        "dashboard",
        "--purpose",
        "training",
    ]);
    assert!(e.contains("does not hold purpose `training`"), "{e}");
    let e = fails(&[
        "ldp",
        "estimate",
        "--repo",
        r,
        "--report",
        "genre_play",
        "--purpose",
        "analytics",
    ]);
    assert!(e.contains("genre_plays"), "{e}");
    let audit = ok(&["audit", "query", "--repo", r, "--action", "ldp_estimate"]);
    assert_eq!(
        audit.lines().filter(|l| l.contains("ldp_estimate")).count(),
        2,
        "{audit}"
    );

    // A damaged sketch file is refused with its path, not reset.
    let sketch = repo.join(".tessera/ldp/genre_plays.sketch");
    std::fs::create_dir_all(sketch.parent().unwrap()).unwrap();
    std::fs::write(&sketch, b"TLDS garbage").unwrap();
    let e = fails(&[
        "ldp",
        "estimate",
        "--repo",
        r,
        "--report",
        "genre_plays",
        "--purpose",
        "analytics",
    ]);
    assert!(e.contains("genre_plays.sketch is damaged"), "{e}");
}
