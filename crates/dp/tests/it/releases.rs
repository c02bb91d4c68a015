//! Releases end to end over Parquet files: contribution bounding, clipping, lookups,
//! group domains and thresholds, erasure, permission and refusal.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use tessera_core::{AdhocReleaseDef, ReleaseDef};
use tessera_core::{Catalog, Definitions, EntityHasher, ReleaseCostDef};
use tessera_dp::sample::ChaChaSource;
use tessera_dp::{
    run_release, Error, GroupKey, ReleaseAnswer, ReleaseContext, ReleaseRequest, TimeRange,
};

const DEFS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - { name: plays, type: batch, path: plays.parquet, timestamp_field: ts }
  - { name: items, type: batch, path: items.parquet, timestamp_field: ts }
feature_views:
  - name: play_facts
    entities: [user]
    source: plays
    features:
      - { name: action, type: string, classification: public }
      - { name: dwell, type: float64, classification: personal }
purposes:
  - { name: analytics, allows: [public], dp: { budget: { rho: 2000000, delta: 1e-6, per: 30d } } }
  - { name: ranking, allows: [public] }
consumers:
  - { name: dash, token_env: T_DASH, purposes: [analytics, ranking] }
releases:
  - name: plays
    source: plays
    entity: user
    filter: "action = 'play'"
    query: count
    max_rows: 5
    cost: { rho: 1000000 }
  - name: dwell
    source: plays
    entity: user
    filter: "action = 'play'"
    query: sum
    measure: { column: dwell, lo: 0, hi: 10 }
    max_rows: 5
    cost: { rho: 1000000 }
  - name: per_genre
    source: plays
    entity: user
    lookup: { source: items, on: item_id, columns: [genre] }
    query: histogram
    group_by: { column: genre, domain: [pop, rock, jazz] }
    max_rows: 5
    cost: { rho: 1000000 }
  - name: per_genre_action
    source: plays
    entity: user
    lookup: { source: items, on: item_id, columns: [genre] }
    query: histogram
    group_by: { columns: [genre, action], domain: { genre: [pop, rock], action: [play, skip] } }
    max_rows: 5
    cost: { rho: 1000000 }
  - name: genre_action_found
    source: plays
    entity: user
    lookup: { source: items, on: item_id, columns: [genre] }
    query: histogram
    group_by: { column: [action, genre], domain: { action: [play] }, threshold_delta: 1e-9 }
    max_rows: 1
    cost: { rho: 0.5 }
  - name: genres_found
    source: plays
    entity: user
    lookup: { source: items, on: item_id, columns: [genre] }
    query: histogram
    group_by: { column: genre, threshold_delta: 1e-9 }
    max_rows: 1
    cost: { rho: 0.5 }
"#;

fn write(path: &Path, cols: Vec<(&str, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
            .collect::<Vec<_>>(),
    ));
    let batch =
        RecordBatch::try_new(schema.clone(), cols.into_iter().map(|c| c.1).collect()).unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// User 1 plays 500 times (item 1, pop); users 2..=51 once each (item 2, rock); user 60
