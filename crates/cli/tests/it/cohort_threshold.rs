//! k-thresholds on cohort features (`min_contributors`): a value built from fewer than k
//! distinct contributors is suppressed in the backfilled training set, in materialisation
//! and in online reads (`tessera get` shows status `suppressed`); a contributor who plays
//! 100 times counts once.

use super::{fails, int_column, ok, s};

const CONFIG: &str = "project: cohort\nregistry: .tessera/registry\noffline_store: { path: .tessera/offline }\nonline_store: { type: embedded, path: .tessera/online }\naudit_log: .tessera/audit\n";

fn defs(by: &str) -> String {
    format!(
        r#"
entities:
  - {{ name: item, join_keys: [item_id] }}
sources:
  - {{ name: plays, type: batch, path: data/plays.csv, timestamp_field: ts }}
feature_views:
  - name: item_cohort
    entities: [item]
    source: plays
    classification: internal
    aggregations:
      - {{ function: count, windows: [lifetime], min_contributors: {{ k: 3, by: {by} }} }}
      - {{ column: dwell_s, function: sum, windows: [lifetime] }}
purposes: [{{ name: ranking, allows: [internal] }}]
"#
    )
}

#[test]
fn cohorts_below_k_are_suppressed_offline_and_online() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    std::fs::create_dir_all(repo.join("features")).unwrap();
    std::fs::create_dir_all(repo.join("data")).unwrap();
    std::fs::write(repo.join("tessera.yaml"), CONFIG).unwrap();
    // Item 1: user 1 plays 100 times, user 2 once — 2 contributors (k - 1).
    // Item 2: users 1, 2, 3 — 3 contributors (k), from 2026-01-03.
    let mut csv = String::from("ts,item_id,user_id,dwell_s\n");
    for i in 0..100 {
        csv.push_str(&format!(
            "2026-01-01T00:{:02}:{:02}Z,1,1,1\n",
            i / 60,
            i % 60
        ));
    }
    csv.push_str("2026-01-01T02:00:00Z,1,2,1\n");
    csv.push_str(
        "2026-01-01T00:00:00Z,2,1,1\n2026-01-02T00:00:00Z,2,2,1\n2026-01-03T00:00:00Z,2,3,1\n",
    );
    std::fs::write(repo.join("data/plays.csv"), csv).unwrap();

    // `by` must be a column of the source, and not the view's own key.
    std::fs::write(repo.join("features/defs.yaml"), defs("user_ud")).unwrap();
    let e = fails(&["apply", "--repo", r]);
    assert!(
        e.contains("`user_ud`") && e.contains("did you mean `user_id`"),
        "{e}"
    );
    std::fs::write(repo.join("features/defs.yaml"), defs("item_id")).unwrap();
    let e = fails(&["plan", "--repo", r]);
    assert!(e.contains("the view's own entity key"), "{e}");
    std::fs::write(
        repo.join("features/defs.yaml"),
        defs("user_id").replace("k: 3", "k: 0"),
    )
    .unwrap();
    assert!(fails(&["plan", "--repo", r]).contains("at least 1"));
    std::fs::write(repo.join("features/defs.yaml"), defs("user_id")).unwrap();
    ok(&["apply", "--repo", r]);

    // Training set: item 2 before its third contributor is suppressed, after it shown.
    std::fs::write(
        repo.join("data/spine.csv"),
        "item_id,event_timestamp\n1,2026-01-05T00:00:00Z\n2,2026-01-02T12:00:00Z\n2,2026-01-05T00:00:00Z\n",
    )
    .unwrap();
    let out = repo.join("out.parquet");
    ok(&[
        "training-set",
        "--repo",
        r,
        "--spine",
        s(&repo.join("data/spine.csv")),
        "--features",
        "item_cohort:*",
        "--purpose",
        "ranking",
        "--out",
        s(&out),
    ]);
    // count_lifetime is suppressed below k; the sum (no threshold) is not.
    assert_eq!(
        int_column(&out, "item_cohort__count_lifetime"),
        [None, None, Some(3)]
    );
    assert_eq!(
        int_column(&out, "item_cohort__dwell_s_sum_lifetime"),
        [Some(101), Some(2), Some(3)]
    );

    // Materialised and read online: the same values, with status `suppressed`.
    ok(&[
        "materialize",
        "--repo",
        r,
        "--start",
        "2000-01-01",
        "--end",
        "2100-01-01",
        "--quiet",
    ]);
    let got = ok(&[
        "get",
        "--repo",
        r,
        "--entity",
        "item_id=1",
        "--entity",
        "item_id=2",
        "--features",
        "item_cohort:count_lifetime",
        "--purpose",
        "ranking",
    ]);
    let item1 = got.lines().find(|l| l.contains("item_id=1")).unwrap();
    let item2 = got.lines().find(|l| l.contains("item_id=2")).unwrap();
    assert!(item1.contains("suppressed"), "{got}");
    assert!(
        item2.contains("present") && item2.trim_end().ends_with('3'),
        "{got}"
    );
}
