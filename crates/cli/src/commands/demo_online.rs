//! The online half of `tessera demo`: materialise, serve, read as a consumer over HTTP, show
//! a refused read, stream events, read on a device (`demo_device`), and report the latencies
//! seen and the last audit records.

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

/// Runs steps 7–15 of the demo in `dir` (already generated and applied); returns the next
/// step number.
pub(crate) async fn run(dir: &Path, first_step: usize) -> Result<usize> {
    let mut step = first_step;
    println!("\n{step}. Materialise the latest values into the embedded online store (tessera materialize --incremental):");
    super::materialize::run(&MaterializeArgs {
        repo: dir.to_path_buf(),
        start: None,
        end: None,
        incremental: true,
        views: vec![],
        batch_rows: tessera_materialize::DEFAULT_BATCH_ROWS,
        quiet: true,
    })
    .await?;

    // The consumers' tokens, as `tessera serve` would read them from TESSERA_TOKEN_*.
    let ranker_token = random_token("ranker");
    let dashboard_token = random_token("dashboard");
    let app_token = random_token("player_app");
    let tokens = TokenTable::new(vec![
        (ranker_token.clone(), "ranker".into()),
        (dashboard_token.clone(), "dashboard".into()),
        (app_token.clone(), "player_app".into()),
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
        "\n{step}. tessera serve: registry version {} on http://{addr} ({} store, bearer tokens for `ranker`, `dashboard` and `player_app`)",
        prepared.version, prepared.store_name
    );

    let result = requests(
        dir,
        addr,
        &ranker_token,
        &dashboard_token,
        &app_token,
        &mut step,
    )
    .await;

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
    Ok(step + 1)
}

async fn requests(
    dir: &Path,
    addr: SocketAddr,
    ranker_token: &str,
    dashboard_token: &str,
    app_token: &str,
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

    stream_events(&mut client, app_token, ranker_token, step).await?;

    super::demo_device::run(dir, addr, &mut client, app_token, step).await?;

    *step += 1;
    println!("\n{step}. Latencies seen by this client (one keep-alive connection, {LATENCY_REQUESTS} sequential requests each, {} build{}):", crate::BUILD, if cfg!(debug_assertions) { "; a release build (`cargo install` or `--release`) is several times faster" } else { "" });
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

/// The live window features of the demo user.
const LIVE: [&str; 5] = [
    "user_live:plays_1h",
    "user_live:plays_1d",
    "user_live:dwell_s_sum_1h",
    "user_live:dwell_s_p90_1d",
    "user_live:recent_items_1d",
];

/// The demo user of the streaming step (no history in the generated data's live stream).
const LIVE_USER: i64 = 7;

async fn live_values(client: &mut HttpClient, token: &str) -> Result<String> {
    let r = client
        .post_json(
            "/v1/features",
            Some(token),
            &json!({"features": LIVE, "entities": {"user_id": [LIVE_USER]}}),
        )
        .await?;
    if r.status != 200 {
        bail!("reading live features failed with {}: {}", r.status, r.body);
    }
    Ok(r.body["features"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            format!(
                "{}={}",
                f["feature"]
                    .as_str()
                    .unwrap_or("?")
                    .trim_start_matches("user_live:"),
                f["values"][0]
            )
        })
        .collect::<Vec<_>>()
        .join("  "))
}

/// Events of the live stream: `n` plays of the demo user, `seconds_ago` before now.
fn play_events(first_id: usize, n: usize, now_us: i64, seconds_ago: i64) -> serde_json::Value {
    let events: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let ts = now_us - seconds_ago * 1_000_000 + i as i64 * 1_000_000;
            json!({
                "user_id": LIVE_USER,
                "item_id": 100 + (first_id + i) as i64 % 7,
                "action": if i % 4 == 3 { "skip" } else { "play" },
                "dwell_s": 30.0 + ((first_id + i) * 37 % 200) as f64,
                "ts": super::materialize::format_time(ts),
                "event_id": format!("demo-{}", first_id + i),
            })
        })
        .collect();
    json!({"source": "live_plays", "events": events})
}

/// Streams play events in through the native push and shows the windowed features change.
async fn stream_events(
    client: &mut HttpClient,
    app_token: &str,
    ranker_token: &str,
    step: &mut usize,
) -> Result<()> {
    *step += 1;
    println!("\n{step}. Streaming: the `player_app` pushes play events of user {LIVE_USER} (POST /v1/push to stream source `live_plays`); the ranker's window features follow:");
    let now_us = chrono::Utc::now().timestamp_micros();
    println!(
        "   before:                 {}",
        live_values(client, ranker_token).await?
    );
    for (label, body) in [
        ("12 events, 10 min ago", (play_events(0, 12, now_us, 600))),
        ("8 events, just now", (play_events(12, 8, now_us, 20))),
        ("the same 8 again", (play_events(12, 8, now_us, 20))),
        ("1 event from 2 h ago", (play_events(40, 1, now_us, 7200))),
    ] {
        let r = client.post_json("/v1/push", Some(app_token), &body).await?;
        if r.status != 200 {
            bail!("the demo push failed with {}: {}", r.status, r.body);
        }
        println!(
            "   push {label:<22} applied {} duplicates {} late {}  →  {}",
            r.body["applied"],
            r.body["duplicates"],
            r.body["late"],
            live_values(client, ranker_token).await?
        );
    }
    let r = client
        .post_json(
            "/v1/push",
            Some(ranker_token),
            &play_events(50, 1, now_us, 5),
        )
        .await?;
    println!(
        "   the ranker may not push (no `writes:`): HTTP {} {}",
        r.status,
        r.body["error"].as_str().unwrap_or("")
    );
    println!(
        "   (the applied events are also in data/live_plays/, the offline log training sets read)"
    );
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
pub(super) fn random_token(consumer: &str) -> String {
    let mut out = format!("demo-{consumer}-");
    for i in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(i);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}
