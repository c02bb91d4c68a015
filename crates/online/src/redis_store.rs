//! [`RedisStore`]: the online store on a Redis server
//! (`online_store: { type: redis, url: redis://127.0.0.1:6379/0 }`).
//!
//! # Layout
//! Keys start with a prefix (`tessera:<project>:` from [`crate::open_store`]), so several
//! projects share one database:
//! - `<prefix>r:<view>:<encoded entity key>` → the encoded row (see [`crate::FeatureRow`]),
//!   one string per (view, entity);
//! - hash `<prefix>views`: view → its sorted join-key names, comma-separated (for erasure);
//! - hash `<prefix>hwm`: view → high-water mark (µs since the epoch, decimal).
//!
//! # Round trips and atomicity
//! A read is one `MGET`. A write is one `EVALSHA` of a small Lua script that, for each row,
//! compares the 16 stamp bytes of the new and the stored row and `SET`s only a strictly newer
//! one; Redis runs a script atomically, so "newer wins" holds with any number of concurrent
//! writers. The script is sent once per connection (`EVALSHA`, then `SCRIPT LOAD` on
//! `NOSCRIPT`). Rows carry no Redis TTL: readers classify expiry with [`crate::freshness`].

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

use crate::entity_key::EntityKey;
use crate::error::{Error, Result};
use crate::feature_row::{decode_stamp, FeatureRow, SelectedRow, Stamp};
use crate::online_store::{Capabilities, OnlineStore, WriteBatch, WriteSummary};

const STORE: &str = "redis";

/// For each row: store ARGV[i+2] at KEYS[i+1] unless the stored row's stamp bytes (2..17)
/// are at least as great. Registers the view's key names in KEYS[1]. Returns
/// `{written, skipped}`.
const WRITE_SCRIPT: &str = r"
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
local written, skipped = 0, 0
for i = 2, #KEYS do
  local new = ARGV[i + 1]
  local cur = redis.call('GET', KEYS[i])
  local newer = true
  if cur then
    newer = false
    for j = 2, 17 do
      local a, b = string.byte(new, j), string.byte(cur, j)
      if a ~= b then
        newer = (b == nil) or (a ~= nil and a > b)
        break
      end
    end
  end
  if newer then
    redis.call('SET', KEYS[i], new)
    written = written + 1
  else
    skipped = skipped + 1
  end
end
return {written, skipped}
";

/// For each i: delete KEYS[i] if it still holds ARGV[i] (the row found stamped in the
/// future; a row replaced meanwhile stays). Returns the 1-based indexes deleted.
const DROP_IF_SAME_SCRIPT: &str = r"
local dropped = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then
    redis.call('DEL', KEYS[i])
    dropped[#dropped + 1] = i
  end
end
return dropped
";

/// The Redis online store. Cheap to clone; clones share one multiplexed connection that
/// reconnects by itself.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    write_script: Script,
    drop_script: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn fail(operation: &'static str) -> impl FnOnce(redis::RedisError) -> Error {
    move |e| Error::backend(STORE, operation, e)
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); every key this store touches starts with
    /// `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let open_err = |e: redis::RedisError| {
            Error::Open {
            store: STORE,
            location: url.to_string(),
            hint: "check that Redis is running and the url in tessera.yaml is right (redis://host:port/db)",
            source: Box::new(e),
        }
        };
        let client = redis::Client::open(url).map_err(open_err)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(30)))
            .set_number_of_retries(2);
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(open_err)?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            write_script: Script::new(WRITE_SCRIPT),
            drop_script: Script::new(DROP_IF_SAME_SCRIPT),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn row_key_prefix(&self, view: &str) -> Vec<u8> {
        format!("{}r:{view}:", self.prefix).into_bytes()
    }

    fn row_key(&self, view_prefix: &[u8], key: &EntityKey) -> Vec<u8> {
        let mut k = Vec::with_capacity(view_prefix.len() + 24);
        k.extend_from_slice(view_prefix);
        key.encode_into(&mut k);
        k
    }

    fn views_key(&self) -> String {
        format!("{}views", self.prefix)
    }

    fn hwm_key(&self) -> String {
        format!("{}hwm", self.prefix)
    }

    /// Every key this store wrote under its prefix is deleted (for tests and teardown).
    pub async fn delete_all(&self) -> Result<u64> {
        let mut pattern = glob_escape(self.prefix.as_bytes());
        pattern.push(b'*');
        let keys = self.scan(&pattern).await?;
        let mut conn = self.conn.clone();
        let mut removed = 0;
        for chunk in keys.chunks(1000) {
            removed += redis::cmd("DEL")
                .arg(chunk)
                .query_async::<u64>(&mut conn)
                .await
                .map_err(fail("delete"))?;
        }
        Ok(removed)
    }

    async fn scan(&self, pattern: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut out = Vec::new();
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(fail("scan"))?;
            out.extend(keys);
            if next == 0 {
                return Ok(out);
            }
            cursor = next;
        }
    }
}

