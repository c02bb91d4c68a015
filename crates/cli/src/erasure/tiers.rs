//! The tiers of an erasure, in the order they run, each idempotent: a rerun after a crash
//! finds nothing left to remove where the first run finished. Every tier returns a
//! [`TierReport`] naming what it removed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use serde_json::{json, Value};
use tessera_core::{Catalog, OnlineStoreConfig, RepoConfig, SourceType};
use tessera_online::{EntityKey, OnlineStore};
use tessera_stream::{rewrite_files_keeping, RewriteOptions, RewriteOutcome, RowPredicate};

use super::report::TierReport;
use super::subject::Subject;

/// The entity's string values met while erasing (kept in memory only, for the byte scan),
/// and those also met in other entities' rows (not evidence of anything).
#[derive(Debug, Default)]
pub(crate) struct Values {
    pub own: BTreeSet<String>,
    pub shared: BTreeSet<String>,
}

/// What every tier needs.
#[derive(Debug)]
pub(crate) struct Erasure<'a> {
    pub root: &'a Path,
    pub cfg: &'a RepoConfig,
    pub catalog: &'a Catalog,
    pub subjects: &'a [Subject],
    pub values: Arc<Mutex<Values>>,
}

impl Erasure<'_> {
    fn store_keys(&self) -> Result<Vec<EntityKey>> {
        let mut out = Vec::new();
        for s in self.subjects {
            out.extend(s.store_keys()?);
        }
        Ok(out)
    }

    fn remember(&self, v: &str) {
        if let Ok(mut g) = self.values.lock() {
            g.own.insert(v.to_string());
        }
    }
}

/// The tiers, by name, in order.
pub(crate) const TIERS: [&str; 8] = [
    "tombstone",
    "online",
    "stream_state",
    "offline_log",
    "sources",
    "audit",
    "consent",
    "content",
];

/// Runs one tier.
pub(crate) async fn run(tier: &str, e: &Erasure<'_>, rewrite_sources: bool) -> Result<TierReport> {
    match tier {
        "tombstone" => tombstone(e),
        "online" => online(e).await,
        "stream_state" => stream_state(e).await,
        "offline_log" => offline_log(e).await,
        "sources" => sources(e, rewrite_sources).await,
        "audit" => Ok(TierReport::new(
            "audit",
            "no record holds an entity key (records carry counts, features and reasons); this erasure is audited by keyed hash",
            json!({"records_rewritten": 0}),
        )),
        "consent" => consent(e, None),
        "content" => Ok(TierReport::new(
            "content",
            "content views are loaded from their sources when `tessera serve` starts: rewritten sources (--rewrite-sources) no longer hold the entity",
            json!({}),
        )),
        other => anyhow::bail!("internal error: unknown erasure tier `{other}`"),
    }
}

fn tombstone(e: &Erasure<'_>) -> Result<TierReport> {
    let digests: Vec<String> = e.subjects.iter().map(|s| s.digest.clone()).collect();
    let added = super::tombstones::add(e.root, &digests)?;
    Ok(TierReport::new(
        "tombstone",
        &format!("{added} keyed hash(es) added to {} (offline reads of sources Tessera does not own skip them)", super::tombstones::TOMBSTONES),
        json!({"added": added}),
    ))
}

/// Erases the subjects' consent history: every change recorded for each of their join-key
/// values (consent is recorded per single join key, by keyed hash). Through `store` (a
/// running server's, so its index drops them at once) or the repository's log.
pub(crate) fn consent(
    e: &Erasure<'_>,
    store: Option<&tessera_consent::ConsentStore>,
) -> Result<TierReport> {
    let opened;
    let store = match store {
        Some(s) => s,
        None => {
            opened =
                tessera_consent::ConsentStore::open(e.root).context("opening the consent log")?;
            &opened
        }
    };
    let removed = erase_consent(store, e.subjects)?;
    Ok(TierReport::new(
        "consent",
        &format!(
            "{removed} consent change(s) removed from {} (log rewritten atomically)",
            store.path().display()
        ),
        json!({"lines_removed": removed}),
    ))
}

/// Removes every consent change of each join-key value of `subjects`; returns how many.
pub(crate) fn erase_consent(
    store: &tessera_consent::ConsentStore,
    subjects: &[Subject],
) -> Result<usize> {
    let mut digests: Vec<String> = subjects
        .iter()
        .flat_map(|s| s.parts.iter().map(|(n, v)| store.digest(n, v)))
        .collect();
    digests.sort();
    digests.dedup();
    let mut removed = 0;
    for d in &digests {
        removed += store.erase(d).context("erasing from the consent log")?;
    }
    Ok(removed)
}

