//! `tessera training-set --explain`: the query plan with the Tessera operators, and with
//! `analyze` their metrics after a real run.

use crate::{ok, s};

#[test]
fn training_set_explain_shows_the_operators() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    ok(&["init", r]);
    ok(&["apply", "--repo", r]);
    let spine = repo.join("data/spine.parquet");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a = vec![
            "training-set",
            "--repo",
            r,
            "--spine",
            s(&spine),
            "--service",
            "ranker_v1",
            "--consumer",
            "trainer",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_string).collect()
    };
    let run = |a: Vec<String>| ok(&a.iter().map(String::as_str).collect::<Vec<_>>());

    // The plan only: nothing is written, no --out needed.
    let plan = run(args(&["--explain"]));
    assert!(plan.contains("PointInTimeJoinExec: view="), "{plan}");
    assert!(plan.contains("DataSourceExec"), "{plan}");
    assert!(!plan.contains("metrics="), "{plan}");

    // Analyze: the set is built (and written when --out is given), the plans carry metrics.
    let out = repo.join("out/explained.parquet");
    let analyzed = run(args(&["--explain", "analyze", "--out", s(&out)]));
    assert!(
        analyzed.contains("PointInTimeJoinExec: view="),
        "{analyzed}"
    );
    assert!(analyzed.contains("input_rows="), "{analyzed}");
    assert!(analyzed.contains("Wrote 500 rows"), "{analyzed}");
    assert!(out.exists());
}
