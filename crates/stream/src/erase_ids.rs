//! Erasing entities' event ids from the checkpoint's `idlog/<source>` records (the memory of
//! applied event ids that makes a redelivered event a no-op): the ids of an erased entity's
//! events are its data too (`demo-17` names the user's event). The ids are read from the
//! entity's offline-log rows ([`collect_event_ids`]) **before** those rows are rewritten
//! away, then removed from every record that holds them ([`remove_ids`]).

use std::path::{Path, PathBuf};

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use crate::checkpoint::{decode_ids, encode_ids, file_error, idlog_table};
use crate::error::Result;
use crate::log_rewrite::{rewrite_keeping, RewriteOptions, RowPredicate};

/// The event ids to erase from one stream source's id log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceIds {
    /// The stream source.
    pub source: String,
    /// The ids, encoded as the engine stores them.
    pub ids: Vec<Vec<u8>>,
}

/// The stored form of the event id at `row` of `col` (as the engine encodes ids).
fn id_at(col: &dyn Array, row: usize) -> Option<Vec<u8>> {
    if !col.is_valid(row) {
        return None;
    }
    if let Some(s) = col.as_any().downcast_ref::<StringArray>() {
        return Some([b"s:".as_slice(), s.value(row).as_bytes()].concat());
    }
    if let Some(n) = col.as_any().downcast_ref::<Int64Array>() {
        return Some([b"i:".as_slice(), &n.value(row).to_le_bytes()].concat());
    }
    let text = arrow::compute::cast(col, &DataType::Utf8).ok()?;
    let s = text.as_any().downcast_ref::<StringArray>()?;
    Some([b"s:".as_slice(), s.value(row).as_bytes()].concat())
}

