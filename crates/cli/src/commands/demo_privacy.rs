//! The privacy half of `tessera demo`: one user's features read raw for ranking and minimised
//! for analytics, a consent withdrawal taking effect online and in a training set, and an
//! erasure followed by its byte-level verification.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tessera_server::{flush_audit, serve_http, Auth, TokenTable};

use super::serve::{prepare, ServeArgs};
use super::training_set::TrainingSetArgs;
use crate::http_client::HttpClient;

/// The features shown raw and minimised.
const PROFILE: [&str; 3] = [
    "user_activity:top_genre_1d",
    "user_activity:avg_dwell_s_1d",
    "user_activity:skips_1d",
];

/// The user whose consent is withdrawn and who is then erased, and a user who keeps consent.
const WITHDRAWN: i64 = 7;
const KEPT: i64 = 8;

/// Runs the privacy steps from `first_step`; returns the next step number.
pub(crate) async fn run(dir: &Path, first_step: usize) -> Result<usize> {
    let mut step = first_step;
    let tokens: Vec<(String, String)> = ["ranker", "dashboard", "ads", "privacy_desk"]
        .iter()
        .map(|c| (super::demo_online::random_token(c), c.to_string()))
        .collect();
    let token = |c: &str| -> &str {
        tokens
            .iter()
            .find(|(_, n)| n == c)
            .map_or("", |(t, _)| t.as_str())
    };
    let table = TokenTable::new(tokens.clone())?;
    let args = ServeArgs::for_repo(dir)?;
    let prepared = prepare(&args, Some(Auth::Bearer(Arc::new(table)))).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a loopback port for the demo server")?;
    let addr: SocketAddr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_http(listener, prepared.state.clone(), async move {
        let _ = stop_rx.await;
    }));
    let online = async {
        let mut client = HttpClient::connect(addr).await?;
        minimised_read(&mut client, token("ranker"), token("dashboard"), step).await?;
        step += 1;
        consent_online(&mut client, token("ads"), token("privacy_desk"), step).await
    }
    .await;
    let _ = stop_tx.send(());
    server.await.context("the demo server panicked")?;
    flush_audit(&prepared.state).await?;
    drop(prepared);
    online?;

    step += 1;
    consent_training_set(dir, step).await?;
    step += 1;
    erasure(dir, step).await?;
    Ok(step + 1)
}

async fn minimised_read(
    client: &mut HttpClient,
    ranker: &str,
    dashboard: &str,
    step: usize,
) -> Result<()> {
    println!("\n{step}. Privacy, minimisation: user {WITHDRAWN}'s profile read raw by the `ranker` (purpose ranking) and by the `dashboard` (purpose analytics, which may read these personal features only in the reduced form its `minimise:` entries give):");
    let mut shown = Vec::new();
    for (who, token, purpose) in [
        ("ranker", ranker, "ranking"),
        ("dashboard", dashboard, "analytics"),
    ] {
        let body = json!({
            "features": PROFILE,
            "entities": {"user_id": [WITHDRAWN]},
            "purpose": purpose,
        });
        let r = client.post_json("/v1/features", Some(token), &body).await?;
        if r.status != 200 {
            bail!(
                "the demo read for {purpose} failed with {}: {}",
                r.status,
                r.body
            );
        }
        shown.push((who, purpose, first_values(&r.body)));
    }
    println!(
        "   {:<30} {:<26} {:<26}",
        "feature", "ranking (raw)", "analytics (minimised)"
    );
    for (i, f) in PROFILE.iter().enumerate() {
        let raw = shown[0].2.get(i).map_or("-".into(), |v| v.to_string());
        let min = shown[1].2.get(i).map_or("-".into(), |v| v.to_string());
        println!("   {f:<30} {raw:<26} {min:<26}");
    }
    println!("   the same transforms apply to training sets, gRPC, Feast's route, `tessera get` and devices; each audit record names them");
    Ok(())
}

/// The first entity's value of each feature of a native response.
fn first_values(body: &Value) -> Vec<Value> {
    body["features"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["values"][0].clone())
        .collect()
}

