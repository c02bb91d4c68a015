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

/// What an erasing compaction did ([`compact_embedded_erasing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasingCompaction {
    /// The file's size before and after.
    pub bytes: CompactionBytes,
    /// Whether the store was rebuilt as a fresh copy (a freed page held an erased key).
    pub rebuilt: bool,
    /// Per value needle, in the order given: whether the final file still holds it (in
    /// another entity's live rows, since no erased key is left).
    pub values_found: Vec<bool>,
}

/// [`compact_embedded`], then one scan of the file for both the erased entity's `keys`
/// (its key encodings: bytes no other row holds) and its `values` (strings that other
/// entities' rows may share): redb's compaction moves live pages down but may keep freed
/// pages inside the file with their old bytes. If a key is found, the store is rebuilt as
/// a fresh copy — every table, live rows only, so no freed page at all — scanned once
/// more, and renamed over the file. An error if a key survives even that. The values still
/// found in the final file are reported (they are other entities' values).
pub fn compact_embedded_erasing<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    dir: &Path,
    keys: &[K],
    values: &[V],
) -> Result<Option<ErasingCompaction>> {
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
    let needles: Vec<&[u8]> = keys
        .iter()
        .map(AsRef::as_ref)
        .chain(values.iter().map(AsRef::as_ref))
        .collect();
    // One pass: keys and values together.
    let scan = |p: &Path| -> Result<(bool, Vec<bool>)> {
        let s =
            crate::byte_scan::scan_file(p, &needles).map_err(|e| fail("scanning")(Box::new(e)))?;
        let (k, v) = s.first.split_at(keys.len());
        Ok((
            k.iter().any(Option::is_some),
            v.iter().map(Option::is_some).collect(),
        ))
    };
    let (key_left, values_found) = scan(&path)?;
    if !key_left {
        return Ok(Some(ErasingCompaction {
            bytes,
            rebuilt: false,
            values_found,
        }));
    }
    let tmp = dir.join(format!(".{}.rebuild", crate::embedded_store::FILE_NAME));
    let _ = std::fs::remove_file(&tmp);
    {
        let db = redb::Database::open(&path).map_err(|e| fail("opening")(Box::new(e)))?;
        let fresh = redb::Database::create(&tmp).map_err(|e| fail("rebuilding")(Box::new(e)))?;
        copy_tables(&db, &fresh).map_err(fail("rebuilding"))?;
    }
    let (key_left, values_found) = scan(&tmp)?;
    if key_left {
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
    Ok(Some(ErasingCompaction {
        bytes,
        rebuilt: true,
        values_found,
    }))
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
