//! [`ServingStore`]: the online store as the process that runs the stream engine reads it —
//! the store's rows, with the aggregation states the engine applied but has not yet written
//! laid over them.
//!
//! The engine applies a batch in memory and hands the touched states to its publisher, which
//! writes them to the store in the background (coalescing while a write is in flight). A
//! server that reads only the store would see a batch once that write commits; through this
//! store it sees the batch once it is applied and durable. Per key the newer row wins by
//! [`Stamp`], as in every store, so a materialisation that wrote a newer state meanwhile is
//! not hidden. Other processes still read the store itself (they see the batch after the
//! write). Writes and high-water marks go to the store unchanged; an erasure also drops the
//! entity's pending states, so the overlay never answers for an erased entity (the engine's
//! own in-memory state of it is not touched here).

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_online::{
    Capabilities, EntityKey, FeatureRow, OnlineStore, SelectedRow, Value, WriteBatch, WriteSummary,
    STATE_FEATURE,
};

use crate::publisher::PendingStates;

/// An [`OnlineStore`] that reads the engine's not-yet-written states over another store
/// (see the module docs). Made by [`crate::StreamEngine::serving_store`].
#[derive(Debug, Clone)]
pub struct ServingStore {
    store: Arc<dyn OnlineStore>,
    pending: PendingStates,
}

impl ServingStore {
    pub(crate) fn new(store: Arc<dyn OnlineStore>, pending: PendingStates) -> Self {
        Self { store, pending }
    }
}