/// The statuses of each entity for the first feature of a native response.
fn statuses(body: &Value) -> Vec<String> {
    body["features"][0]["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap_or("?").to_string())
        .collect()
}

async fn consent_online(client: &mut HttpClient, ads: &str, desk: &str, step: usize) -> Result<()> {
    println!("\n{step}. Privacy, consent: purpose `personalised_ads` requires each user's consent. The `ads` consumer reads users {WITHDRAWN} and {KEPT}; the `privacy_desk` records consent changes (POST /v1/consent):");
    let read = json!({
        "features": ["user_activity:plays_1d"],
        "entities": {"user_id": [WITHDRAWN, KEPT]},
        "purpose": "personalised_ads",
    });
    let show = |label: &str, body: &Value| {
        let v = first_values_all(body);
        println!(
            "   {label:<44} statuses {:<32} values {}",
            format!("{:?}", statuses(body)),
            v
        );
    };
    let r = client.post_json("/v1/features", Some(ads), &read).await?;
    show("before any consent:", &r.body);
    let ninety_days_ago = chrono::Utc::now() - chrono::Duration::days(90);
    let grant = json!({
        "purpose": "personalised_ads",
        "entities": {"user_id": [WITHDRAWN.to_string(), KEPT.to_string()]},
        "state": "granted",
        "at": ninety_days_ago.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    let g = client.post_json("/v1/consent", Some(desk), &grant).await?;
    if g.status != 200 {
        bail!("recording consent failed with {}: {}", g.status, g.body);
    }
    let r = client.post_json("/v1/features", Some(ads), &read).await?;
    show("both granted (90 days ago):", &r.body);
    let withdraw = json!({
        "purpose": "personalised_ads",
        "entities": {"user_id": [WITHDRAWN.to_string()]},
        "state": "withdrawn",
    });
    let w = client
        .post_json("/v1/consent", Some(desk), &withdraw)
        .await?;
    if w.status != 200 {
        bail!("withdrawing consent failed with {}: {}", w.status, w.body);
    }
    let r = client.post_json("/v1/features", Some(ads), &read).await?;
    show(&format!("user {WITHDRAWN} withdraws (now):"), &r.body);
    Ok(())
}

/// The values of the first feature of a native response, as JSON text.
fn first_values_all(body: &Value) -> String {
    body["features"][0]["values"].to_string()
}

async fn consent_training_set(dir: &Path, step: usize) -> Result<()> {
    println!("\n{step}. The withdrawal in a training set: the `ads` consumer builds one for `personalised_ads` from the same spine; rows need consent at their time and now:");
    let out = dir.join("ads_train.parquet");
    let args = TrainingSetArgs {
        repo: dir.to_path_buf(),
        spine: dir.join("data/spine.parquet"),
        service: None,
        features: vec!["user_activity:plays_1d".into()],
        purpose: Some("personalised_ads".into()),
        consumer: Some("ads".into()),
        out: Some(out.clone()),
        timestamp_column: "event_timestamp".into(),
        short_names: true,
        quiet: false,
        explain: None,
    };
    super::training_set::run(&args).await?;
    let batch = tessera_offline::read_spine(&out)
        .await
        .context("reading the ads training set back")?;
    for user in [WITHDRAWN, KEPT] {
        let (rows, with_values) = rows_of(&batch, user)?;
        println!("   user {user}: {rows} spine rows, {with_values} with features");
    }
    Ok(())
}

/// (spine rows of `user`, those with a non-null `plays_1d`).
fn rows_of(batch: &arrow::record_batch::RecordBatch, user: i64) -> Result<(usize, usize)> {
    use arrow::array::{Array, Int64Array};
    let users = batch
        .column_by_name("user_id")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .context("the training set has no int64 user_id column")?;
    let plays = batch
        .column_by_name("plays_1d")
        .context("the training set has no plays_1d column")?;
    let mut rows = 0;
    let mut with_values = 0;
    for i in 0..batch.num_rows() {
        if users.is_valid(i) && users.value(i) == user {
            rows += 1;
            if plays.is_valid(i) {
                with_values += 1;
            }
        }
    }
    Ok((rows, with_values))
}

async fn erasure(dir: &Path, step: usize) -> Result<()> {
    println!("\n{step}. Privacy, erasure: user {WITHDRAWN} asks to be forgotten (tessera erase --entity user_id={WITHDRAWN} --verify; a running server erases through POST /v1/erase):");
    super::erase::run(&super::erase::EraseArgs {
        repo: dir.to_path_buf(),
        entities: vec![format!("user_id={WITHDRAWN}")],
        rewrite_sources: true,
        verify: true,
        json: false,
    })
    .await?;
    println!("   (a subject access report lists what is left: tessera subject-report --repo {} --entity user_id={WITHDRAWN})", dir.display());
    Ok(())
}