/// once (item 3, polka, a genre nobody else plays); every play has dwell 100. Plus 10 skips.
fn repo() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let mut users = vec![1i64; 500];
    let mut items = vec![1i64; 500];
    users.extend(2..=51);
    items.extend(std::iter::repeat_n(2, 50));
    users.push(60);
    items.push(3);
    let n = users.len();
    let mut action = vec!["play"; n];
    users.extend(std::iter::repeat_n(7, 10));
    items.extend(std::iter::repeat_n(2, 10));
    action.extend(std::iter::repeat_n("skip", 10));
    let n = users.len();
    let ts: Vec<i64> = (0..n as i64)
        .map(|i| 1_700_000_000_000_000 + i * 1_000_000)
        .collect();
    let tsa = |v: Vec<i64>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
    };
    write(
        &dir.path().join("plays.parquet"),
        vec![
            ("user_id", Arc::new(Int64Array::from(users)) as ArrayRef),
            ("item_id", Arc::new(Int64Array::from(items))),
            ("ts", tsa(ts)),
            ("action", Arc::new(StringArray::from(action))),
            ("dwell", Arc::new(Float64Array::from(vec![100.0; n]))),
        ],
    );
    write(
        &dir.path().join("items.parquet"),
        vec![
            (
                "item_id",
                Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
            ),
            (
                "genre",
                Arc::new(StringArray::from(vec!["pop", "rock", "polka"])),
            ),
            ("ts", tsa(vec![0, 0, 0])),
        ],
    );
    let defs = Definitions::from_yaml_str(DEFS, "t.yaml".as_ref()).unwrap();
    (dir, Catalog::build(vec![defs]).unwrap())
}

async fn run(
    root: &Path,
    catalog: &Catalog,
    release: &str,
    purpose: &str,
    erased: &HashSet<String>,
    cost: Option<ReleaseCostDef>,
) -> Result<ReleaseAnswer, Error> {
    let def = catalog.release(release).unwrap().clone();
    run_def(root, catalog, def, false, purpose, erased, cost).await
}

async fn run_def(
    root: &Path,
    catalog: &Catalog,
    release: ReleaseDef,
    adhoc: bool,
    purpose: &str,
    erased: &HashSet<String>,
    cost: Option<ReleaseCostDef>,
) -> Result<ReleaseAnswer, Error> {
    let cx = ReleaseContext {
        root,
        catalog,
        hasher: Arc::new(EntityHasher::from_key(b"test key")),
        erased,
    };
    let req = ReleaseRequest {
        release,
        consumer: "dash".into(),
        purpose: purpose.into(),
        cost,
        range: TimeRange::default(),
        adhoc,
    };
    run_release(
        &cx,
        &req,
        &mut ChaChaSource::seeded(3),
        1_700_000_000_000_000,
    )
    .await
}

fn values(a: &ReleaseAnswer) -> Vec<(Option<String>, f64)> {
    a.groups
        .iter()
        .map(|g| (g.group.as_ref().map(GroupKey::label), g.value.unwrap()))
        .collect()
}

#[tokio::test]
async fn an_entity_contributes_at_most_max_rows_and_values_are_clipped() {
    let (dir, catalog) = repo();
    let none = HashSet::new();
    // ρ = 10^6: σ² = 25 / (2·10^6), so the noise is 0 with overwhelming probability.
    let a = run(dir.path(), &catalog, "plays", "analytics", &none, None)
        .await
        .unwrap();
    assert_eq!(
        values(&a),
        [(None, 5.0 + 50.0 + 1.0)],
        "user 1's 500 plays count 5; skips none"
    );
    assert_eq!(a.mechanism, "discrete_gaussian");
    assert_eq!(a.cost.rho, 1e6);
    let a = run(dir.path(), &catalog, "dwell", "analytics", &none, None)
        .await
        .unwrap();
    assert_eq!(
        values(&a),
        [(None, 56.0 * 10.0)],
        "each dwell of 100 is clipped to 10"
    );
    let s = a.noise.sum.unwrap();
    assert_eq!(s.sensitivity, 50.0, "5 rows × 10");
    assert!(a.budget.remaining_rho < 2e6 && a.budget.spent_rho == 2e6 - a.budget.remaining_rho);
}

