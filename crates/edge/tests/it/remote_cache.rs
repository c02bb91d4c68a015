//! Cloud features through the cache: fresh values need no call, stale ones are served at
//! once and refreshed in the background, a slow or unreachable cloud never holds a read
//! longer than the timeout (stale values or `unavailable` instead), and the cache survives
//! a restart.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tessera_edge::{Device, DeviceConfig, Event, Status};
use tessera_online::{KeyValue, Value};

use super::fixtures::{catalog, config};
use super::test_server::TestServer;

const CLOUD: [&str; 2] = ["user_activity:plays_1d", "user_activity:top_genre_1d"];

fn users(ids: &[i64]) -> [(&'static str, Vec<KeyValue>); 1] {
    [(
        "user_id",
        ids.iter().copied().map(KeyValue::Int64).collect(),
    )]
}

fn wait_for(mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn fresh_values_are_served_without_a_call_and_requests_are_minimal() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::open(dir.path(), catalog(), config(Some(server.url.clone()))).unwrap();
    device
        .record(
            "device_plays",
            vec![Event::now().with("user_id", 3).with("dwell_s", 30)],
        )
        .unwrap();
    let mixed = [
        "recent_plays:count_1h",
        CLOUD[0],
        "session_context:locale",
        CLOUD[1],
    ];
    let got = device
        .get(&mixed, &users(&[3, 4]), &Default::default())
        .unwrap();
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    let v = got.get(CLOUD[0], 1).unwrap();
    assert_eq!((v.value, v.status), (&Value::Int64(40), Status::Present));
    assert_eq!(
        got.get(CLOUD[1], 0).unwrap().value,
        &Value::String("user_activity:top_genre_1d-3".into())
    );
    assert_eq!(
        got.get("recent_plays:count_1h", 0).unwrap().value,
        &Value::Int64(1)
    );
    // Only the cloud features, only the join keys they need.
    let body = server.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["features"], serde_json::json!(CLOUD));
    assert_eq!(body["entities"], serde_json::json!({"user_id": [3, 4]}));
    assert_eq!(body["purpose"], "ranking");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");

    // Fresh: no call at all.
    let again = device
        .get(&mixed, &users(&[4, 3]), &Default::default())
        .unwrap();
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    assert_eq!(again.get(CLOUD[0], 0).unwrap().value, &Value::Int64(40));
    assert_eq!(again.get(CLOUD[0], 0).unwrap().status, Status::Present);
    // A new entity asks for that entity only.
    device
        .get(&CLOUD, &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
    assert_eq!(
        server.bodies.lock().unwrap()[1]["entities"],
        serde_json::json!({"user_id": [5]})
    );
    // A device-only feature can never be asked of the cloud.
    let err = tessera_edge::RemoteFeature::new(
        device.catalog(),
        &tessera_core::FeatureRef::parse("recent_plays:count_1h").unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("placed `device_only`"), "{err}");
}

#[test]
fn stale_while_revalidate() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = DeviceConfig {
        cache_ttl: Duration::from_millis(1_000),
        stale_while_revalidate: Duration::from_secs(60),
        ..config(Some(server.url.clone()))
    };
    let device = Device::open(dir.path(), catalog(), cfg).unwrap();
    device
        .get(&CLOUD, &users(&[1]), &Default::default())
        .unwrap();
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    std::thread::sleep(Duration::from_millis(1_100));
    server.delay_ms.store(150, Ordering::SeqCst); // within the 250 ms timeout
    let started = Instant::now();
    let got = device
        .get(&CLOUD, &users(&[1]), &Default::default())
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "served at once: {:?}",
        started.elapsed()
    );
    let v = got.get(CLOUD[0], 0).unwrap();
    assert_eq!((v.value, v.status), (&Value::Int64(10), Status::Stale));
    // Refreshed in the background; then fresh again.
    wait_for(|| server.requests.load(Ordering::SeqCst) == 2);
    std::thread::sleep(Duration::from_millis(400)); // the server answers after 150 ms
    let got = device
        .get(&CLOUD, &users(&[1]), &Default::default())
        .unwrap();
    assert_eq!(got.get(CLOUD[0], 0).unwrap().status, Status::Present);
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
}

#[test]
fn a_slow_cloud_never_holds_a_read() {
    let server = TestServer::start();
    server.delay_ms.store(3_000, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let cfg = DeviceConfig {
        remote_timeout: Duration::from_millis(200),
        cache_ttl: Duration::from_millis(100),
        stale_while_revalidate: Duration::ZERO,
        retry_after: Duration::from_millis(300),
        ..config(Some(server.url.clone()))
    };
    let device = Device::open(dir.path(), catalog(), cfg).unwrap();
    device
        .record("device_plays", vec![Event::now().with("user_id", 1)])
        .unwrap();
    let started = Instant::now();
    let got = device
        .get(
            &["recent_plays:count_1d", CLOUD[0]],
            &users(&[1]),
            &Default::default(),
        )
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(1_000),
        "{took:?}"
    );
    assert_eq!(got.get(CLOUD[0], 0).unwrap().status, Status::Unavailable);
    assert_eq!(got.get(CLOUD[0], 0).unwrap().value, &Value::Null);
    // Device values are unaffected.
    assert_eq!(
        got.get("recent_plays:count_1d", 0).unwrap().value,
        &Value::Int64(1)
    );
    assert!(device
        .cloud_error()
        .unwrap()
        .contains("no answer within 200 ms"));
    // Within retry_after: answered at once, without a call.
    let calls = device.cloud_calls();
    let started = Instant::now();
    device
        .get(&CLOUD, &users(&[1]), &Default::default())
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(device.cloud_calls(), calls);

    // With a cached value: the slow cloud gives the cached value, marked stale.
    server.delay_ms.store(0, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(350));
    let got = device
        .get(&CLOUD, &users(&[1]), &Default::default())
        .unwrap();
    assert_eq!(got.get(CLOUD[0], 0).unwrap().status, Status::Present);
    server.delay_ms.store(3_000, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(150));
    let started = Instant::now();
    let got = device
        .get(&CLOUD, &users(&[1]), &Default::default())
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(1_000));
    let v = got.get(CLOUD[0], 0).unwrap();
    assert_eq!((v.value, v.status), (&Value::Int64(10), Status::Stale));
}

#[test]
fn an_unreachable_cloud_and_a_restart_offline() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    {
        let device = Device::open(dir.path(), catalog(), config(Some(server.url.clone()))).unwrap();
        let got = device
            .get(&CLOUD, &users(&[2]), &Default::default())
            .unwrap();
        assert_eq!(got.get(CLOUD[0], 0).unwrap().value, &Value::Int64(20));
        device.close().unwrap();
    }
    // Nothing listens on this port.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cfg = DeviceConfig {
        cache_ttl: Duration::ZERO,
        stale_while_revalidate: Duration::ZERO,
        ..config(Some(down))
    };
    let device = Device::open(dir.path(), catalog(), cfg).unwrap();
    let started = Instant::now();
    let got = device
        .get(&CLOUD, &users(&[2, 9]), &Default::default())
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(1_000));
    // The value cached before the restart, marked stale; nothing for a new entity.
    let v = got.get(CLOUD[0], 0).unwrap();
    assert_eq!((v.value, v.status), (&Value::Int64(20), Status::Stale));
    assert_eq!(got.get(CLOUD[0], 1).unwrap().status, Status::Unavailable);
    assert!(
        device.cloud_error().unwrap().contains("cannot connect"),
        "{:?}",
        device.cloud_error()
    );
}
