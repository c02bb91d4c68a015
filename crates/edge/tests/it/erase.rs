//! Erasure on the device: `Device::erase` clears an entity from the local store (device
//! views and cached cloud values) and memory; a cloud answer `erased` drops the entity's
//! cached cloud values, so they are never served again, not even stale.

use std::time::Duration;

use tessera_edge::{Device, DeviceConfig, Event, Status};
use tessera_online::{EntityKey, KeyValue, Value};

use super::fixtures::{catalog, config};
use super::test_server::TestServer;

const CLOUD: &str = "user_activity:top_genre_1d";
const LOCAL: &str = "recent_plays:count_1h";

fn users(ids: &[i64]) -> [(&'static str, Vec<KeyValue>); 1] {
    [(
        "user_id",
        ids.iter().copied().map(KeyValue::Int64).collect(),
    )]
}

#[test]
fn device_erase_clears_the_local_store_and_the_cloud_cache() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::open(dir.path(), catalog(), config(Some(server.url.clone()))).unwrap();
    for u in [3, 5] {
        device
            .record(
                "device_plays",
                vec![Event::now().with("user_id", u).with("dwell_s", 30)],
            )
            .unwrap();
    }
    let got = device
        .get(&[LOCAL, CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    for row in 0..2 {
        assert_eq!(got.get(LOCAL, row).unwrap().value, &Value::Int64(1));
        assert_eq!(got.get(CLOUD, row).unwrap().status, Status::Present);
    }
    let removed = device.erase(&EntityKey::int("user_id", 3)).unwrap();
    assert!(
        removed >= 2,
        "the device row and the cached cloud row: {removed}"
    );
    // The cloud is gone now: user 5 is still answered from the cache, user 3 not at all.
    drop(server);
    let got = device
        .get(&[LOCAL, CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_ne!(got.get(LOCAL, 0).unwrap().value, &Value::Int64(1));
    assert_eq!(got.get(LOCAL, 1).unwrap().value, &Value::Int64(1));
    assert_eq!(got.get(CLOUD, 0).unwrap().status, Status::Unavailable);
    assert_eq!(got.get(CLOUD, 1).unwrap().status, Status::Present);
    device.close().unwrap();
}

#[test]
fn a_cloud_answer_erased_drops_the_cached_values() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = DeviceConfig {
        cache_ttl: Duration::ZERO,
        stale_while_revalidate: Duration::ZERO,
        ..config(Some(server.url.clone()))
    };
    let device = Device::open(dir.path(), catalog(), cfg).unwrap();
    let got = device
        .get(&[CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_eq!(got.get(CLOUD, 1).unwrap().status, Status::Present);
    server.erased.lock().unwrap().push(5);
    let got = device
        .get(&[CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    let v = got.get(CLOUD, 1).unwrap();
    assert_eq!((v.value, v.status), (&Value::Null, Status::Erased));
    assert_eq!(got.get(CLOUD, 0).unwrap().status, Status::Present);
    // Offline now: user 3 comes from the cache (stale), user 5 was dropped from it.
    drop(server);
    let got = device
        .get(&[CLOUD], &users(&[3, 5]), &Default::default())
        .unwrap();
    assert_eq!(got.get(CLOUD, 0).unwrap().status, Status::Stale);
    let v = got.get(CLOUD, 1).unwrap();
    assert_eq!((v.value, v.status), (&Value::Null, Status::Unavailable));
    device.close().unwrap();
}
