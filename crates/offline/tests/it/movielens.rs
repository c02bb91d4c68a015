//! Real data: MovieLens 100K (from the recbole wheel, fetched into a cache by
//! `scripts/fetch-data.sh`). User and item features over the ratings, and a point-in-time
//! training set for every rating event, checked against the reference implementation.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, StringArray, TimestampSecondArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use tessera_core::FeatureRef;

use crate::fixtures::{run, write_parquet, write_repo, Run};
use crate::reference::{pit, Row};

fn data_dir() -> PathBuf {
    let base = std::env::var_os("TESSERA_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/tessera/data")
        });
    let dir = base.join("ml-100k");
    if !dir.join("ml-100k.inter").exists() {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-data.sh");
        let ok = std::process::Command::new("bash")
            .arg(&script)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "MovieLens 100K is missing and {} failed: run it by hand",
            script.display()
        );
    }
    dir
}

fn tsv(path: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

const DEFS: &str = r#"
entities:
  - { name: user, join_keys: [user_id] }
  - { name: item, join_keys: [item_id] }
sources:
  - { name: user_hist, type: batch, path: data/user_hist.parquet, timestamp_field: ts }
  - { name: item_hist, type: batch, path: data/item_hist.parquet, timestamp_field: ts }
  - { name: users, type: batch, path: data/users.parquet, timestamp_field: ts }
feature_views:
  - name: user_ratings
    entities: [user]
    source: user_hist
    ttl: 30d
    features:
      - { name: n_ratings, type: int64, classification: personal }
      - { name: mean_rating, type: float64, classification: personal }
  - name: item_ratings
    entities: [item]
    source: item_hist
    ttl: 90d
    features:
      - { name: n_ratings, type: int64, classification: internal }
      - { name: mean_rating, type: float64, classification: internal }
  - name: user_profile
    entities: [user]
    source: users
    features:
      - { name: age, type: int64, classification: personal }
      - { name: occupation, type: string, classification: personal }
purposes: [{ name: training, allows: [internal, personal] }]
"#;

#[tokio::test]
async fn movielens_training_set_matches_reference() {
    let ml = data_dir();
    let inter = tsv(&ml.join("ml-100k.inter"));
    let users = tsv(&ml.join("ml-100k.user"));
    assert_eq!(inter.len(), 100_000);
    // (user, item, rating, ts) in file order (the spine), and sorted by time (the history)
    let spine_rows: Vec<(i64, i64, f64, i64)> = inter
        .iter()
        .map(|r| {
            (
                r[0].parse().unwrap(),
                r[1].parse().unwrap(),
                r[2].parse().unwrap(),
                r[3].parse().unwrap(),
            )
        })
        .collect();
    let mut ev = spine_rows.clone();
    ev.sort_by_key(|e| (e.3, e.0, e.1));

    // Running per-entity history, knowable one second after each rating; one row per
    // (entity, second), holding every rating up to that second.
    let hist = |key: fn(&(i64, i64, f64, i64)) -> i64| {
        let mut acc: HashMap<i64, (i64, f64)> = HashMap::new();
        let mut out: Vec<(i64, i64, i64, f64)> = Vec::new();
        let mut last: HashMap<i64, usize> = HashMap::new();
        for e in &ev {
            let a = acc.entry(key(e)).or_default();
            a.0 += 1;
            a.1 += e.2;
            let row = (key(e), e.3 + 1, a.0, a.1 / a.0 as f64);
            match last.get(&key(e)) {
                Some(&i) if out[i].1 == row.1 => out[i] = row,
                _ => {
                    last.insert(key(e), out.len());
                    out.push(row);
                }
            }
        }
        out
    };
    let user_hist = hist(|e| e.0);
    let item_hist = hist(|e| e.1);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write_repo(dir, DEFS);
    let sec_field = |n: &str| Field::new(n, DataType::Timestamp(TimeUnit::Second, None), false);
    for (name, key, h) in [
        ("user_hist", "user_id", &user_hist),
        ("item_hist", "item_id", &item_hist),
    ] {
        let b = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new(key, DataType::Int64, false),
                sec_field("ts"),
                Field::new("n_ratings", DataType::Int64, false),
                Field::new("mean_rating", DataType::Float64, false),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values(h.iter().map(|x| x.0))),
                Arc::new(TimestampSecondArray::from_iter_values(
                    h.iter().map(|x| x.1),
                )),
                Arc::new(Int64Array::from_iter_values(h.iter().map(|x| x.2))),
                Arc::new(Float64Array::from_iter_values(h.iter().map(|x| x.3))),
            ],
        )
        .unwrap();
        write_parquet(&dir.join(format!("data/{name}.parquet")), &b);
    }
    let profile = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, false),
            sec_field("ts"),
            Field::new("age", DataType::Int64, false),
            Field::new("occupation", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(
                users.iter().map(|u| u[0].parse::<i64>().unwrap()),
            )),
            Arc::new(TimestampSecondArray::from_iter_values(
                users.iter().map(|_| 0),
            )),
            Arc::new(Int64Array::from_iter_values(
                users.iter().map(|u| u[1].parse::<i64>().unwrap()),
            )),
            Arc::new(StringArray::from_iter_values(
                users.iter().map(|u| u[3].clone()),
            )),
        ],
    )
    .unwrap();
    write_parquet(&dir.join("data/users.parquet"), &profile);
    // Spine: every rating event in file order; label = rating.
    let spine = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, false),
            Field::new("item_id", DataType::Int64, false),
            sec_field("event_timestamp"),
            Field::new("rating", DataType::Float64, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(spine_rows.iter().map(|s| s.0))),
            Arc::new(Int64Array::from_iter_values(spine_rows.iter().map(|s| s.1))),
            Arc::new(TimestampSecondArray::from_iter_values(
                spine_rows.iter().map(|s| s.3),
            )),
            Arc::new(Float64Array::from_iter_values(
                spine_rows.iter().map(|s| s.2),
            )),
        ],
    )
    .unwrap();
    write_parquet(&dir.join("spine.parquet"), &spine);

    let set = run(&Run {
        repo: dir.to_path_buf(),
        spine: dir.join("spine.parquet"),
        features: FeatureRef::parse_list("user_ratings:n_ratings,user_ratings:mean_rating,item_ratings:n_ratings,item_ratings:mean_rating,user_profile:age,user_profile:occupation").unwrap(),
        partitions: 2,
        chunk_rows: 4096,
        candidate_filter: true,
    })
    .await
    .unwrap();
    let b = set.batch;
    assert_eq!(b.num_rows(), 100_000);

    // Reference: brute force per key (rows grouped by key keep it fast enough).
    for (view, h, key_of, ttl_days) in [
        ("user_ratings", &user_hist, 0usize, 30i64),
        ("item_ratings", &item_hist, 1usize, 90i64),
    ] {
        let mut by_key: HashMap<i64, Vec<Row>> = HashMap::new();
        for (i, x) in h.iter().enumerate() {
            by_key.entry(x.0).or_default().push(Row {
                key: Some(x.0),
                ts: Some(x.1),
                created: None,
                value: Some(x.3),
                row_id: i as i64,
            });
        }
        let n = b
            .column_by_name(&format!("{view}__n_ratings"))
            .unwrap()
            .as_primitive::<Int64Type>();
        let m = b
            .column_by_name(&format!("{view}__mean_rating"))
            .unwrap()
            .as_primitive::<Float64Type>();
        let mut matched = 0;
        for (i, s) in spine_rows.iter().enumerate() {
            let k = if key_of == 0 { s.0 } else { s.1 };
            let want = pit(
                by_key.get(&k).map_or(&[][..], Vec::as_slice),
                &[(Some(k), s.3)],
                Some(ttl_days * 86_400),
            )[0];
            match want {
                None => assert!(
                    n.is_null(i) && m.is_null(i),
                    "{view} row {i}: expected null"
                ),
                Some(id) => {
                    matched += 1;
                    let x = h[id as usize];
                    assert_eq!(n.value(i), x.2, "{view} row {i}");
                    assert_eq!(m.value(i), x.3, "{view} row {i}");
                }
            }
        }
        assert!(
            matched > 50_000,
            "{view}: most ratings have recent history ({matched})"
        );
        assert!(
            matched < 100_000,
            "{view}: a user's first rating has no earlier history"
        );
    }
    // Static profile: unlimited TTL, always present for known users.
    let occ = b
        .column_by_name("user_profile__occupation")
        .unwrap()
        .as_string::<i32>();
    let age = b
        .column_by_name("user_profile__age")
        .unwrap()
        .as_primitive::<Int64Type>();
    let profile_of: HashMap<i64, (&str, i64)> = users
        .iter()
        .map(|u| {
            (
                u[0].parse().unwrap(),
                (u[3].as_str(), u[1].parse().unwrap()),
            )
        })
        .collect();
    for (i, s) in spine_rows.iter().enumerate() {
        let (o, a) = profile_of[&s.0];
        assert_eq!(occ.value(i), o);
        assert_eq!(age.value(i), a);
    }
}
