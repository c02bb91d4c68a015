//! The device step of `tessera demo`: one read on a simulated device (the `tessera-edge`
//! runtime) answered at once from the device's own signals, the cloud's history, content
//! metadata and an on-demand feature, with every byte between device and cloud captured by
//! a proxy and checked for device-only data.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value as Json};
use tessera_core::{Catalog, FeatureRef, Placement, SourceType};
use tessera_edge::wire_capture::{http_messages, Capture, CaptureProxy};
use tessera_edge::{Device, DeviceConfig, Event, RequestContext};
use tessera_online::{KeyValue, Value};

use crate::http_client::HttpClient;

/// The user and item of the device read.
const USER: i64 = 7;
const ITEM: i64 = 3;

/// The features of the device read: device-only signals, cloud history, content metadata
/// and on-demand features, in one request.
const FEATURES: [&str; 11] = [
    "device_session:network",
    "device_session:locale",
    "device_recent:plays_1h",
    "device_recent:dwell_s_sum_1h",
    "device_recent:recent_items_1d",
    "user_activity:plays_1d",
    "user_history:plays_7d",
    "item_content:genre",
    "item_content:duration_s",
    "user_item_affinity:evening_plays_7d",
    "user_item_affinity:genre_match",
];

/// One answered value, printable.
struct Row {
    feature: String,
    status: &'static str,
    provider: &'static str,
    value: String,
}

/// What the device thread hands back.
struct DeviceRead {
    rows: Vec<Row>,
    /// Device-only values as the device answered them.
    device_only_values: Vec<(String, Value)>,
    cloud_calls: u64,
    cloud_error: Option<String>,
}