/// The feature views whose join keys include every part of some subject.
fn views_of<'c>(catalog: &'c Catalog, subjects: &[Subject]) -> Vec<&'c str> {
    catalog
        .feature_views()
        .values()
        .filter(|v| {
            let keys: Vec<&str> = v
                .entities
                .iter()
                .filter_map(|en| catalog.entities().get(en))
                .flat_map(|en| en.join_keys.iter().map(String::as_str))
                .collect();
            subjects
                .iter()
                .any(|s| s.parts.iter().all(|(n, _)| keys.contains(&n.as_str())))
        })
        .map(|v| v.name.as_str())
        .collect()
}

async fn online(e: &Erasure<'_>) -> Result<TierReport> {
    let keys = e.store_keys()?;
    let (store, embedded_dir): (Arc<dyn OnlineStore>, Option<PathBuf>) = match &e.cfg.online_store {
        OnlineStoreConfig::Embedded { path } => {
            let dir = RepoConfig::resolve(e.root, path);
            let s = tessera_online::EmbeddedStore::open(&dir).with_context(|| {
                format!("opening the embedded online store {} (hint: stop `tessera serve` on this repository, or erase through it: POST /v1/erase)", dir.display())
            })?;
            (Arc::new(s), Some(dir))
        }
        OnlineStoreConfig::Redis { .. } => (
            tessera_online::open_store(e.cfg, e.root)
                .await
                .context("opening the online store")?,
            None,
        ),
    };
    // The entity's values, for the byte scan (before they are deleted).
    for view in views_of(e.catalog, e.subjects) {
        if let Ok(rows) = store.read(view, &keys).await {
            for row in rows.into_iter().flatten() {
                for v in row.values.values() {
                    collect_strings(v, &mut |s| e.remember(s));
                }
            }
        }
    }
    let mut removed = 0u64;
    for k in &keys {
        removed += store
            .delete_entity(k)
            .await
            .with_context(|| format!("deleting from the {} online store", store.name()))?;
    }
    let name = store.name();
    drop(store);
    let mut detail = format!("{removed} row(s) deleted from the {name} store (every view and aggregation state keyed by the entity)");
    let mut j = json!({"store": name, "rows_removed": removed});
    if let Some(dir) = embedded_dir {
        let started = std::time::Instant::now();
        // The last handle is gone; the store closes on its writer thread: wait for it.
        let mut tries = 0;
        // A freed page the compaction keeps must not hold the entity's rows: their keys
        // (bytes no other row holds) are looked for, and the store rebuilt if found. The
        // same pass looks for the entity's values: once its key is gone from the file, a
        // value still found there belongs to other entities' live rows (a genre, a
        // country), not evidence of this one, like values met in their log rows.
        let needles: Vec<Vec<u8>> = keys.iter().map(|k| k.encode()).collect();
        let own: Vec<String> = e
            .values
            .lock()
            .map(|g| g.own.iter().cloned().collect())
            .unwrap_or_default();
        let done = loop {
            match tessera_online::compact_embedded_erasing(&dir, &needles, &own) {
                Ok(b) => break b,
                Err(err) if tries < 200 => {
                    tries += 1;
                    let _ = err;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(err) => return Err(err).context("compacting the embedded online store"),
            }
        };
        if let Some(c) = done {
            if let Ok(mut g) = e.values.lock() {
                for (v, found) in own.into_iter().zip(&c.values_found) {
                    if *found {
                        g.shared.insert(v);
                    }
                }
            }
            let b = c.bytes;
            detail.push_str(&format!(
                "; file compacted {} → {} bytes{} in {} ms",
                b.before,
                b.after,
                if c.rebuilt { " (rebuilt)" } else { "" },
                started.elapsed().as_millis()
            ));
            j["bytes_before"] = json!(b.before);
            j["bytes_after"] = json!(b.after);
            j["rebuilt"] = json!(c.rebuilt);
            j["compact_ms"] = json!(started.elapsed().as_millis() as u64);
        }
    }
    Ok(TierReport::new("online", &detail, j))
}

fn collect_strings(v: &tessera_online::Value, f: &mut impl FnMut(&str)) {
    match v {
        tessera_online::Value::String(s) => f(s),
        tessera_online::Value::List(l) => l.iter().for_each(|x| collect_strings(x, f)),
        _ => {}
    }
}

/// The event ids of the subjects' offline-log rows, per stream source that declares an
/// `event_id_field`. Read before `offline_log` rewrites the rows away (a rerun after a
/// crash reads them again while the rows are still there).
fn event_ids(e: &Erasure<'_>) -> Result<Vec<tessera_stream::SourceIds>> {
    let keep = predicate(e);
    let mut out = Vec::new();
    for s in e.catalog.sources().values() {
        let Some(field) = s.stream.as_ref().and_then(|st| st.event_id_field.as_ref()) else {
            continue;
        };
        let files = data_files(&s.resolved_path(e.root));
        let ids = tessera_stream::collect_event_ids(&files, field, &keep)
            .with_context(|| format!("reading the event ids of stream source `{}`", s.name))?;
        out.push(tessera_stream::SourceIds {
            source: s.name.clone(),
            ids,
        });
    }
    Ok(out)
}

async fn stream_state(e: &Erasure<'_>) -> Result<TierReport> {
    let keys = e.store_keys()?;
    let ids = event_ids(e)?;
    let root = e.root.to_path_buf();
    let reports = tokio::task::spawn_blocking(move || {
        tessera_stream::erase_entity_states_and_ids(&root, &keys, &ids)
    })
        .await
        .context("the erasure task failed")?
        .context("erasing the stream engine's states (hint: stop `tessera serve`/`tessera ingest` on this repository first)")?;
    let removed: u64 = reports.iter().map(|r| r.states_removed).sum();
    let ids_removed: u64 = reports.iter().map(|r| r.ids_removed).sum();
    let files: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({"file": r.file.display().to_string(), "states_removed": r.states_removed, "ids_removed": r.ids_removed,
                   "bytes_before": r.bytes_before, "bytes_after": r.bytes_after})
        })
        .collect();
    Ok(TierReport::new(
        "stream_state",
        &format!(
            "{removed} state(s) and {ids_removed} event id(s) removed from {} file(s) (checkpoint, snapshots), compacted",
            reports.len()
        ),
        json!({"states_removed": removed, "event_ids_removed": ids_removed, "files": files}),
    ))
}

