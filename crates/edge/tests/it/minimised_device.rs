//! A device read for a minimising purpose is minimised on the device, by the same access
//! layer; minimising never takes a device_only feature off the device.

use tessera_core::{Catalog, Definitions, FeatureRef, ReadChannel};
use tessera_edge::{Device, Event};
use tessera_online::{KeyValue, Value};

use crate::fixtures::{now_us, CLOUD_DEFINITIONS, DEVICE_DEFINITIONS};

const ANALYTICS: &str = r#"
purposes:
  - name: analytics
    allows: [public, internal]
    minimise:
      session_context:locale: { truncate: 2 }
      recent_plays:count_1d: { bucketize: [1, 5, 10] }
      user_activity:plays_1d: { bucketize: [10, 20] }
"#;

fn catalog() -> Catalog {
    let parse = |y: &str, f: &str| Definitions::from_yaml_str(y, f.as_ref()).unwrap();
    Catalog::build(vec![
        parse(CLOUD_DEFINITIONS, "cloud.yaml"),
        parse(DEVICE_DEFINITIONS, "device.yaml"),
        parse(ANALYTICS, "analytics.yaml"),
    ])
    .unwrap()
}

#[test]
fn device_reads_for_analytics_are_minimised_and_device_only_stays_home() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_us();
    let config = tessera_edge::DeviceConfig {
        purpose: "analytics".into(),
        ..crate::fixtures::config(None)
    };
    let device = Device::open(dir.path(), catalog(), config).unwrap();
    device
        .record(
            "device_context",
            vec![Event::at_micros(now - 1_000_000)
                .with("user_id", 1)
                .with("locale", "de-DE")
                .with("network", "wifi")],
        )
        .unwrap();
    let plays: Vec<Event> = (0..6)
        .map(|i| {
            Event::at_micros(now - 10_000_000 - i)
                .with("user_id", 1)
                .with("item_id", i)
                .with("dwell_s", 30)
                .with("action", "play")
                .with("genre", "rock")
        })
        .collect();
    device.record("device_plays", plays).unwrap();
    let got = device
        .get(
            &[
                "session_context:locale",
                "session_context:network",
                "recent_plays:count_1d",
            ],
            &[("user_id", vec![KeyValue::Int64(1)])],
            &Default::default(),
        )
        .unwrap();
    assert_eq!(
        got.get("session_context:locale", 0).unwrap().value,
        &Value::String("de".into())
    );
    assert_eq!(
        got.get("session_context:network", 0).unwrap().value,
        &Value::String("wifi".into())
    );
    assert_eq!(
        got.get("recent_plays:count_1d", 0).unwrap().value,
        &Value::String("5-10".into())
    );
    let shown = format!("{got:?}");
    assert!(!shown.contains("de-DE"), "{shown}");

    // Minimised or not, a device_only feature never goes over the network.
    let locale = [FeatureRef::new("session_context", "locale")];
    let cat = catalog();
    assert!(!cat
        .check_access(None, "analytics", &locale, ReadChannel::Network)
        .is_allowed());
    assert!(!cat
        .check_access(None, "analytics", &locale, ReadChannel::Offline)
        .is_allowed());
    assert!(cat
        .check_access(None, "analytics", &locale, ReadChannel::Device)
        .is_allowed());
    device.close().unwrap();
}

#[test]
fn cloud_values_arrive_minimised_by_the_server_in_their_result_type() {
    let server = crate::test_server::TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = tessera_edge::DeviceConfig {
        purpose: "analytics".into(),
        ..crate::fixtures::config(Some(server.url.clone()))
    };
    let device = Device::open(dir.path(), catalog(), config).unwrap();
    let got = device
        .get(
            &["user_activity:plays_1d"],
            &[("user_id", vec![KeyValue::Int64(1)])],
            &Default::default(),
        )
        .unwrap();
    let v = got.get("user_activity:plays_1d", 0).unwrap();
    assert_eq!(
        v.value,
        &Value::String("10-20".into()),
        "not minimised twice, not refused"
    );
    assert_eq!(server.bodies.lock().unwrap()[0]["purpose"], "analytics");
    device.close().unwrap();
}