/// Runs the device step against the demo server at `server` (through a capture proxy);
/// `client` and `app_token` ask the server for its own plan of the cloud features.
pub(crate) async fn run(
    dir: &Path,
    server: SocketAddr,
    client: &mut HttpClient,
    app_token: &str,
    step: &mut usize,
) -> Result<()> {
    *step += 1;
    println!("\n{step}. One read on a device: the device runtime (tessera-edge `Device`, as an app embeds it) answers device signals, cloud history, content metadata and on-demand features at once. It talks to this server through a proxy that records every byte:");
    let device_dir = dir.join(".device");
    if device_dir.exists() {
        // A fresh device each run: its cache would otherwise answer without asking the cloud.
        std::fs::remove_dir_all(&device_dir).with_context(|| {
            format!("removing the previous demo device {}", device_dir.display())
        })?;
    }
    let catalog = tessera_edge::catalog_from_repo(dir)?;
    let proxy = CaptureProxy::start(server).context("starting the capture proxy")?;
    let config = DeviceConfig {
        server_url: Some(proxy.url()),
        token: Some(app_token.to_string()),
        purpose: "ranking".into(),
        // A debug build on a busy machine: leave the first cloud call time to answer.
        remote_timeout: Duration::from_secs(10),
        ..DeviceConfig::default()
    };
    let mut context = RequestContext::new();
    context.insert("hour_of_day".into(), Value::Int64(21));
    context.insert("session_id".into(), Value::String("sess-7f3a-car".into()));

    let (tx, rx) = tokio::sync::oneshot::channel();
    let (thread_dir, thread_catalog, thread_context) =
        (device_dir.clone(), catalog.clone(), context.clone());
    // The device owns a Tokio runtime and blocks: it runs on its own thread, as in an app.
    std::thread::Builder::new()
        .name("demo-device".into())
        .spawn(move || {
            let _ = tx.send(read_on_device(
                &thread_dir,
                thread_catalog,
                config,
                &thread_context,
            ));
        })
        .context("starting the device thread")?;
    let read = rx
        .await
        .map_err(|_| anyhow!("the device thread stopped without an answer"))??;

    println!(
        "   recorded on the device (its store is in {}): 3 plays and the session context (network, locale) of user {USER}; request context {} stays on the device",
        device_dir.display(),
        context
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let cloud_plan = server_plan(client, app_token, &catalog).await?;
    println!(
        "   {:<37} {:<8} {:<10} {:<28} value",
        "feature", "status", "provider", "answered in the cloud by"
    );
    for r in &read.rows {
        let cloud = match r.provider {
            "remote" => cloud_plan
                .get(&r.feature)
                .cloned()
                .unwrap_or_else(|| "?".into()),
            "on_demand" => "computed on the device".into(),
            _ => "never leaves the device".into(),
        };
        println!(
            "   {:<37} {:<8} {:<10} {:<28} {}",
            r.feature, r.status, r.provider, cloud, r.value
        );
    }
    if let Some(e) = &read.cloud_error {
        bail!("the device could not reach the demo server: {e} (hint: a busy machine; run the demo again)");
    }

    let capture = proxy.capture();
    drop(proxy);
    let requests = http_messages(&capture.up);
    let asked: Vec<String> = requests
        .iter()
        .filter_map(|m| serde_json::from_slice::<Json>(m.body).ok())
        .flat_map(|b| {
            b["features"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(str::to_string))
        })
        .collect();
    println!(
        "   on the wire: {} request{} ({} cloud call{}), {} bytes device → cloud, {} bytes cloud → device; the device asked only for: {}",
        requests.len(),
        if requests.len() == 1 { "" } else { "s" },
        read.cloud_calls,
        if read.cloud_calls == 1 { "" } else { "s" },
        capture.up.len(),
        capture.down.len(),
        asked.join(", ")
    );
    let checked = check_capture(&capture, &catalog, &read, &context)?;
    println!("   check: {checked}");
    Ok(())
}

/// Opens a fresh device, records its signals and reads [`FEATURES`] once.
fn read_on_device(
    dir: &Path,
    catalog: Catalog,
    config: DeviceConfig,
    context: &RequestContext,
) -> Result<DeviceRead> {
    let device = Device::open(dir, catalog, config)?;
    let now = chrono::Utc::now().timestamp_micros();
    let min = 60_000_000;
    let play = |ago_min: i64, item: i64, dwell: i64, action: &str| {
        Event::at_micros(now - ago_min * min)
            .with("user_id", USER)
            .with("item_id", item)
            .with("dwell_s", dwell)
            .with("action", action)
    };
    device.record(
        "device_plays",
        vec![
            play(50, 1187, 912, "play"),
            play(30, 1642, 1041, "play"),
            play(5, 905, 4, "skip"),
        ],
    )?;
    device.record(
        "device_context",
        vec![Event::at_micros(now - min)
            .with("user_id", USER)
            .with("locale", "pt-BR")
            .with("network", "cellular")],
    )?;
    let got = device.get(
        &FEATURES,
        &[
            ("user_id", vec![KeyValue::Int64(USER)]),
            ("item_id", vec![KeyValue::Int64(ITEM)]),
        ],
        context,
    )?;
    let mut rows = Vec::new();
    let mut device_only_values = Vec::new();
    for (i, (f, kind)) in got.features().iter().zip(got.providers()).enumerate() {
        let Some(v) = got.at(i, 0) else { continue };
        let placement = device
            .catalog()
            .feature(f)
            .map(|r| r.feature.placement)
            .unwrap_or_default();
        if placement == Placement::DeviceOnly {
            device_only_values.push((f.to_string(), v.value.clone()));
        }
        rows.push(Row {
            feature: f.to_string(),
            status: v.status.as_str(),
            provider: kind.as_str(),
            value: v.value.to_string(),
        });
    }
    let (cloud_calls, cloud_error) = (device.cloud_calls(), device.cloud_error());
    device.close()?;
    Ok(DeviceRead {
        rows,
        device_only_values,
        cloud_calls,
        cloud_error,
    })
}

/// The server's own plan (`POST /v1/features?explain=true`) of the cloud features of the
/// read: feature → its provider there (`online (embedded)`, `content`).
async fn server_plan(
    client: &mut HttpClient,
    token: &str,
    catalog: &Catalog,
) -> Result<BTreeMap<String, String>> {
    let cloud: Vec<&str> = FEATURES
        .iter()
        .copied()
        .filter(|f| {
            FeatureRef::parse(f)
                .ok()
                .and_then(|r| catalog.feature(&r).ok())
                .is_some_and(|r| r.feature.placement == Placement::Cloud)
        })
        .collect();
    let r = client
        .post_json(
            "/v1/features?explain=true",
            Some(token),
            &json!({"features": cloud, "entities": {"user_id": [USER], "item_id": [ITEM]}, "purpose": "ranking"}),
        )
        .await?;
    if r.status != 200 {
        bail!("the server's plan failed with {}: {}", r.status, r.body);
    }
    Ok(r.body["features"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            let provider = f["provider"].as_str()?;
            let name = f["provider_name"].as_str().unwrap_or(provider);
            let shown = if name == provider {
                provider.to_string()
            } else {
                format!("{provider} ({name})")
            };
            Some((f["feature"].as_str()?.to_string(), shown))
        })
        .collect())
}

/// Numbers shorter than this are too common in HTTP bytes (lengths, dates) to search for on
/// their own; the structure check of each request covers them.
const MIN_NUMBER_CHARS: usize = 3;

