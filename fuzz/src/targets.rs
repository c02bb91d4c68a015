//! The fuzz targets' bodies, one function per target: any input must return without a
//! panic (and the assertions hold). The fuzz binaries (`fuzz_targets/`) call them, and the
//! server's integration tests include this file (`#[path]`) to replay every committed seed
//! and regression input on stable Rust (`crates/server/tests/it/fuzz_corpus.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tessera_aggregate::{
    AggFunction, AggState, Aggregation, FilterExpr, InputType, TiledAggregate, Value,
    ViewAggregation, ViewSpec, ViewState, Window,
};
use tessera_core::{Catalog, Definitions, FeatureRef, RepoConfig};
use tessera_edge::{decode_cloud_answer, RemoteFeature};
use tessera_expr::{Expr, ExprType};
use tessera_online::{EntityKey, FeatureRow, SelectedRow};
use tessera_server::{decode_request_body, Limits, RequestBody};
use tessera_stream::{decode_columns, json_object_columns, SourceSchema};

/// The definitions the targets decode against (`fuzz/defs/definitions.yaml`).
pub const DEFINITIONS: &str = include_str!("../defs/definitions.yaml");

/// The fuzz definitions, validated.
pub fn catalog() -> Catalog {
    let defs = Definitions::from_yaml_str(DEFINITIONS, Path::new("definitions.yaml"))
        .expect("the fuzz definitions parse");
    Catalog::build(vec![defs]).expect("the fuzz definitions validate")
}

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by name (the seed directories' names).
pub const TARGETS: [(&str, Target); 8] = [
    ("yaml_definitions", yaml_definitions),
    ("filter_expr", filter_expr),
    ("ondemand_expr", ondemand_expr),
    ("http_body", http_body),
    ("online_encoding", online_encoding),
    ("aggregate_state", aggregate_state),
    ("cloud_response", cloud_response),
    ("nats_event", nats_event),
];

// ---- yaml_definitions
/// Definition files and `tessera.yaml` from text: parse, then validate into a catalog.
pub fn yaml_definitions(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = RepoConfig::from_yaml_str(text, Path::new("tessera.yaml"));
    if let Ok(defs) = Definitions::from_yaml_str(text, Path::new("fuzz.yaml")) {
        if let Ok(catalog) = Catalog::build_from_files(vec![(PathBuf::from("fuzz.yaml"), defs)]) {
            // Every view's join keys and features resolve in a valid catalog.
            for view in catalog.feature_views().values() {
                let _ = catalog.join_keys(view);
            }
        }
    }
}

// ---- filter_expr
/// Aggregation filters (`filter: "action = 'skip'"`): parse, type-check, evaluate.
pub fn filter_expr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = FilterExpr::parse(text) else {
        return;
    };
    // Its text parses again to the same filter.
    let again = FilterExpr::parse(filter.as_str()).expect("a parsed filter's text parses");
    assert_eq!(again.columns(), filter.columns());
    let types: BTreeMap<String, InputType> = [
        ("action", InputType::String),
        ("dwell_s", InputType::Float64),
        ("n", InputType::Int64),
        ("ok", InputType::Bool),
    ]
    .into_iter()
    .map(|(k, t)| (k.to_string(), t))
    .collect();
    if filter.check(&types).is_ok() {
        let mut row = BTreeMap::new();
        row.insert("action".to_string(), Value::String("skip".into()));
        row.insert("dwell_s".to_string(), Value::Float64(-0.5));
        row.insert("n".to_string(), Value::Int64(i64::MIN));
        row.insert("ok".to_string(), Value::Bool(true));
        let _ = filter.evaluate(&row);
        row.insert("dwell_s".to_string(), Value::Float64(f64::NAN));
        row.insert("n".to_string(), Value::Int64(i64::MAX));
        let _ = filter.eval(&row);
        let _ = filter.eval(&BTreeMap::<String, Value>::new());
    }
}

// ---- ondemand_expr
/// On-demand feature expressions: compile against typed inputs, then evaluate on edge values.
pub fn ondemand_expr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let inputs: Vec<(String, ExprType)> = [
        ("a", ExprType::Int64),
        ("x", ExprType::Float64),
        ("s", ExprType::String),
        ("b", ExprType::Bool),
        ("t", ExprType::Timestamp),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect();
    let Ok(expr) = Expr::compile(text, &inputs) else {
        return;
    };
    let rows = [
        vec![
            Value::Int64(i64::MIN),
            Value::Float64(f64::NAN),
            Value::String(String::new()),
            Value::Bool(false),
            Value::Timestamp(i64::MAX),
        ],
        vec![
            Value::Int64(-1),
            Value::Float64(0.0),
            Value::String("é\u{0}".into()),
            Value::Bool(true),
            Value::Timestamp(i64::MIN),
        ],
        vec![
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ],
    ];
    for row in &rows {
        let _ = expr.eval(row);
    }
}

// ---- http_body
/// Every HTTP request body the server decodes: the first byte picks the route, the rest is
/// the body (`tessera_server::decode_request_body`, the functions the routes run).
pub fn http_body(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kind = RequestBody::ALL[usize::from(selector) % RequestBody::ALL.len()];
    let limits = Limits::default();
    if let Ok(decoded) = decode_request_body(kind, body, &limits, 10_000) {
        assert!(
            decoded.rows <= 10_000
                || matches!(kind, RequestBody::FeastRead | RequestBody::NativeRead)
        );
        assert!(
            decoded.columns <= limits.max_keys_per_request || matches!(kind, RequestBody::Erase)
        );
    }
}