/// The predicate keeping every row not of a subject; dropped rows' strings are remembered.
fn predicate<'a>(e: &'a Erasure<'_>) -> RowPredicate<'a> {
    let columns = key_columns(e.subjects);
    RowPredicate::new(columns, move |b: &RecordBatch| {
        let keep = keep_rows(e.subjects, b)?;
        if keep.iter().any(|k| !k) {
            remember_rows(e, b, &keep);
        }
        Ok(BooleanArray::from(keep))
    })
}

/// The join-key columns of `subjects`.
pub(crate) fn key_columns(subjects: &[Subject]) -> Vec<String> {
    let mut columns: Vec<String> = subjects
        .iter()
        .flat_map(|s| s.parts.iter().map(|(n, _)| n.clone()))
        .collect();
    columns.sort();
    columns.dedup();
    columns
}

/// For each row of `b`: whether it belongs to none of `subjects` (every part of a subject
/// must be a column of the batch, equal as text, for a row to be the subject's).
pub(crate) fn keep_rows(
    subjects: &[Subject],
    b: &RecordBatch,
) -> Result<Vec<bool>, tessera_stream::Error> {
    let n = b.num_rows();
    let mut keep = vec![true; n];
    for s in subjects {
        let mut hit = vec![true; n];
        let mut usable = true;
        for (name, value) in &s.parts {
            let Some(c) = b.column_by_name(name) else {
                usable = false;
                break;
            };
            // Integers compare as integers (no text per row); everything else as text.
            if let Some(ints) = c.as_any().downcast_ref::<Int64Array>() {
                let want = value.parse::<i64>().ok();
                for (i, h) in hit.iter_mut().enumerate() {
                    *h = *h && want.is_some() && ints.is_valid(i) && Some(ints.value(i)) == want;
                }
                continue;
            }
            let text = arrow::compute::cast(c, &DataType::Utf8)?;
            let Some(text) = text.as_any().downcast_ref::<StringArray>() else {
                usable = false;
                break;
            };
            for (i, h) in hit.iter_mut().enumerate() {
                *h = *h && text.is_valid(i) && text.value(i) == value;
            }
        }
        if usable {
            for (k, h) in keep.iter_mut().zip(&hit) {
                *k = *k && !h;
            }
        }
    }
    Ok(keep)
}

/// Remembers the string values of dropped rows, and which of them kept rows hold too.
fn remember_rows(e: &Erasure<'_>, b: &RecordBatch, keep: &[bool]) {
    let Ok(mut g) = e.values.lock() else {
        return;
    };
    for c in b.columns() {
        let Some(s) = c.as_any().downcast_ref::<StringArray>() else {
            continue;
        };
        for (i, k) in keep.iter().enumerate() {
            if !k && s.is_valid(i) {
                g.own.insert(s.value(i).to_string());
            }
        }
        for (i, k) in keep.iter().enumerate() {
            if *k && s.is_valid(i) && g.own.contains(s.value(i)) {
                let v = s.value(i).to_string();
                g.shared.insert(v);
            }
        }
    }
}

