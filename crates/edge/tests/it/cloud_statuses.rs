//! Statuses the cloud answers, on the device: a value the cloud withholds (`suppressed`
//! by a k-threshold, `no_consent`) comes out null with that status — never an older cached
//! value, not offline, not after a restart — and a purpose that requires consent withholds
//! the device's own features too, by the consent the cloud last answered (fail closed
//! before any answer).

use std::time::Duration;

use tessera_core::{Catalog, Definitions};
use tessera_edge::{Device, DeviceConfig, Event, Status};
use tessera_online::{EntityKey, KeyValue, Value};

use super::fixtures::{config, CLOUD_DEFINITIONS, DEVICE_DEFINITIONS};
use super::test_server::TestServer;

const CLOUD: &str = "user_activity:top_genre_1d";
const LOCAL: &str = "recent_plays:count_1h";

const ADS: &str = r#"
purposes:
  - { name: ads, allows: [public, internal, personal], requires_consent: true }
"#;

fn catalog() -> Catalog {
    let parse = |y: &str, f: &str| Definitions::from_yaml_str(y, f.as_ref()).unwrap();
    Catalog::build(vec![
        parse(CLOUD_DEFINITIONS, "cloud.yaml"),
        parse(DEVICE_DEFINITIONS, "device.yaml"),
        parse(ADS, "ads.yaml"),
    ])
    .unwrap()
}

fn users(ids: &[i64]) -> [(&'static str, Vec<KeyValue>); 1] {
    [(
        "user_id",
        ids.iter().copied().map(KeyValue::Int64).collect(),
    )]
}

/// A configuration that asks the cloud on every read (no fresh cache).
fn always_ask(server: &str, purpose: &str) -> DeviceConfig {
    DeviceConfig {
        cache_ttl: Duration::ZERO,
        stale_while_revalidate: Duration::ZERO,
        retry_after: Duration::ZERO,
        purpose: purpose.into(),
        ..config(Some(server.to_string()))
    }
}

fn at<'a>(got: &'a tessera_edge::DeviceValues, f: &str, row: usize) -> (&'a Value, Status) {
    let v = got.get(f, row).unwrap();
    (v.value, v.status)
}

#[test]
fn a_value_the_cloud_withholds_replaces_the_cached_one_and_is_null() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = always_ask(&server.url, "ranking");
    let device = Device::open(dir.path(), catalog(), cfg.clone()).unwrap();
    let got = device
        .get(&[CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    let older = Value::String(format!("{CLOUD}-5"));
    assert_eq!(at(&got, CLOUD, 1), (&older, Status::Present));
    // The cloud now suppresses user 5's value (and carelessly sends it along).
    server.withheld.lock().unwrap().push((5, "suppressed"));
    let got = device
        .get(&[CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_eq!(at(&got, CLOUD, 1), (&Value::Null, Status::Suppressed));
    assert_eq!(at(&got, CLOUD, 0).1, Status::Present);
    // Offline: the cache answers with the cloud's last word, not the older value.
    drop(server);
    let got = device
        .get(&[CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_eq!(at(&got, CLOUD, 1), (&Value::Null, Status::Suppressed));
    assert_eq!(at(&got, CLOUD, 0).1, Status::Stale);
    device.close().unwrap();
    // And after a restart, from the persisted cache.
    let device = Device::open(dir.path(), catalog(), cfg).unwrap();
    let got = device
        .get(&[CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_eq!(at(&got, CLOUD, 1), (&Value::Null, Status::Suppressed));
    assert_eq!(at(&got, CLOUD, 0).1, Status::Stale);
    device.close().unwrap();
}

#[test]
fn a_consent_purpose_withholds_device_features_by_the_consent_the_cloud_answers() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::open(dir.path(), catalog(), always_ask(&server.url, "ads")).unwrap();
    for u in [3, 5] {
        device
            .record(
                "device_plays",
                vec![Event::now().with("user_id", u).with("dwell_s", 30)],
            )
            .unwrap();
    }
    let no = (&Value::Null, Status::NoConsent);
    let one = (&Value::Int64(1), Status::Present);
    // Before the cloud has said anything about consent, the device withholds (fails closed).
    let got = device
        .get(&[LOCAL], &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_eq!([at(&got, LOCAL, 0), at(&got, LOCAL, 1)], [no, no]);
    // The cloud answers user 3 with values and user 5 `no_consent`.
    server.withheld.lock().unwrap().push((5, "no_consent"));
    let got = device
        .get(&[LOCAL, CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_eq!(at(&got, LOCAL, 0), one);
    assert_eq!(at(&got, CLOUD, 0).1, Status::Present);
    assert_eq!([at(&got, LOCAL, 1), at(&got, CLOUD, 1)], [no, no]);
    // A read of device features only follows what the device learned.
    let got = device
        .get(&[LOCAL], &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_eq!([at(&got, LOCAL, 0), at(&got, LOCAL, 1)], [one, no]);
    // In the cloud, user 5 grants and user 3 withdraws: the next answer teaches the device.
    *server.withheld.lock().unwrap() = vec![(3, "no_consent")];
    let got = device
        .get(&[LOCAL, CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_eq!([at(&got, LOCAL, 0), at(&got, CLOUD, 0)], [no, no]);
    assert_eq!(at(&got, LOCAL, 1), one);
    assert_eq!(at(&got, CLOUD, 1).1, Status::Present);
    // Offline, the last answer holds, for device features and cached cloud values alike.
    drop(server);
    let got = device
        .get(&[LOCAL, CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_eq!([at(&got, LOCAL, 0), at(&got, CLOUD, 0)], [no, no]);
    assert_eq!(at(&got, LOCAL, 1), one);
    assert_eq!(at(&got, CLOUD, 1).1, Status::Stale);
    // The device keeps keyed hashes only; erasing user 5 forgets its consent too.
    let log = std::fs::read_to_string(dir.path().join(tessera_edge::CONSENT_FILE)).unwrap();
    assert!(log.contains("\"ads\"") && !log.contains("user_id"), "{log}");
    device.erase(&EntityKey::int("user_id", 5)).unwrap();
    let after = std::fs::read_to_string(dir.path().join(tessera_edge::CONSENT_FILE)).unwrap();
    assert!(after.lines().count() < log.lines().count(), "{after}");
    let got = device
        .get(&[LOCAL], &users(&[5]), &Default::default())
        .unwrap();
    assert_eq!(at(&got, LOCAL, 0), no);
    device.close().unwrap();
}

#[test]
fn a_cached_answer_serves_only_the_purpose_it_was_fetched_for() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::open(dir.path(), catalog(), always_ask(&server.url, "ads")).unwrap();
    let got = device
        .get(&[CLOUD], &users(&[3]), &Default::default())
        .unwrap();
    assert_eq!(at(&got, CLOUD, 0).1, Status::Present);
    device.close().unwrap();
    drop(server);
    // Offline, for `ranking`: the answer given for `ads` is not served.
    let cfg = always_ask("http://127.0.0.1:9", "ranking");
    let device = Device::open(dir.path(), catalog(), cfg).unwrap();
    let got = device
        .get(&[CLOUD], &users(&[3]), &Default::default())
        .unwrap();
    assert_eq!(at(&got, CLOUD, 0), (&Value::Null, Status::Unavailable));
    device.close().unwrap();
}
