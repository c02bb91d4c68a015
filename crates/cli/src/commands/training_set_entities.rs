//! The entities a training set read, for its audit record, as keyed hashes: one digest per
//! (join key, value) pair of the spine ([`tessera_audit::AuditRecord::entities`]).
//!
//! A training set reads many entities, so up to [`INLINE_MAX`] distinct digests go into the
//! record itself; more go to a side file in the audit directory,
//! `entities/training_set-<time>.digests` (one digest per line, sorted), which the record's
//! detail names (`entities_file=…`) and `tessera subject-report` searches. A million
//! distinct keys make a 65 MB side file and about a second of hashing
//! (see `docs/RETENTION.md`).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use tessera_audit::AuditRecord;
use tessera_core::EntityHasher;

/// The most digests written into the record itself.
pub(crate) const INLINE_MAX: usize = 1000;

/// The directory of side files, under the audit directory.
pub(crate) const SIDE_DIR: &str = "entities";

/// Hashes the `keys` columns of `batch` and records them in `record` (inline, or in a side
/// file under `audit_dir`).
pub(crate) fn record_entities(
    record: &mut AuditRecord,
    batch: &RecordBatch,
    keys: &[String],
    hasher: &EntityHasher,
    audit_dir: &Path,
) -> Result<()> {
    let mut digests = BTreeSet::new();
    let mut text = String::new();
    for key in keys {
        let Some(col) = batch.column_by_name(key) else {
            continue;
        };
        // Integers are hashed as their decimal text, as online reads hash them.
        let col = arrow::compute::cast(col, &DataType::Utf8).ok();
        let Some(col) = col else { continue };
        let strings = col.as_string::<i32>();
        for i in 0..strings.len() {
            if strings.is_null(i) {
                continue;
            }
            text.clear();
            text.push_str(strings.value(i));
            digests.insert(hasher.digest(&[(key.as_str(), text.as_str())]));
        }
    }
    if digests.len() <= INLINE_MAX {
        record.entities = digests.into_iter().collect();
        return Ok(());
    }
    let dir = audit_dir.join(SIDE_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stamp: String = record
        .time
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = format!("training_set-{stamp}.digests");
    let mut body = String::with_capacity(digests.len() * 65);
    for d in &digests {
        body.push_str(d);
        body.push('\n');
    }
    let path = dir.join(&name);
    std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
    let detail = record.detail.take().unwrap_or_default();
    record.detail = Some(format!(
        "{detail} entities={} entities_file={SIDE_DIR}/{name}",
        digests.len()
    ));
    Ok(())
}
