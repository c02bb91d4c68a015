//! End-to-end tests of the `tessera` binary: what a user types, what they see.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::{Command, Output};

mod audit_kill;
mod audit_output;
mod cohort_threshold;
mod consent;
mod dp_release;
mod erase;
mod explain;
mod first_hour;
mod ldp;
mod minimise_parity;
mod on_demand_parity;
mod online;
mod retention;
mod streaming;

fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .expect("the tessera binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = tessera(args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tessera {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

fn fails(args: &[&str]) -> String {
    let out = tessera(args);
    assert!(!out.status.success(), "tessera {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn init_plan_apply_training_set_audit() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    ok(&["init", "--template", "media", r]);
    assert!(fails(&["init", r]).contains("not empty"));

    // Nothing registered yet: training sets refuse with a hint.
    let spine = repo.join("data/spine.parquet");
    let out = repo.join("out/train.parquet");
    let e = fails(&[
        "training-set",
        "--repo",
        r,
        "--spine",
        s(&spine),
        "--service",
        "ranker_v1",
        "--out",
        s(&out),
    ]);
    assert!(e.contains("tessera apply"), "{e}");

    let plan = ok(&["plan", "--repo", r]);
    assert!(
        plan.contains("+ feature_view `user_activity`")
            && plan.contains("+ feature_view `user_live`")
            && plan.contains("+ source `device_plays`")
            && plan.contains("+ on_demand_view `user_item_affinity`")
            && plan.contains("+ release `plays_per_genre`")
            && plan.contains("33 to add"),
        "{plan}"
    );
    assert!(ok(&["apply", "--repo", r]).contains("Registered version 1"));
    assert!(ok(&["apply", "--repo", r]).contains("No changes"));

    let t = ok(&[
        "training-set",
        "--repo",
        r,
        "--spine",
        s(&spine),
        "--service",
        "ranker_v1",
        "--consumer",
        "trainer",
        "--out",
        s(&out),
    ]);
    assert!(t.contains("Wrote 500 rows x 12 columns"), "{t}");
    assert!(out.exists());

    // A purpose that does not allow personal data is refused, audited, and writes nothing.
    let refused = repo.join("refused.parquet");
    let e = fails(&[
        "training-set",
        "--repo",
        r,
        "--spine",
        s(&spine),
        "--features",
        "user_activity:plays_1d,item_content:genre",
        "--purpose",
        "analytics",
        "--out",
        s(&refused),
    ]);
    assert!(e.contains("user_activity:plays_1d: classified `personal`, which purpose `analytics` does not allow"), "{e}");
    assert!(
        !e.contains("item_content:genre:"),
        "public features are not refused: {e}"
    );
    assert!(!refused.exists());
    // A consumer that does not hold the purpose is refused too.
    let e = fails(&[
        "training-set",
        "--repo",
        r,
        "--spine",
        s(&spine),
        "--features",
        "item_content:genre",
        "--purpose",
        "training",
        "--consumer",
        "dashboard",
        "--out",
        s(&refused),
    ]);
    assert!(
        e.contains("consumer `dashboard` does not hold purpose `training`"),
        "{e}"
    );

    let audit = ok(&["audit", "tail", "--repo", r, "-n", "3"]);
    assert_eq!(audit.matches("ALLOW").count(), 1, "{audit}");
    assert_eq!(audit.matches("DENY").count(), 2, "{audit}");
    let denied = ok(&[
        "audit",
        "query",
        "--repo",
        r,
        "--decision",
        "deny",
        "--json",
    ]);
    assert_eq!(denied.lines().count(), 2, "{denied}");
    // `--consumer trainer` acted as trainer without its token: the record says who acted,
    // and a query for the consumer finds it.
    let as_trainer = ok(&["audit", "query", "--repo", r, "--consumer", "trainer"]);
    assert!(as_trainer.contains("rows=500"), "{as_trainer}");
    assert!(
        as_trainer.contains(" consumer=local:") && as_trainer.contains(" as trainer purpose="),
        "{as_trainer}"
    );

    // A torn final line (a writer that died mid-record) is skipped with a warning, not an
    // error.
    let log = repo.join(".tessera/audit/audit.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str(r#"{"time":"2026-01-01T00:00:00Z","act"#);
    std::fs::write(&log, text).unwrap();
    let out = tessera(&["audit", "tail", "--repo", r, "-n", "3"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipped a torn final record"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).matches("DENY").count(),
        2
    );
    assert!(ok(&["audit", "query", "--repo", r, "--decision", "deny"]).contains("DENY"));

    // A breaking change shows in plan, and apply keeps the history.
    let defs = repo.join("features/media.yaml");
    let text = std::fs::read_to_string(&defs).unwrap();
    std::fs::write(
        &defs,
        text.replace(
            "{ name: like_rate_1d, type: float64",
            "{ name: like_rate_1d, type: float64, description: changed",
        ),
    )
    .unwrap();
    let plan = ok(&["plan", "--repo", r]);
    assert!(
        plan.contains("~ feature_view `item_popularity`") && plan.contains("0 breaking"),
        "{plan}"
    );
    ok(&["apply", "--repo", r]);
    let hist = ok(&["registry", "history", "--repo", r]);
    assert!(hist.contains("v1") && hist.contains("v2"), "{hist}");
    let v1 = ok(&[
        "registry",
        "show",
        "--repo",
        r,
        "--version",
        "1",
        "--format",
        "json",
    ]);
    assert!(v1.contains("\"version\": 1"), "{v1}");
    assert!(fails(&["registry", "show", "--repo", r, "--version", "9"]).contains("no version 9"));
    assert!(ok(&["catalog", "--repo", r]).contains("sensitive"));
}

#[test]
fn validation_errors_name_file_object_and_fix() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    let r = s(&repo);
    ok(&["init", "--template", "media", r]);
    // These checks are of media.yaml alone (a genre of the wrong type would also break the
    // on-demand view's `genre = top_genre_1d`, reported first).
    std::fs::remove_file(repo.join("features/on_demand.yaml")).unwrap();
    let defs = repo.join("features/media.yaml");
    let text = std::fs::read_to_string(&defs).unwrap();
    let broken = text
        .replace("source: item_daily\n", "source: item_dayly\n")
        .replace("{ name: genre, type: string", "{ name: genre, type: int64")
        .replace("user_activity:skips_1d", "user_activity:skipz");
    std::fs::write(&defs, broken).unwrap();
    let e = fails(&["plan", "--repo", r]);
    assert!(
        e.contains(
            "features/media.yaml: feature_view `item_popularity`: unknown source `item_dayly`"
        ),
        "{e}"
    );
    assert!(e.contains("unknown feature `user_activity:skipz`"), "{e}");
    std::fs::write(
        &defs,
        text.replace("{ name: genre, type: string", "{ name: genre, type: int64"),
    )
    .unwrap();
    let e = fails(&["apply", "--repo", r]);
    assert!(
        e.contains("feature `genre` is declared int64 but column `genre` holds Utf8"),
        "{e}"
    );
    std::fs::write(&defs, text.replace("ttl: 7d", "ttl: 7 days")).unwrap();
    let e = fails(&["plan", "--repo", r]);
    assert!(e.contains("`7 days` is not a duration"), "{e}");
    assert!(fails(&["plan", "--repo", s(d.path())]).contains("no tessera.yaml"));
}

/// The values of an integer column of a Parquet file (a training set), in row order.
fn int_column(path: &Path, name: &str) -> Vec<Option<i64>> {
    use arrow::array::{Array, Int64Array};
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let col = batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", batch.schema().fields()));
        let col = arrow::compute::cast(col, &arrow::datatypes::DataType::Int64).unwrap();
        let col = col.as_any().downcast_ref::<Int64Array>().unwrap();
        out.extend((0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i))));
    }
    out
}
