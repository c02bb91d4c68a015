//! Compacting the embedded store's file after an erasure: redb is copy-on-write, so a
//! deleted row's bytes stay in pages the database has freed until something overwrites
//! them. [`compact_embedded`] runs redb's compaction (free pages are reused by moving live
//! pages down, and the file is truncated) until it has nothing left to do, then reports
//! the file's size before and after. The store must not be open elsewhere (redb refuses:
//! the error says so).

use std::path::Path;

use crate::error::{Error, Result};

/// What a compaction of the embedded store did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionBytes {
    /// File size before, in bytes.
    pub before: u64,
    /// File size after, in bytes.
    pub after: u64,
}

/// Compacts the embedded store in directory `dir` (see the module docs); `None` when the
/// directory holds no store.
pub fn compact_embedded(dir: &Path) -> Result<Option<CompactionBytes>> {
    let path = dir.join(crate::embedded_store::FILE_NAME);
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    if !path.exists() {
        return Ok(None);
    }
    let before = size(&path);
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| {
        Error::Open {
        store: "embedded",
        location: dir.display().to_string(),
        hint: "stop the process that has the store open (`tessera serve`), or erase through it with POST /v1/erase",
        source: e,
    }
    };
    {
        let mut db = redb::Database::open(&path).map_err(|e| fail(Box::new(e)))?;
        let mut rounds = 0;
        while db.compact().map_err(|e| fail(Box::new(e)))? && rounds < 8 {
            rounds += 1;
        }
    }
    Ok(Some(CompactionBytes {
        before,
        after: size(&path),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntityKey, OnlineStore, Stamp, Value, WriteBatch};

    fn holds(p: &Path, needle: &[u8]) -> bool {
        std::fs::read(p)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
    }

    #[tokio::test]
    async fn a_deleted_rows_bytes_are_gone_after_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::EmbeddedStore::open(dir.path()).unwrap();
        let secret = "secret-value-of-user-7-xyzzy";
        let mut batch = WriteBatch::new("profile", vec!["name".into()]);
        for u in 0..2000i64 {
            let v = if u == 7 {
                secret.to_string()
            } else {
                format!("value-{u}")
            };
            batch.push(
                EntityKey::int("user_id", u),
                Stamp::new(1, 1),
                vec![Value::from(v)],
            );
        }
        store.write(batch).await.unwrap();
        assert_eq!(
            store
                .delete_entity(&EntityKey::int("user_id", 7))
                .await
                .unwrap(),
            1
        );
        store.close();
        let file = dir.path().join(crate::embedded_store::FILE_NAME);
        let r = compact_embedded(dir.path()).unwrap().unwrap();
        assert!(r.after <= r.before, "{r:?}");
        assert!(
            !holds(&file, secret.as_bytes()),
            "the deleted value is still in the file"
        );
        assert!(holds(&file, b"value-1999"), "the other rows are kept");
    }
}