#[tokio::test]
async fn lookups_group_over_a_public_domain() {
    let (dir, catalog) = repo();
    let a = run(
        dir.path(),
        &catalog,
        "per_genre",
        "analytics",
        &HashSet::new(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        values(&a),
        [
            (Some("pop".into()), 5.0),
            (Some("rock".into()), 49.0 + 5.0),
            (Some("jazz".into()), 0.0)
        ],
        "domain order; user 7's 11 rock rows (1 play, 10 skips: no filter here) count 5; \
         a domain value with no rows is released too; polka is not in it"
    );
    assert_eq!(a.group_selection, "domain");
}

#[tokio::test]
async fn a_threshold_hides_groups_of_a_single_entity() {
    let (dir, catalog) = repo();
    let a = run(
        dir.path(),
        &catalog,
        "genres_found",
        "analytics",
        &HashSet::new(),
        None,
    )
    .await
    .unwrap();
    let groups: Vec<_> = a
        .groups
        .iter()
        .map(|g| g.group.as_ref().unwrap().label())
        .collect();
    assert_eq!(
        groups,
        ["rock"],
        "pop (one user, 1 row after bounding) and polka are hidden"
    );
    let tau = a.threshold.unwrap();
    assert!(tau > 1, "{tau}");
    assert_eq!(a.cost.delta, 1e-9);
}

#[tokio::test]
async fn erased_entities_are_left_out() {
    let (dir, catalog) = repo();
    let hasher = EntityHasher::from_key(b"test key");
    let erased: HashSet<String> = [hasher.digest(&[("user_id", "1")])].into();
    let a = run(dir.path(), &catalog, "plays", "analytics", &erased, None)
        .await
        .unwrap();
    assert_eq!(values(&a), [(None, 51.0)]);
}

#[tokio::test]
async fn permission_comes_first_and_the_budget_refuses_the_excess() {
    let (dir, catalog) = repo();
    let none = HashSet::new();
    let e = run(dir.path(), &catalog, "plays", "ranking", &none, None)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("has no differential-privacy budget"),
        "{e}"
    );
    assert!(
        !dir.path().join(tessera_dp::BUDGET_JOURNAL).exists(),
        "nothing charged"
    );
    run(dir.path(), &catalog, "plays", "analytics", &none, None)
        .await
        .unwrap();
    let big = Some(ReleaseCostDef {
        rho: Some(1.5e6),
        epsilon: None,
    });
    let e = run(dir.path(), &catalog, "plays", "analytics", &none, big)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BudgetExceeded { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("ρ = 1000000 (δ = 0.000001) of ρ = 2000000"),
        "{e}"
    );
    let wrong = Some(ReleaseCostDef {
        rho: None,
        epsilon: Some(1.0),
    });
    let a = run(dir.path(), &catalog, "plays", "analytics", &none, wrong)
        .await
        .unwrap();
    assert_eq!(a.mechanism, "discrete_laplace");
}