/// Every data file under `path` (a file, or a directory searched recursively), hidden
/// temporary files excepted.
pub(crate) fn data_files(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            if let Ok(d) = std::fs::read_dir(&p) {
                stack.extend(d.flatten().map(|e| e.path()));
            }
        } else if p.is_file()
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            && p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("parquet") || x.eq_ignore_ascii_case("csv"))
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Rewrites `files` without the subjects' rows; (files rewritten, rows removed, details).
fn rewrite_all(e: &Erasure<'_>, files: &[PathBuf]) -> Result<(usize, u64, Vec<Value>)> {
    let keep = predicate(e);
    let (mut rewritten, mut rows) = (0usize, 0u64);
    let mut details = Vec::new();
    // The files are independent: rewritten on every core (each atomically).
    let reports = rewrite_files_keeping(files, &keep, &RewriteOptions::default(), 0)
        .context("rewriting files without the erased rows")?;
    for r in reports {
        if r.outcome != RewriteOutcome::Unchanged {
            rewritten += 1;
            rows += r.rows_removed();
            details.push(
                json!({"file": r.path.display().to_string(), "rows_removed": r.rows_removed()}),
            );
        }
    }
    Ok((rewritten, rows, details))
}

/// The stream sources' offline log directories.
pub(crate) fn log_dirs(e: &Erasure<'_>) -> Vec<PathBuf> {
    e.catalog
        .sources()
        .values()
        .filter(|s| s.stream.is_some())
        .map(|s| s.resolved_path(e.root))
        .collect()
}

async fn offline_log(e: &Erasure<'_>) -> Result<TierReport> {
    let files: Vec<PathBuf> = log_dirs(e).iter().flat_map(|d| data_files(d)).collect();
    let (rewritten, rows, details) = rewrite_all(e, &files)?;
    Ok(TierReport::new(
        "offline_log",
        &format!(
            "{rows} row(s) removed; {rewritten} of {} log file(s) rewritten",
            files.len()
        ),
        json!({"rows_removed": rows, "files_rewritten": rewritten, "files_scanned": files.len(), "files": details}),
    ))
}

/// The batch sources' files (sources Tessera does not own).
pub(crate) fn source_files(e: &Erasure<'_>) -> Vec<PathBuf> {
    e.catalog
        .sources()
        .values()
        .filter(|s| s.source_type == SourceType::Batch && s.stream.is_none())
        .flat_map(|s| data_files(&s.resolved_path(e.root)))
        .collect()
}

async fn sources(e: &Erasure<'_>, rewrite: bool) -> Result<TierReport> {
    let files = source_files(e);
    if !rewrite {
        return Ok(TierReport::new(
            "sources",
            &format!("{} file(s) of batch sources not rewritten (not Tessera's; pass --rewrite-sources to rewrite them); offline reads skip the entity by its tombstone", files.len()),
            json!({"rewritten": false, "files": files.len()}),
        ));
    }
    let (rewritten, rows, details) = rewrite_all(e, &files)?;
    Ok(TierReport::new(
        "sources",
        &format!(
            "{rows} row(s) removed; {rewritten} of {} source file(s) rewritten atomically",
            files.len()
        ),
        json!({"rewritten": true, "rows_removed": rows, "files_rewritten": rewritten, "files_scanned": files.len(), "files": details}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc as StdArc;

    #[test]
    fn rows_of_a_subject_are_found_in_integer_and_text_columns() {
        let hasher = tessera_core::EntityHasher::from_key(&[1u8; 32]);
        let subjects = vec![Subject::parse("user_id=42", &hasher).unwrap()];
        let ints = RecordBatch::try_from_iter(vec![(
            "user_id",
            StdArc::new(Int64Array::from(vec![Some(41), Some(42), None, Some(420)]))
                as arrow::array::ArrayRef,
        )])
        .unwrap();
        assert_eq!(
            keep_rows(&subjects, &ints).unwrap(),
            vec![true, false, true, true]
        );
        let texts = RecordBatch::try_from_iter(vec![(
            "user_id",
            StdArc::new(StringArray::from(vec!["42", "042", "x"])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        assert_eq!(
            keep_rows(&subjects, &texts).unwrap(),
            vec![false, true, true]
        );
        let other = RecordBatch::try_from_iter(vec![(
            "item_id",
            StdArc::new(Int64Array::from(vec![42])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        assert_eq!(
            keep_rows(&subjects, &other).unwrap(),
            vec![true],
            "another key's column"
        );
    }
}
