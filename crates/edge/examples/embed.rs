//! An app embedding the device runtime: it records what the user does on the device and
//! reads one set of features for its ranker — device signals and cloud history alike.
//!
//! ```sh
//! # offline (no server): device features only
//! cargo run -p tessera-edge --example embed
//! # with the demo repository and a running `tessera serve` (see docs/DEVICE.md)
//! TESSERA_DEVICE_TOKEN=... cargo run -p tessera-edge --example embed -- tessera-demo http://127.0.0.1:6566
//! ```

use std::time::Duration;

use tessera_edge::{catalog_from_repo, Device, DeviceConfig, Event, RequestContext};
use tessera_online::{KeyValue, Value};

const DEVICE_ONLY: &str = include_str!("device.yaml");
const OFFLINE_BASE: &str = "entities: [{ name: user, join_keys: [user_id] }]\npurposes: [{ name: ranking, allows: [public, internal, personal] }]\n";

fn main() -> Result<(), tessera_edge::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (catalog, server) = match args.as_slice() {
        [] => {
            let base = tessera_core::Definitions::from_yaml_str(OFFLINE_BASE, "base.yaml".as_ref())
                .map_err(tessera_edge::Error::Definitions)?;
            let device =
                tessera_core::Definitions::from_yaml_str(DEVICE_ONLY, "device.yaml".as_ref())
                    .map_err(tessera_edge::Error::Definitions)?;
            (
                tessera_core::Catalog::build(vec![base, device])
                    .map_err(tessera_edge::Error::Definitions)?,
                None,
            )
        }
        [repo, server] => (catalog_from_repo(repo.as_ref())?, Some(server.clone())),
        _ => {
            eprintln!("usage: embed [REPO SERVER_URL]");
            std::process::exit(2);
        }
    };
    let dir = std::env::temp_dir().join("tessera-embed-example");
    let device = Device::open(
        &dir,
        catalog,
        DeviceConfig {
            server_url: server.clone(),
            token: std::env::var("TESSERA_DEVICE_TOKEN").ok(),
            purpose: "ranking".into(),
            remote_timeout: Duration::from_millis(200),
            ..DeviceConfig::default()
        },
    )?;

    // The app records signals as they happen; they stay in the device directory.
    device.record(
        "device_plays",
        vec![
            Event::now()
                .with("user_id", 1)
                .with("item_id", 42)
                .with("dwell_s", 180)
                .with("action", "play"),
            Event::now()
                .with("user_id", 1)
                .with("item_id", 7)
                .with("dwell_s", 3)
                .with("action", "skip"),
        ],
    )?;
    device.record(
        "device_context",
        vec![Event::now()
            .with("user_id", 1)
            .with("locale", "de-DE")
            .with("network", "cellular")],
    )?;

    // One read for the ranker; context (here the hour) stays on the device.
    let mut features = vec!["device_recent:*", "device_session:locale"];
    if server.is_some() {
        features.extend([
            "user_activity:plays_1d",
            "user_activity:top_genre_1d",
            "item_content:genre",
        ]);
    }
    let mut context = RequestContext::new();
    context.insert("hour_of_day".into(), Value::Int64(21));
    let mut entities = vec![("user_id", vec![KeyValue::Int64(1)])];
    if server.is_some() {
        entities.push(("item_id", vec![KeyValue::Int64(42)]));
    }
    let got = device.get(&features, &entities, &context)?;
    for (i, f) in got.features().iter().enumerate() {
        if let Some(v) = got.at(i, 0) {
            println!("{f:<36} {:<12} {:?}", v.status.as_str(), v.value);
        }
    }
    if let Some(e) = device.cloud_error() {
        println!("(the cloud did not answer: {e})");
    }
    device.close()
}