/// The event ids (column `id_field`) of the rows of `files` that `keep` drops, read without
/// rewriting anything (files without the column or the predicate's columns give none).
pub fn collect_event_ids(
    files: &[PathBuf],
    id_field: &str,
    keep: &RowPredicate<'_>,
) -> Result<Vec<Vec<u8>>> {
    let found = std::sync::Mutex::new(Vec::new());
    for f in files {
        let mut columns = keep.columns().to_vec();
        if !columns.iter().any(|c| c == id_field) {
            columns.push(id_field.to_string());
        }
        let scan = RowPredicate::new(columns, |b: &RecordBatch| {
            let mask = keep.mask(b, f)?;
            if let (Some(col), Ok(mut g)) = (b.column_by_name(id_field), found.lock()) {
                for row in 0..b.num_rows() {
                    if !mask.value(row) {
                        g.extend(id_at(col.as_ref(), row));
                    }
                }
            }
            // Keep every row: this pass only reads.
            Ok(vec![true; b.num_rows()].into())
        });
        rewrite_keeping(f, &scan, &RewriteOptions::default())?;
    }
    let mut ids = found.into_inner().unwrap_or_default();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Removes `ids` from every record of the sources' id logs in `db`, in one transaction
/// (a record left without ids is removed); returns how many ids were removed.
pub(crate) fn remove_ids(db: &Database, path: &Path, sources: &[SourceIds]) -> Result<u64> {
    const ERASING: &str = "erasing event ids";
    let existing: Vec<String> = {
        let txn = db.begin_read().map_err(file_error(path, ERASING))?;
        let names = txn
            .list_tables()
            .map_err(file_error(path, ERASING))?
            .map(|t| t.name().to_string())
            .collect();
        names
    };
    let mut removed = 0u64;
    let txn = db.begin_write().map_err(file_error(path, ERASING))?;
    for s in sources.iter().filter(|s| !s.ids.is_empty()) {
        let doomed: std::collections::HashSet<&[u8]> = s.ids.iter().map(Vec::as_slice).collect();
        let name = idlog_table(&s.source);
        if !existing.contains(&name) {
            continue;
        }
        let mut t = txn
            .open_table(TableDefinition::<u64, &[u8]>::new(&name))
            .map_err(file_error(path, ERASING))?;
        let mut rewrites: Vec<(u64, Option<Vec<u8>>)> = Vec::new();
        for e in t.iter().map_err(file_error(path, ERASING))? {
            let (k, v) = e.map_err(file_error(path, ERASING))?;
            let Some((_, ids)) = decode_ids(v.value()) else {
                continue;
            };
            let before = ids.len();
            let kept: Vec<(Vec<u8>, i64)> = ids
                .into_iter()
                .filter(|(id, _)| !doomed.contains(id.as_slice()))
                .collect();
            if kept.len() < before {
                removed += (before - kept.len()) as u64;
                rewrites.push((k.value(), (!kept.is_empty()).then(|| encode_ids(&kept))));
            }
        }
        for (k, v) in rewrites {
            match v {
                Some(v) => {
                    t.insert(k, v.as_slice())
                        .map_err(file_error(path, ERASING))?;
                }
                None => {
                    t.remove(k).map_err(file_error(path, ERASING))?;
                }
            }
        }
    }
    txn.commit().map_err(file_error(path, ERASING))?;
    Ok(removed)
}

/// Copies the live contents of the checkpoint `db` (tables `meta`, `idlog/*`, `state/*`)
/// into a fresh file beside it, `.<name>.rebuild` (returned), to be renamed over it once
/// `db` is closed: a compaction moves live pages but leaves the bytes of freed pages that
/// stay inside the file (an id log record rewritten in place of an earlier one), a fresh
/// copy holds no freed page at all. `None` (nothing written) when the file holds a table
/// of another kind, which this copy would not know how to read.
pub(crate) fn rebuild_copy(db: &Database, path: &Path) -> Result<Option<PathBuf>> {
    const REBUILDING: &str = "rebuilding after an erasure";
    let tmp = path.with_file_name(format!(
        ".{}.rebuild",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let read = db.begin_read().map_err(file_error(path, REBUILDING))?;
    let names: Vec<String> = read
        .list_tables()
        .map_err(file_error(path, REBUILDING))?
        .map(|t| t.name().to_string())
        .collect();
    if names
        .iter()
        .any(|n| n != "meta" && !n.starts_with("idlog/") && !n.starts_with("state/"))
    {
        return Ok(None);
    }
    let _ = std::fs::remove_file(&tmp);
    let fresh = Database::create(&tmp).map_err(file_error(path, REBUILDING))?;
    let w = fresh.begin_write().map_err(file_error(path, REBUILDING))?;
    for name in &names {
        if name == "meta" {
            let def = TableDefinition::<&str, &[u8]>::new(name);
            let src = read.open_table(def).map_err(file_error(path, REBUILDING))?;
            let mut dst = w.open_table(def).map_err(file_error(path, REBUILDING))?;
            for e in src.iter().map_err(file_error(path, REBUILDING))? {
                let (k, v) = e.map_err(file_error(path, REBUILDING))?;
                dst.insert(k.value(), v.value())
                    .map_err(file_error(path, REBUILDING))?;
            }
        } else if name.starts_with("idlog/") {
            let def = TableDefinition::<u64, &[u8]>::new(name);
            let src = read.open_table(def).map_err(file_error(path, REBUILDING))?;
            let mut dst = w.open_table(def).map_err(file_error(path, REBUILDING))?;
            for e in src.iter().map_err(file_error(path, REBUILDING))? {
                let (k, v) = e.map_err(file_error(path, REBUILDING))?;
                dst.insert(k.value(), v.value())
                    .map_err(file_error(path, REBUILDING))?;
            }
        } else {
            let def = TableDefinition::<&[u8], &[u8]>::new(name);
            let src = read.open_table(def).map_err(file_error(path, REBUILDING))?;
            let mut dst = w.open_table(def).map_err(file_error(path, REBUILDING))?;
            for e in src.iter().map_err(file_error(path, REBUILDING))? {
                let (k, v) = e.map_err(file_error(path, REBUILDING))?;
                dst.insert(k.value(), v.value())
                    .map_err(file_error(path, REBUILDING))?;
            }
        }
    }
    w.commit().map_err(file_error(path, REBUILDING))?;
    drop(fresh);
    Ok(Some(tmp))
}

/// Renames the rebuilt copy `tmp` over `path` and syncs the directory.
pub(crate) fn replace_with(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(tmp, path).map_err(file_error(path, "replacing it with its rebuilt copy"))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