/// Checks that nothing device-only crossed the wire: the names of device-only features and
/// device views and sources, the device-only values, and the request-context fields (names
/// and values) appear nowhere in the captured bytes, and every request the device sent holds
/// only cloud features, join keys of the read and the purpose. Returns a summary, or fails
/// listing every leak.
fn check_capture(
    capture: &Capture,
    catalog: &Catalog,
    read: &DeviceRead,
    context: &RequestContext,
) -> Result<String> {
    let (up, down) = capture.text();
    if !up.contains("POST /v1/features") || !down.contains(" 200 ") {
        bail!("the proxy saw no answered read between device and cloud (hint: the device asked nothing of the cloud; check the demo server's log above)");
    }
    let mut texts: BTreeSet<String> = BTreeSet::new();
    for v in catalog.feature_views().values() {
        let over_device = catalog
            .source_of(v)
            .is_ok_and(|s| s.source_type == SourceType::Device);
        if over_device {
            texts.insert(v.name.clone());
            texts.insert(v.source.clone());
        }
        for f in v
            .features
            .iter()
            .filter(|f| f.placement == Placement::DeviceOnly)
        {
            texts.insert(format!("{}:{}", v.name, f.name));
        }
    }
    let names = texts.len();
    let mut numbers: BTreeSet<String> = BTreeSet::new();
    let mut too_short: BTreeSet<String> = BTreeSet::new();
    let mut values = 0;
    for (_, v) in &read.device_only_values {
        collect(v, &mut texts, &mut numbers, &mut too_short, &mut values);
    }
    let mut context_values = 0;
    for (k, v) in context {
        texts.insert(k.clone());
        collect(
            v,
            &mut texts,
            &mut numbers,
            &mut too_short,
            &mut context_values,
        );
    }

    let mut leaks = Vec::new();
    for t in &texts {
        for (dir, side) in [("device → cloud", &up), ("cloud → device", &down)] {
            if side.contains(t.as_str()) {
                leaks.push(format!("`{t}` went {dir}"));
            }
        }
    }
    let bodies: Vec<(&str, Vec<String>)> = [
        ("device → cloud", &capture.up),
        ("cloud → device", &capture.down),
    ]
    .into_iter()
    .map(|(dir, bytes)| {
        let tokens = http_messages(bytes)
            .iter()
            .flat_map(|m| number_tokens(m.body))
            .collect();
        (dir, tokens)
    })
    .collect();
    for n in &numbers {
        for (dir, tokens) in &bodies {
            if tokens.iter().any(|t| t == n) {
                leaks.push(format!("the device-only number {n} went {dir}"));
            }
        }
    }
    // Every request: only cloud features, the read's join keys and the purpose.
    let keys: BTreeMap<&str, Json> =
        BTreeMap::from([("user_id", json!(USER)), ("item_id", json!(ITEM))]);
    let requests = http_messages(&capture.up);
    for m in &requests {
        let body: Json = serde_json::from_slice(m.body).map_err(|e| {
            anyhow!("a request the device sent is not JSON ({e}); nothing can vouch for it")
        })?;
        let Some(obj) = body.as_object() else {
            bail!("a request the device sent is not a JSON object: {body}");
        };
        for (k, v) in obj {
            match k.as_str() {
                "purpose" => {}
                "features" => {
                    for f in v.as_array().into_iter().flatten() {
                        let cloud = f
                            .as_str()
                            .and_then(|s| FeatureRef::parse(s).ok())
                            .and_then(|r| catalog.feature(&r).ok())
                            .is_some_and(|r| r.feature.placement == Placement::Cloud);
                        if !cloud {
                            leaks.push(format!(
                                "the request asked for {f}, which is not a cloud feature"
                            ));
                        }
                    }
                }
                "entities" => {
                    for (key, col) in v.as_object().into_iter().flatten() {
                        let ok = keys.get(key.as_str()).is_some_and(|want| {
                            col.as_array().is_some_and(|c| c.iter().all(|x| x == want))
                        });
                        if !ok {
                            leaks.push(format!("the request sent entity column `{key}` = {col}, not the read's join keys"));
                        }
                    }
                }
                other => leaks.push(format!("the request carried a field `{other}`")),
            }
        }
    }
    if !leaks.is_empty() {
        bail!(
            "device-only data crossed the wire:\n   {}\n(hint: this is a bug in the device runtime; the captured bytes are {} up, {} down)",
            leaks.join("\n   "),
            capture.up.len(),
            capture.down.len()
        );
    }
    let short = if too_short.is_empty() {
        String::new()
    } else {
        format!(
            "; {} too short to search for alone, covered by the request check",
            too_short.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    Ok(format!(
        "ok: nothing private left the device. Searched the {} bytes that crossed for {names} device-only names (features, views, sources), {values} device-only values, the context fields {} and their {context_values} values: none found (words anywhere, numbers as whole numbers in the messages{short}); {} holds only cloud features, the read's keys and the purpose",
        capture.up.len() + capture.down.len(),
        context.keys().cloned().collect::<Vec<_>>().join(", "),
        if requests.len() == 1 {
            "the request".to_string()
        } else {
            format!("each of the {} requests", requests.len())
        },
    ))
}

/// Adds a value's searchable renderings: strings as text, numbers as decimal tokens.
fn collect(
    v: &Value,
    texts: &mut BTreeSet<String>,
    numbers: &mut BTreeSet<String>,
    too_short: &mut BTreeSet<String>,
    count: &mut usize,
) {
    let mut number = |n: String| {
        if n.len() >= MIN_NUMBER_CHARS {
            numbers.insert(n);
        } else {
            too_short.insert(n);
        }
    };
    match v {
        Value::List(items) => {
            for i in items {
                collect(i, texts, numbers, too_short, count);
            }
            return;
        }
        Value::String(s) => {
            texts.insert(s.clone());
        }
        Value::Int64(n) => number(n.to_string()),
        Value::Float64(f) => number(f.to_string()),
        Value::Timestamp(us) => number(us.to_string()),
        Value::Null | Value::Bool(_) | Value::Bytes(_) => {}
    }
    *count += 1;
}

/// The maximal runs of digits and dots in `bytes` (`12.5`, `2026`), as text.
fn number_tokens(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| !(b.is_ascii_digit() || *b == b'.'))
        .filter(|t| !t.is_empty())
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - { name: taps, type: device, timestamp_field: ts, device: { schema: { user_id: int64, mood: string } } }
  - { name: daily, type: batch, path: data/daily.csv, timestamp_field: ts }
feature_views:
  - name: on_phone
    entities: [user]
    source: taps
    features: [{ name: mood, type: string, classification: personal, placement: device_only }]
  - name: history
    entities: [user]
    source: daily
    features: [{ name: plays, type: int64, classification: personal }]
purposes: [{ name: ranking, allows: [personal] }]
"#;

    fn capture(request: &str, response: &str) -> Capture {
        let http = |head: &str, body: &str| {
            format!("{head}\r\ncontent-length: {}\r\n\r\n{body}", body.len()).into_bytes()
        };
        Capture {
            up: http("POST /v1/features HTTP/1.1", request),
            down: http("HTTP/1.1 200 OK", response),
            connections: 1,
        }
    }

    fn check(request: &str, response: &str, mood: &str) -> Result<String> {
        let catalog = tessera_edge::catalog_from_yaml(DEFS).unwrap();
        let read = DeviceRead {
            rows: vec![],
            device_only_values: vec![
                ("on_phone:mood".into(), Value::String(mood.into())),
                ("on_phone:taps".into(), Value::Int64(918_273)),
            ],
            cloud_calls: 1,
            cloud_error: None,
        };
        let mut context = RequestContext::new();
        context.insert("hour_of_day".into(), Value::Int64(21));
        check_capture(&capture(request, response), &catalog, &read, &context)
    }

    const REQUEST: &str =
        r#"{"features":["history:plays"],"entities":{"user_id":[7]},"purpose":"ranking"}"#;
    const ANSWER: &str = r#"{"features":[{"feature":"history:plays","values":[12]}]}"#;

    #[test]
    fn a_clean_capture_passes() {
        let ok = check(REQUEST, ANSWER, "sunny-mood").unwrap();
        assert!(ok.starts_with("ok:"), "{ok}");
    }

    #[test]
    fn every_kind_of_leak_fails_the_check() {
        let leaks = [
            // a device-only feature name, a device view, a device value, a device number,
            // a context field, a request field that is not features/entities/purpose, a
            // device-only feature asked for, entity keys that are not the read's
            (
                REQUEST.replace("history:plays", "on_phone:mood"),
                ANSWER.to_string(),
            ),
            (REQUEST.to_string(), ANSWER.replace("history", "on_phone")),
            (
                REQUEST.to_string(),
                ANSWER.replace("[12]", "[\"sunny-mood\"]"),
            ),
            (REQUEST.replace("[7]", "[918273]"), ANSWER.to_string()),
            (
                REQUEST.replace("purpose", "hour_of_day"),
                ANSWER.to_string(),
            ),
            (
                REQUEST.replace(r#""purpose":"ranking""#, r#""extra":1"#),
                ANSWER.to_string(),
            ),
            (REQUEST.replace("[7]", "[8]"), ANSWER.to_string()),
        ];
        for (request, response) in leaks {
            let e = check(&request, &response, "sunny-mood").unwrap_err();
            assert!(
                e.to_string().contains("crossed the wire"),
                "{request} {response}: {e}"
            );
        }
        // No answered read at all is an error too, not a pass.
        let mut empty = capture(REQUEST, ANSWER);
        empty.down.clear();
        let catalog = tessera_edge::catalog_from_yaml(DEFS).unwrap();
        let read = DeviceRead {
            rows: vec![],
            device_only_values: vec![],
            cloud_calls: 0,
            cloud_error: None,
        };
        assert!(check_capture(&empty, &catalog, &read, &RequestContext::new()).is_err());
    }
}