/// Escapes Redis glob characters.
fn glob_escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\' | b'^') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

#[async_trait::async_trait]
impl OnlineStore for RedisStore {
    fn name(&self) -> &'static str {
        STORE
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            shared_between_processes: true,
            remote: true,
            expires_rows: false,
        }
    }

    async fn read(&self, view: &str, keys: &[EntityKey]) -> Result<Vec<Option<FeatureRow>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let p = self.row_key_prefix(view);
        let redis_keys: Vec<Vec<u8>> = keys.iter().map(|k| self.row_key(&p, k)).collect();
        let mut conn = self.conn.clone();
        let rows: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&redis_keys)
            .query_async(&mut conn)
            .await
            .map_err(fail("read"))?;
        rows.into_iter()
            .map(|r| r.map(|b| FeatureRow::decode(&b)).transpose())
            .collect()
    }

    async fn read_selected(
        &self,
        view: &str,
        keys: &[Vec<u8>],
        features: &[&str],
    ) -> Result<Vec<Option<SelectedRow>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let p = self.row_key_prefix(view);
        let redis_keys: Vec<Vec<u8>> = keys.iter().map(|k| [p.as_slice(), k].concat()).collect();
        let mut conn = self.conn.clone();
        let rows: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&redis_keys)
            .query_async(&mut conn)
            .await
            .map_err(fail("read"))?;
        rows.into_iter()
            .map(|r| r.map(|b| SelectedRow::decode(&b, features)).transpose())
            .collect()
    }

    async fn write(&self, batch: WriteBatch) -> Result<WriteSummary> {
        let pairs = batch.encode()?;
        let Some(key_names) = batch.key_names() else {
            return Ok(WriteSummary::default());
        };
        let p = self.row_key_prefix(&batch.view);
        let mut inv = self.write_script.prepare_invoke();
        inv.key(self.views_key());
        inv.arg(batch.view.as_str()).arg(key_names.join(","));
        for (key, row) in &pairs {
            let mut k = Vec::with_capacity(p.len() + key.len());
            k.extend_from_slice(&p);
            k.extend_from_slice(key);
            inv.key(k).arg(row.as_slice());
        }
        let mut conn = self.conn.clone();
        let (written, skipped): (u64, u64) =
            inv.invoke_async(&mut conn).await.map_err(fail("write"))?;
        Ok(WriteSummary { written, skipped })
    }

    async fn delete_entity(&self, key: &EntityKey) -> Result<u64> {
        let mut conn = self.conn.clone();
        let views: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.views_key())
            .query_async(&mut conn)
            .await
            .map_err(fail("delete"))?;
        let names: Vec<&str> = key.names().collect();
        let mut doomed: Vec<Vec<u8>> = Vec::new();
        for (view, view_keys) in &views {
            let view_keys: Vec<&str> = view_keys.split(',').collect();
            if !names.iter().all(|n| view_keys.contains(n)) {
                continue;
            }
            let p = self.row_key_prefix(view);
            if view_keys.len() == names.len() {
                doomed.push(self.row_key(&p, key));
            } else {
                // Composite keys: scan the view for rows that contain this entity.
                let mut pattern = glob_escape(&p);
                pattern.push(b'*');
                for k in self.scan(&pattern).await? {
                    let entity = k.strip_prefix(p.as_slice()).unwrap_or_default();
                    if EntityKey::decode(entity).is_ok_and(|ek| ek.contains(key)) {
                        doomed.push(k);
                    }
                }
            }
        }
        let mut removed = 0;
        for chunk in doomed.chunks(1000) {
            removed += redis::cmd("DEL")
                .arg(chunk)
                .query_async::<u64>(&mut conn)
                .await
                .map_err(fail("delete"))?;
        }
        Ok(removed)
    }

    async fn future_rows(
        &self,
        view: &str,
        keys: &[EntityKey],
        beyond_us: i64,
        drop: bool,
    ) -> Result<Vec<(EntityKey, Stamp)>> {
        self.rows_by_time(view, keys, |ts| ts > beyond_us, drop, "repair future rows")
            .await
    }

    async fn rows_before(
        &self,
        view: &str,
        before_us: i64,
        drop: bool,
    ) -> Result<Vec<(EntityKey, Stamp)>> {
        self.rows_by_time(view, &[], |ts| ts < before_us, drop, "apply retention")
            .await
    }

    async fn high_water_mark(&self, view: &str) -> Result<Option<i64>> {
        let mut conn = self.conn.clone();
        redis::cmd("HGET")
            .arg(self.hwm_key())
            .arg(view)
            .query_async(&mut conn)
            .await
            .map_err(fail("read high-water mark"))
    }

    async fn set_high_water_mark(&self, view: &str, ts_us: i64) -> Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("HSET")
            .arg(self.hwm_key())
            .arg(view)
            .arg(ts_us)
            .query_async::<()>(&mut conn)
            .await
            .map_err(fail("set high-water mark"))
    }
}

