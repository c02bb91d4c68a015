//! NATS JetStream for real (the server on 127.0.0.1:4222): events published to the subject
//! are consumed, applied once each even when published twice, and a malformed message is
//! refused without holding up the others.

use std::sync::Arc;
use std::time::Duration;

use tessera_core::aggregate::Value;
use tessera_core::FeatureRepo;
use tessera_online::{EmbeddedStore, EntityKey, OnlineStore};
use tessera_stream::{StreamConfig, StreamEngine};

use super::parity::{tessera_online_ts, write_repo};

#[tokio::test]
async fn consumes_from_jetstream_exactly_once() {
    let d = tempfile::tempdir().unwrap();
    let unique = format!("t{}", std::process::id());
    let defs = super::parity::defs("1h").replace(
        "      allowed_lateness: 1h\n",
        &format!("      allowed_lateness: 1h\n      nats: {{ subject: tessera.test.{unique}, stream: TESSERA_TEST_{unique}, durable: test-{unique} }}\n"),
    );
    write_repo(d.path(), &defs);
    let repo = FeatureRepo::load(d.path()).unwrap();
    let nats = repo.catalog.sources()["plays"]
        .stream
        .clone()
        .unwrap()
        .nats
        .unwrap();
    let store: Arc<dyn OnlineStore> =
        Arc::new(EmbeddedStore::open(&d.path().join(".tessera/online")).unwrap());
    let engine = Arc::new(
        StreamEngine::open(
            d.path(),
            Arc::new(repo.catalog),
            store,
            StreamConfig::default(),
        )
        .await
        .unwrap(),
    );
    let client = async_nats_client().await;
    let js = async_nats::jetstream::new(client);
    let _ = js.delete_stream(format!("TESSERA_TEST_{unique}")).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let e2 = engine.clone();
    let n2 = nats.clone();
    let consumer = tokio::spawn(async move {
        tessera_stream::nats_source::consume(
            &e2,
            "plays",
            &n2,
            async {
                let _ = stop_rx.await;
            },
            |_| {},
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let subject = nats.subject.clone();
    for k in 0..300 {
        let body = format!(
            r#"{{"user_id": {}, "item_id": {k}, "action": "play", "dwell_s": 1.5, "ts": "{}", "event_id": "n{k}"}}"#,
            k % 3,
            tessera_online_ts(now - 1_000_000 + k)
        );
        js.publish(subject.clone(), body.clone().into())
            .await
            .unwrap()
            .await
            .unwrap();
        if k % 10 == 0 {
            // The same event published twice (a producer retry).
            js.publish(subject.clone(), body.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }
    js.publish(subject.clone(), "not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    // Wait until all 300 are applied.
    let key = EntityKey::int("user_id", 0);
    let mut got = Value::Null;
    for _ in 0..100 {
        let v = engine
            .values_at("user_plays", &key, now + 1_000_000)
            .await
            .unwrap()
            .unwrap();
        got = v[3].clone();
        if got == Value::Int64(100) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got, Value::Int64(100));
    let _ = stop_tx.send(());
    let stats = consumer.await.unwrap().unwrap();
    assert_eq!(stats.applied, 300, "{stats:?}");
    assert_eq!(stats.duplicates, 30, "{stats:?}");
    assert_eq!(stats.bad, 1, "{stats:?}");
    let _ = js.delete_stream(format!("TESSERA_TEST_{unique}")).await;
}

async fn async_nats_client() -> async_nats::Client {
    async_nats::connect("nats://127.0.0.1:4222").await.expect(
        "NATS JetStream not reachable at nats://127.0.0.1:4222: start it with scripts/services.sh",
    )
}
