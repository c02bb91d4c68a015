//! The Redis server the tests use, with a key prefix unique to each test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tessera_online::RedisStore;

pub(crate) fn url() -> String {
    std::env::var("TESSERA_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_string())
}

/// A store on the test server under a fresh prefix. Fails saying which service is missing
/// when Redis is not running: start it (`scripts/services.sh`) or point `TESSERA_REDIS_URL`
/// at one.
pub(crate) async fn fresh_store(test: &str) -> RedisStore {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!(
        "tessera-test:{test}:{}:{nanos}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    RedisStore::connect(&url(), &prefix)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis not reachable at {}: start it with scripts/services.sh (or point TESSERA_REDIS_URL at one). Cause: {e}",
                url()
            )
        })
}