// ---- online_encoding
/// The online stores' stored bytes (the embedded store and Redis keep the same encodings):
/// entity keys and feature rows, whole and projected.
pub fn online_encoding(data: &[u8]) {
    if let Ok(key) = EntityKey::decode(data) {
        // A decoded key encodes to bytes that decode to the same key.
        let again = EntityKey::decode(&key.encode()).expect("an encoded key decodes");
        assert_eq!(again, key);
    }
    let whole = FeatureRow::decode(data);
    let names = ["plays_1d", "genre", "", "missing"];
    let selected = SelectedRow::decode(data, &names);
    // Both readers accept and refuse the same rows, and agree on what they read.
    assert_eq!(whole.is_ok(), selected.is_ok(), "{whole:?} / {selected:?}");
    if let (Ok(row), Ok(sel)) = (whole, selected) {
        for (name, value) in names.iter().zip(&sel.values) {
            assert_eq!(row.get(name), value.as_ref());
        }
    }
}

// ---- aggregate_state
fn spec() -> ViewSpec {
    let agg = |f: &str, k, input, column: Option<&str>, w: &str| {
        ViewAggregation::new(
            column,
            Aggregation::new(AggFunction::parse(f, k).unwrap(), input).unwrap(),
            Window::parse(w).unwrap(),
        )
        .unwrap()
    };
    let f = Some(InputType::Float64);
    let i = Some(InputType::Int64);
    let s = Some(InputType::String);
    ViewSpec::new(vec![
        agg("count", None, None, None, "1d"),
        agg("sum", None, f, Some("dwell_s"), "1h"),
        agg("sum", None, i, Some("n"), "lifetime"),
        agg("mean", None, f, Some("dwell_s"), "1d"),
        agg("min", None, i, Some("n"), "1d"),
        agg("max", None, s, Some("action"), "7d"),
        agg("last", None, s, Some("action"), "1d"),
        agg("last_k", Some(3), i, Some("n"), "1d"),
        agg("count_distinct", None, s, Some("action"), "1d"),
        agg("approx_count_distinct", None, s, Some("action"), "1d"),
        agg("p90", None, f, Some("dwell_s"), "1d"),
    ])
}

const INSTANTS: [i64; 4] = [i64::MIN, -1, 1_780_000_000_000_000, i64::MAX];

/// Stored aggregation states (the bytes in the online stores' state rows and the stream
/// engine's snapshots): one state, one tiled aggregate, a whole view's state; each decoded
/// state is then finished, merged with itself, evicted and re-encoded.
pub fn aggregate_state(data: &[u8]) {
    if let Ok((state, used)) = AggState::decode(data) {
        assert!(used <= data.len());
        let _ = state.finish();
        let mut merged = state.clone();
        let _ = merged.merge(&state);
        let _ = merged.finish();
        let mut out = Vec::new();
        state.encode(&mut out);
        AggState::decode(&out).expect("an encoded state decodes");
    }
    if let Ok((tiles, used)) = TiledAggregate::decode(data) {
        assert!(used <= data.len());
        for t in INSTANTS.into_iter().chain(tiles.max_ts()) {
            let _ = tiles.value_at(t);
        }
        let mut merged = tiles.clone();
        let _ = merged.merge(&tiles);
        let mut out = Vec::new();
        merged.encode(&mut out);
        TiledAggregate::decode(&out).expect("an encoded tiled aggregate decodes");
        for t in INSTANTS {
            let mut evicted = tiles.clone();
            evicted.evict_before(t);
        }
    }
    let spec = spec();
    if let Ok(view) = ViewState::decode(data, &spec) {
        for t in INSTANTS {
            let _ = view.value_at(t);
            let _ = view.finish_at(t);
        }
        let mut merged = view.clone();
        let _ = merged.merge(&view);
        let mut out = Vec::new();
        merged.encode(&mut out);
        ViewState::decode(&out, &spec).expect("an encoded view state decodes");
        let mut evicted = view.clone();
        evicted.evict_before(INSTANTS[2]);
    }
}

// ---- cloud_response
struct Setup {
    catalog: Catalog,
    features: Vec<RemoteFeature>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let catalog = catalog();
        let features = [
            "user_activity:plays_1d",
            "user_activity:small",
            "user_activity:ratio",
            "user_activity:score",
            "user_activity:active",
            "user_activity:genre",
            "user_activity:blob",
            "user_activity:seen_at",
            "user_activity:recent",
        ]
        .iter()
        .map(|f| RemoteFeature::new(&catalog, &FeatureRef::parse(f).unwrap()).unwrap())
        .collect();
        Setup { catalog, features }
    })
}

/// The device's decoder of the cloud's answers to `POST /v1/features`: the first two bytes
/// pick the status and the entity count, the rest is the body.
pub fn cloud_response(data: &[u8]) {
    let [status, n, body @ ..] = data else {
        return;
    };
    let status = match status % 4 {
        0 | 1 => 200,
        2 => 403,
        _ => 500,
    };
    let s = setup();
    // The answer to a read of all features, and of the first one alone.
    for features in [&s.features[..], &s.features[..1]] {
        if let Ok(cols) = decode_cloud_answer(&s.catalog, status, body, features, usize::from(*n)) {
            assert_eq!(cols.len(), features.len());
        }
    }
}

// ---- nats_event
fn schema() -> &'static SourceSchema {
    static SCHEMA: OnceLock<SourceSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let catalog = catalog();
        let source = &catalog.sources()["plays"];
        SourceSchema::new(&catalog, source).unwrap()
    })
}

/// The stream engine's decoder of NATS messages: one JSON object per message, then typed
/// against the stream source's schema.
pub fn nats_event(data: &[u8]) {
    let Ok(columns) = json_object_columns(data) else {
        return;
    };
    if let Ok(events) = decode_columns(schema(), columns) {
        assert_eq!(events.len(), 1);
    }
}