#[tokio::test]
async fn several_columns_group_by_key_tuples() {
    let (dir, catalog) = repo();
    let a = run(
        dir.path(),
        &catalog,
        "per_genre_action",
        "analytics",
        &HashSet::new(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(a.group_by, ["genre", "action"]);
    let v = values(&a);
    let labels: Vec<_> = v.iter().map(|x| x.0.clone().unwrap()).collect();
    assert_eq!(
        labels,
        ["pop, play", "pop, skip", "rock, play", "rock, skip"],
        "the domains' product, in declared order, empty tuples too"
    );
    assert_eq!(
        (v[0].1, v[1].1),
        (5.0, 0.0),
        "user 1's 500 pop plays count 5"
    );
    // User 7's 11 rock rows (1 play, 10 skips) count 5 in all: the bound is per entity
    // across groups, not per group.
    assert_eq!(v[2].1 + v[3].1, 49.0 + 5.0);
    assert!((4.0..=5.0).contains(&v[3].1), "{v:?}");
    let j = serde_json::to_value(&a).unwrap();
    assert_eq!(j["groups"][0]["group"], serde_json::json!(["pop", "play"]));
    assert_eq!(j["group_by"], serde_json::json!(["genre", "action"]));
}

#[tokio::test]
async fn a_threshold_over_tuples_hides_a_single_entitys_tuple() {
    let (dir, catalog) = repo();
    let a = run(
        dir.path(),
        &catalog,
        "genre_action_found",
        "analytics",
        &HashSet::new(),
        None,
    )
    .await
    .unwrap();
    let groups: Vec<_> = a
        .groups
        .iter()
        .map(|g| g.group.as_ref().unwrap().label())
        .collect();
    assert_eq!(
        groups,
        ["play, rock"],
        "(play, pop) and (play, polka) are each one user's; skips are outside the domain"
    );
    assert_eq!(a.group_selection, "threshold");
}

fn adhoc(json: &str) -> ReleaseDef {
    serde_json::from_str::<AdhocReleaseDef>(json)
        .unwrap()
        .to_release()
}

#[tokio::test]
async fn an_adhoc_release_runs_within_the_policy_gate() {
    let (dir, catalog) = repo();
    let none = HashSet::new();
    let rho = |r: f64| {
        Some(ReleaseCostDef {
            rho: Some(r),
            epsilon: None,
        })
    };
    let ok = adhoc(
        r#"{"source": "plays", "entity": "user", "query": "histogram", "max_rows": 5,
            "filter": "action = 'play'",
            "group_by": {"column": "action", "domain": ["play"]}}"#,
    );
    let a = run_def(
        dir.path(),
        &catalog,
        ok.clone(),
        true,
        "analytics",
        &none,
        rho(1e6),
    )
    .await
    .unwrap();
    assert_eq!(a.release, "adhoc_histogram");
    assert_eq!(values(&a), [(Some("play".into()), 5.0 + 50.0 + 1.0)]);
    assert_eq!(a.budget.spent_rho, 1e6, "charged to the same accountant");

    // Over the budget: refused, stating what is left.
    let e = run_def(
        dir.path(),
        &catalog,
        ok,
        true,
        "analytics",
        &none,
        rho(1.5e6),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::BudgetExceeded { .. }), "{e}");
    assert!(e.to_string().contains("ρ = 1000000"), "{e}");

    // A personal measure under a purpose that allows only public data: refused before
    // anything is read or charged.
    let personal = adhoc(
        r#"{"source": "plays", "entity": "user", "query": "sum", "max_rows": 5,
            "measure": {"column": "dwell", "lo": 0, "hi": 10}}"#,
    );
    let e = run_def(
        dir.path(),
        &catalog,
        personal,
        true,
        "analytics",
        &none,
        rho(1.0),
    )
    .await
    .unwrap_err();
    assert!(e.is_refusal(), "{e}");
    assert!(
        e.to_string()
            .contains("measure column `dwell` of source `plays` is personal, which purpose `analytics` does not allow"),
        "{e}"
    );
    // Unclassified group columns and lookups are refused too; the same checks as a declared
    // release come first.
    let mut looked_up = catalog.release("per_genre").unwrap().clone();
    looked_up.name = "adhoc_histogram".into();
    let e = run_def(
        dir.path(),
        &catalog,
        looked_up,
        true,
        "analytics",
        &none,
        rho(1.0),
    )
    .await
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("group column `genre` of source `plays` has no classification"),
        "{text}"
    );
    assert!(text.contains("takes no `lookup`"), "{text}");
    let unknown = adhoc(r#"{"source": "nope", "entity": "user", "query": "count", "max_rows": 1}"#);
    let e = run_def(
        dir.path(),
        &catalog,
        unknown,
        true,
        "analytics",
        &none,
        rho(1.0),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::Query { .. }), "{e}");
    assert!(e.to_string().contains("unknown source `nope`"), "{e}");
    let a = tessera_dp::Accountant::for_repo(dir.path());
    let b = tessera_dp::authorize(&catalog, "dash", "analytics").unwrap();
    let status = a
        .status("dash", "analytics", &b, 1_700_000_000_000_000)
        .unwrap();
    assert_eq!(status.spent_rho, 1e6, "refusals cost nothing");
}
