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

/// [`compact_embedded`], then a check that none of `needles` (an erased entity's key
/// encodings: bytes no other row holds) is left anywhere in the file: redb's compaction moves live pages
/// down but may keep freed pages inside the file with their old bytes. If one is found, the
/// store is rebuilt as a fresh copy — every table, live rows only, so no freed page at all
/// — and renamed over the file. An error if a needle survives even that.
pub fn compact_embedded_erasing(
    dir: &Path,
    needles: &[Vec<u8>],
) -> Result<Option<CompactionBytes>> {
    let Some(mut bytes) = compact_embedded(dir)? else {
        return Ok(None);
    };
    let path = dir.join(crate::embedded_store::FILE_NAME);
    let shown = path.display().to_string();
    let fail = |action: &'static str| {
        let location = format!("{shown} ({action})");
        move |e: Box<dyn std::error::Error + Send + Sync>| {
            Error::Open {
            store: "embedded",
            location,
            hint: "stop the process that has the store open (`tessera serve`), or erase through it with POST /v1/erase",
            source: e,
        }
        }
    };
    if !file_holds_any(&path, needles).map_err(|e| fail("scanning")(Box::new(e)))? {
        return Ok(Some(bytes));
    }
    let tmp = dir.join(format!(".{}.rebuild", crate::embedded_store::FILE_NAME));
    let _ = std::fs::remove_file(&tmp);
    {
        let db = redb::Database::open(&path).map_err(|e| fail("opening")(Box::new(e)))?;
        let fresh = redb::Database::create(&tmp).map_err(|e| fail("rebuilding")(Box::new(e)))?;
        copy_tables(&db, &fresh).map_err(fail("rebuilding"))?;
    }
    if file_holds_any(&tmp, needles).map_err(|e| fail("scanning")(Box::new(e)))? {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("rebuilding")(
            "a fresh copy of the store still holds the erased entity's key".into(),
        ));
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| fail("replacing it with its rebuilt copy")(Box::new(e)))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    bytes.after = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok(Some(bytes))
}

/// Copies every table of `src` into `dst` in one transaction: `views` and
/// `high_water_marks` by their types, every other table (a view's rows) as bytes.
fn copy_tables(
    src: &redb::Database,
    dst: &redb::Database,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
    let read = src.begin_read()?;
    let names: Vec<String> = read.list_tables()?.map(|t| t.name().to_string()).collect();
    let w = dst.begin_write()?;
    for name in &names {
        match name.as_str() {
            "views" => {
                let def = TableDefinition::<&str, &str>::new(name);
                let (from, mut to) = (read.open_table(def)?, w.open_table(def)?);
                for e in from.iter()? {
                    let (k, v) = e?;
                    to.insert(k.value(), v.value())?;
                }
            }
            "high_water_marks" => {
                let def = TableDefinition::<&str, i64>::new(name);
                let (from, mut to) = (read.open_table(def)?, w.open_table(def)?);
                for e in from.iter()? {
                    let (k, v) = e?;
                    to.insert(k.value(), v.value())?;
                }
            }
            _ => {
                let def = TableDefinition::<&[u8], &[u8]>::new(name);
                let (from, mut to) = (read.open_table(def)?, w.open_table(def)?);
                for e in from.iter()? {
                    let (k, v) = e?;
                    to.insert(k.value(), v.value())?;
                }
            }
        }
    }
    w.commit()?;
    Ok(())
}

/// Whether the file holds any of `needles`, read in chunks (overlapping by the longest
/// needle, so none is missed at a chunk's edge).
fn file_holds_any(path: &Path, needles: &[Vec<u8>]) -> std::io::Result<bool> {
    use std::io::Read;
    let needles: Vec<&[u8]> = needles
        .iter()
        .map(|n| n.as_slice())
        .filter(|n| !n.is_empty())
        .collect();
    let Some(longest) = needles.iter().map(|n| n.len()).max() else {
        return Ok(false);
    };
    let finders: Vec<memchr::memmem::Finder<'_>> =
        needles.iter().map(memchr::memmem::Finder::new).collect();
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; (8 << 20) + longest];
    let mut kept = 0usize;
    loop {
        let n = f.read(&mut buf[kept..])?;
        if n == 0 {
            return Ok(false);
        }
        let end = kept + n;
        if finders.iter().any(|fi| fi.find(&buf[..end]).is_some()) {
            return Ok(true);
        }
        let keep = (longest - 1).min(end);
        buf.copy_within(end - keep..end, 0);
        kept = keep;
    }
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

    #[tokio::test]
    async fn an_erasing_compaction_leaves_no_needle_and_keeps_every_other_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::EmbeddedStore::open(dir.path()).unwrap();
        let secret = "secret-value-of-user-7-plugh";
        for view in ["profile", "activity"] {
            for round in 0..3 {
                let mut batch = WriteBatch::new(view, vec!["name".into()]);
                for u in 0..3000i64 {
                    let v = if u == 7 {
                        format!("{secret}-{round}")
                    } else {
                        format!("{view}-value-{u}-{round}")
                    };
                    batch.push(
                        EntityKey::int("user_id", u),
                        Stamp::new(round + 1, 1),
                        vec![Value::from(v)],
                    );
                }
                store.write(batch).await.unwrap();
            }
        }
        let key = EntityKey::int("user_id", 7);
        store.delete_entity(&key).await.unwrap();
        store.close();
        let needles = vec![key.encode()];
        compact_embedded_erasing(dir.path(), &needles)
            .unwrap()
            .unwrap();
        let file = dir.path().join(crate::embedded_store::FILE_NAME);
        assert!(!holds(&file, secret.as_bytes()));
        assert!(!file_holds_any(&file, &needles).unwrap());
        let store = crate::EmbeddedStore::open(dir.path()).unwrap();
        let rows = store
            .read("activity", &[EntityKey::int("user_id", 2999), key])
            .await
            .unwrap();
        assert!(rows[0].is_some() && rows[1].is_none());
    }

    #[test]
    fn a_needle_across_a_chunk_edge_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut bytes = vec![b'x'; (8 << 20) + 3];
        bytes[(8 << 20) - 2..(8 << 20) + 2].copy_from_slice(b"abcd");
        std::fs::write(&p, &bytes).unwrap();
        assert!(file_holds_any(&p, &[b"abcd".to_vec()]).unwrap());
        assert!(!file_holds_any(&p, &[b"abce".to_vec()]).unwrap());
    }
}