#[async_trait::async_trait]
impl OnlineStore for ServingStore {
    fn name(&self) -> &'static str {
        self.store.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }

    async fn read(
        &self,
        view: &str,
        keys: &[EntityKey],
    ) -> tessera_online::Result<Vec<Option<FeatureRow>>> {
        let encoded: Vec<Vec<u8>> = keys.iter().map(EntityKey::encode).collect();
        // Pending first: a state that moves from the publisher to the store between the two
        // reads is then found in one of them.
        let pending = self.pending.lookup(view, &encoded);
        let mut rows = self.store.read(view, keys).await?;
        for (row, hit) in rows.iter_mut().zip(pending) {
            let Some((stamp, bytes)) = hit else { continue };
            if row.as_ref().is_none_or(|r| r.stamp < stamp) {
                *row = Some(FeatureRow {
                    stamp,
                    values: BTreeMap::from([(
                        STATE_FEATURE.to_string(),
                        Value::Bytes(Arc::unwrap_or_clone(bytes)),
                    )]),
                });
            }
        }
        Ok(rows)
    }

    async fn read_selected(
        &self,
        view: &str,
        keys: &[Vec<u8>],
        features: &[&str],
    ) -> tessera_online::Result<Vec<Option<SelectedRow>>> {
        // As `read`: pending first.
        let pending = self.pending.lookup(view, keys);
        let mut rows = self.store.read_selected(view, keys, features).await?;
        for (row, hit) in rows.iter_mut().zip(pending) {
            let Some((stamp, bytes)) = hit else { continue };
            if row.as_ref().is_none_or(|r| r.stamp < stamp) {
                let state = Value::Bytes(Arc::unwrap_or_clone(bytes));
                *row = Some(SelectedRow {
                    stamp,
                    values: features
                        .iter()
                        .map(|f| (*f == STATE_FEATURE).then(|| state.clone()))
                        .collect(),
                });
            }
        }
        Ok(rows)
    }

    async fn write(&self, batch: WriteBatch) -> tessera_online::Result<WriteSummary> {
        self.store.write(batch).await
    }

    async fn delete_entity(&self, key: &EntityKey) -> tessera_online::Result<u64> {
        self.pending.forget(key);
        self.store.delete_entity(key).await
    }

    async fn future_rows(
        &self,
        view: &str,
        keys: &[EntityKey],
        beyond_us: i64,
        drop: bool,
    ) -> tessera_online::Result<Vec<(EntityKey, tessera_online::Stamp)>> {
        self.store.future_rows(view, keys, beyond_us, drop).await
    }

    async fn rows_before(
        &self,
        view: &str,
        before_us: i64,
        drop: bool,
    ) -> tessera_online::Result<Vec<(EntityKey, tessera_online::Stamp)>> {
        self.store.rows_before(view, before_us, drop).await
    }

    async fn high_water_mark(&self, view: &str) -> tessera_online::Result<Option<i64>> {
        self.store.high_water_mark(view).await
    }

    async fn set_high_water_mark(&self, view: &str, ts_us: i64) -> tessera_online::Result<()> {
        self.store.set_high_water_mark(view, ts_us).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publisher::{Publisher, StateRow};
    use tessera_online::{state_batch, MemoryStore, Stamp};
    use tokio::sync::Semaphore;

    /// A store whose writes wait for a permit (one per write), to hold states in flight.
    #[derive(Debug)]
    struct Gated {
        inner: Arc<MemoryStore>,
        permits: Arc<Semaphore>,
    }

    #[async_trait::async_trait]
    impl OnlineStore for Gated {
        fn name(&self) -> &'static str {
            "gated"
        }
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities()
        }
        async fn read(
            &self,
            view: &str,
            keys: &[EntityKey],
        ) -> tessera_online::Result<Vec<Option<FeatureRow>>> {
            self.inner.read(view, keys).await
        }
        async fn write(&self, batch: WriteBatch) -> tessera_online::Result<WriteSummary> {
            let permit = self.permits.acquire().await;
            permit.expect("semaphore open").forget();
            self.inner.write(batch).await
        }
        async fn delete_entity(&self, key: &EntityKey) -> tessera_online::Result<u64> {
            self.inner.delete_entity(key).await
        }
        async fn high_water_mark(&self, view: &str) -> tessera_online::Result<Option<i64>> {
            self.inner.high_water_mark(view).await
        }
        async fn set_high_water_mark(&self, view: &str, ts: i64) -> tessera_online::Result<()> {
            self.inner.set_high_water_mark(view, ts).await
        }
    }

    fn user(id: i64) -> EntityKey {
        EntityKey::int("user_id", id)
    }

    fn state_row(id: i64, stamp: i64, bytes: &[u8]) -> (Vec<u8>, StateRow) {
        let key = user(id);
        (
            key.encode(),
            (key, Stamp::new(stamp, 0), Arc::new(bytes.to_vec())),
        )
    }

    fn state(row: &Option<FeatureRow>) -> Option<(i64, Vec<u8>)> {
        row.as_ref().map(|r| match r.get(STATE_FEATURE) {
            Some(Value::Bytes(b)) => (r.stamp.event_ts, b.clone()),
            other => panic!("not a state row: {other:?}"),
        })
    }

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        let store: Arc<dyn OnlineStore> = Arc::new(MemoryStore::new());
        let publisher = Publisher::spawn(store.clone());
        let serving = ServingStore::new(store, publisher.pending_states());
        tessera_online::testkit::conformance(Arc::new(serving)).await;
    }

    #[tokio::test]
    async fn states_are_readable_before_they_are_written() {
        let permits = Arc::new(Semaphore::new(0));
        let memory = Arc::new(MemoryStore::new());
        let gated: Arc<dyn OnlineStore> = Arc::new(Gated {
            inner: memory.clone(),
            permits: permits.clone(),
        });
        let publisher = Publisher::spawn(gated.clone());
        let serving = ServingStore::new(gated.clone(), publisher.pending_states());
        let keys = [user(1), user(2), user(3)];

        // Generation 1 goes in flight (its write waits), generation 2 stays pending.
        let g1 = publisher.publish("v", [state_row(1, 10, b"one"), state_row(2, 10, b"two")]);
        tokio::task::yield_now().await;
        let g2 = publisher.publish("v", [state_row(1, 20, b"one again")]);
        let read = serving.read("v", &keys).await.unwrap();
        assert_eq!(state(&read[0]), Some((20, b"one again".to_vec())));
        assert_eq!(state(&read[1]), Some((10, b"two".to_vec())));
        assert_eq!(state(&read[2]), None);
        // The serving read path sees the same pending states.
        let encoded: Vec<Vec<u8>> = keys.iter().map(EntityKey::encode).collect();
        let selected = serving
            .read_selected("v", &encoded, &[STATE_FEATURE, "other"])
            .await
            .unwrap();
        let expected: Vec<Option<SelectedRow>> = read
            .iter()
            .map(|r| {
                r.clone()
                    .map(|r| SelectedRow::from_row(r, &[STATE_FEATURE, "other"]))
            })
            .collect();
        assert_eq!(selected, expected);
        assert!(gated
            .read("v", &keys)
            .await
            .unwrap()
            .iter()
            .all(Option::is_none));
        // Another view is not affected.
        assert!(serving
            .read("w", &keys)
            .await
            .unwrap()
            .iter()
            .all(Option::is_none));

        // A newer row in the store itself (a materialisation) wins over one in flight.
        memory
            .write(state_batch(
                "v",
                [(user(2), Stamp::new(30, 0), b"batch".to_vec())],
            ))
            .await
            .unwrap();
        let read = serving.read("v", &keys).await.unwrap();
        assert_eq!(state(&read[1]), Some((30, b"batch".to_vec())));

        // Once written, the store answers alone, with the same rows.
        permits.add_permits(2);
        publisher.wait(g1).await.unwrap();
        publisher.wait(g2).await.unwrap();
        let stored = gated.read("v", &keys).await.unwrap();
        assert_eq!(serving.read("v", &keys).await.unwrap(), stored);
        assert_eq!(state(&stored[0]), Some((20, b"one again".to_vec())));
        assert_eq!(state(&stored[1]), Some((30, b"batch".to_vec())));
    }

    #[tokio::test]
    async fn erasure_drops_pending_states() {
        let permits = Arc::new(Semaphore::new(0));
        let gated: Arc<dyn OnlineStore> = Arc::new(Gated {
            inner: Arc::new(MemoryStore::new()),
            permits: permits.clone(),
        });
        let publisher = Publisher::spawn(gated.clone());
        let serving = ServingStore::new(gated.clone(), publisher.pending_states());
        publisher.publish("v", [state_row(1, 10, b"one"), state_row(2, 10, b"two")]);
        tokio::task::yield_now().await;
        publisher.publish("v", [state_row(1, 20, b"one again")]);
        serving.delete_entity(&user(1)).await.unwrap();
        let read = serving.read("v", &[user(1), user(2)]).await.unwrap();
        assert_eq!(state(&read[0]), None);
        assert_eq!(state(&read[1]), Some((10, b"two".to_vec())));
        permits.add_permits(16);
    }
}
