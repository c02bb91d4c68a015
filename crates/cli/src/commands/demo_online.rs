//! The online half of `tessera demo`: materialise, serve, read as a consumer over HTTP, show
//! a refused read and its audit record, and report the latencies seen.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tessera_server::{flush_audit, serve_http, Auth, TokenTable};

use super::materialize::MaterializeArgs;
use super::serve::{prepare, ServeArgs};
use crate::http_client::HttpClient;

/// Features the ranker reads for one (user, item) pair.
const RANKER_FEATURES: [&str; 8] = [
    "user_activity:plays_1d",
    "user_activity:skips_1d",
    "user_activity:avg_dwell_s_1d",
    "user_activity:top_genre_1d",
    "item_popularity:plays_1d",
    "item_popularity:like_rate_1d",
    "item_content:genre",
    "item_content:duration_s",
];

/// Requests per latency series.
const LATENCY_REQUESTS: usize = 2_000;

/// Runs steps 7–11 of the demo in `dir` (already generated and applied).
pub async fn run(dir: &Path, first_step: usize) -> Result<()> {
    let mut step = first_step;
    println!("\n{step}. Materialise the latest values into the embedded online store (tessera materialize --incremental):");
    super::materialize::run(&MaterializeArgs {
        repo: dir.to_path_buf(),
        start: None,
        end: None,
        incremental: true,
        views: vec![],
        batch_rows: tessera_online::DEFAULT_BATCH_ROWS,
        quiet: true,
    })
    .await?;

    // The consumers' tokens, as `tessera serve` would read them from TESSERA_TOKEN_*.
    let ranker_token = random_token("ranker");
    let dashboard_token = random_token("dashboard");
    let tokens = TokenTable::new(vec![
        (ranker_token.clone(), "ranker".into()),
        (dashboard_token.clone(), "dashboard".into()),
    ])?;
    let args = ServeArgs::for_repo(dir)?;
    let prepared = prepare(&args, Some(Auth::Bearer(Arc::new(tokens)))).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a loopback port for the demo server")?;
    let addr: SocketAddr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_http(listener, prepared.state.clone(), async move {
        let _ = stop_rx.await;
    }));
    step += 1;
    println!(
        "\n{step}. tessera serve: registry version {} on http://{addr} ({} store, bearer tokens for `ranker` and `dashboard`)",
        prepared.version, prepared.store_name
    );

    let result = requests(addr, &ranker_token, &dashboard_token, &mut step).await;

    let _ = stop_tx.send(());
    server.await.context("the demo server panicked")?;
    flush_audit(&prepared.state).await?;
    result?;

    step += 1;
    println!("\n{step}. The audit records of the last two reads (tessera audit tail --repo {} -n 2), written after the latency runs' records:", dir.display());
    super::audit::run(super::audit::AuditCommand::Tail {
        repo: dir.to_path_buf(),
        lines: 2,
        json: false,
    })?;
    Ok(())
}

async fn requests(
    addr: SocketAddr,
    ranker_token: &str,
    dashboard_token: &str,
    step: &mut usize,
) -> Result<()> {
    let mut client = HttpClient::connect(addr).await?;
    let body = json!({
        "features": RANKER_FEATURES,
        "entities": {"user_id": [7, 4_000_000], "item_id": [3, 5]},
        "full_feature_names": true,
    });
    *step += 1;
    println!("\n{step}. The `ranker` reads 8 features of two (user, item) pairs, Feast's way (POST /get-online-features, no purpose: its default `ranking` applies). User 4000000 does not exist:");
    let r = client
        .post_json("/get-online-features", Some(ranker_token), &body)
        .await?;
    if r.status != 200 {
        bail!("the demo read failed with {}: {}", r.status, r.body);
    }
    print_feast_response(&r.body);

    *step += 1;
    println!("\n{step}. The same through the native API (POST /v1/features): typed values, a status and an event time per value:");
    let native = json!({
        "features": ["user_activity:plays_1d", "item_content:genre"],
        "entity_rows": [{"user_id": 7, "item_id": 3}, {"user_id": 4_000_000, "item_id": 5}],
        "purpose": "ranking",
    });
    let r = client
        .post_json("/v1/features", Some(ranker_token), &native)
        .await?;
    if r.status != 200 {
        bail!("the demo read failed with {}: {}", r.status, r.body);
    }
    for f in r.body["features"].as_array().into_iter().flatten() {
        println!(
            "   {:<24} values {:<22} statuses {:<24} event times {}",
            f["feature"].as_str().unwrap_or("?"),
            f["values"].to_string(),
            f["statuses"].to_string(),
            f["event_timestamps"]
        );
    }

    *step += 1;
    println!("\n{step}. A refused read: the `dashboard` (purpose analytics) asks for personal listening data:");
    let refused = json!({
        "features": ["user_activity:plays_1d", "user_activity:top_genre_1d", "item_content:genre"],
        "entities": {"user_id": [7], "item_id": [3]},
        "purpose": "analytics",
    });
    let r = client
        .post_json("/v1/features", Some(dashboard_token), &refused)
        .await?;
    println!(
        "   HTTP {}: {}",
        r.status,
        r.body["message"]
            .as_str()
            .map_or_else(|| r.body.to_string(), str::to_string)
    );
    if r.status != 403 {
        bail!("the demo expected a 403, got {}", r.status);
    }
    let r = client
        .post_json("/v1/features", Some("not-a-token-of-anyone"), &refused)
        .await?;
    println!("   and without a valid token: HTTP {}", r.status);

    *step += 1;
    println!("\n{step}. Latencies seen by this client (one keep-alive connection, {LATENCY_REQUESTS} sequential requests each, debug or release as built):");
    for entities in [1usize, 100] {
        let users: Vec<i64> = (0..entities as i64).collect();
        let items: Vec<i64> = (0..entities as i64).map(|i| i * 7 % 2000).collect();
        let body = json!({
            "features": RANKER_FEATURES,
            "entities": {"user_id": users, "item_id": items},
            "full_feature_names": true,
        });
        let mut lat = Vec::with_capacity(LATENCY_REQUESTS);
        for _ in 0..LATENCY_REQUESTS {
            let t = Instant::now();
            let r = client
                .post_json("/get-online-features", Some(ranker_token), &body)
                .await?;
            lat.push(t.elapsed());
            if r.status != 200 {
                bail!("a latency request failed with {}: {}", r.status, r.body);
            }
        }
        lat.sort();
        println!(
            "   {entities:>3} entit{} x 8 features: p50 {}  p99 {}  max {}",
            if entities == 1 { "y  " } else { "ies" },
            micros(lat[lat.len() / 2]),
            micros(lat[lat.len() * 99 / 100]),
            micros(lat[lat.len() - 1]),
        );
    }
    // The last two audited reads are a successful one and the refusal, in that order.
    let _ = client
        .post_json("/get-online-features", Some(ranker_token), &body)
        .await?;
    let _ = client
        .post_json("/v1/features", Some(dashboard_token), &refused)
        .await?;
    Ok(())
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// Prints a Feast `/get-online-features` response as a small table.
fn print_feast_response(body: &Value) {
    let names = body["metadata"]["feature_names"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let results = body["results"].as_array().cloned().unwrap_or_default();
    for (name, col) in names.iter().zip(&results) {
        println!(
            "   {:<32} values {:<24} statuses {}",
            name.as_str().unwrap_or("?"),
            col["values"].to_string(),
            col["statuses"]
        );
    }
}

/// A token nobody can guess (128 bits from the process's random hasher keys).
fn random_token(consumer: &str) -> String {
    let mut out = format!("demo-{consumer}-");
    for i in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(i);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}