impl RedisStore {
    /// The rows of `view` (among `keys`, or all) whose event time `pick` selects; with
    /// `drop`, each is deleted if it is still the stored row (compare and delete).
    async fn rows_by_time(
        &self,
        view: &str,
        keys: &[EntityKey],
        pick: impl Fn(i64) -> bool + Send,
        drop: bool,
        op: &'static str,
    ) -> Result<Vec<(EntityKey, Stamp)>> {
        let p = self.row_key_prefix(view);
        let mut redis_keys: Vec<Vec<u8>> = if keys.is_empty() {
            let mut pattern = glob_escape(&p);
            pattern.push(b'*');
            self.scan(&pattern).await?
        } else {
            keys.iter().map(|k| self.row_key(&p, k)).collect()
        };
        redis_keys.sort();
        redis_keys.dedup();
        let mut conn = self.conn.clone();
        // (redis key, stored row, entity, stamp) of every row stamped beyond the bound.
        let mut found: Vec<(Vec<u8>, Vec<u8>, EntityKey, Stamp)> = Vec::new();
        for chunk in redis_keys.chunks(1000) {
            let rows: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                .arg(chunk)
                .query_async(&mut conn)
                .await
                .map_err(fail(op))?;
            for (k, row) in chunk.iter().zip(rows) {
                let Some(row) = row else { continue };
                let stamp = decode_stamp(&row)?;
                if pick(stamp.event_ts) {
                    let entity =
                        EntityKey::decode(k.strip_prefix(p.as_slice()).unwrap_or_default())?;
                    found.push((k.clone(), row, entity, stamp));
                }
            }
        }
        if !drop {
            return Ok(found.into_iter().map(|(_, _, e, s)| (e, s)).collect());
        }
        let mut dropped = Vec::with_capacity(found.len());
        for chunk in found.chunks(1000) {
            let mut inv = self.drop_script.prepare_invoke();
            for (k, row, _, _) in chunk {
                inv.key(k.as_slice()).arg(row.as_slice());
            }
            let idx: Vec<usize> = inv.invoke_async(&mut conn).await.map_err(fail(op))?;
            for i in idx {
                if let Some((_, _, e, s)) = i.checked_sub(1).and_then(|i| chunk.get(i)) {
                    dropped.push((e.clone(), *s));
                }
            }
        }
        Ok(dropped)
    }
}
