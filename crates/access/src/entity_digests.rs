//! The entities of a read as keyed hashes, for its audit record
//! ([`tessera_audit::AuditRecord::entities`]): one digest per (join key, value) pair, so a
//! subject access report for `user_id=42` finds reads of `user_id=42` alone and of
//! composite keys that contain it (`user_id=42,item_id=7`). The clear key is never
//! written.

use tessera_core::EntityHasher;
use tessera_online::KeyValue;

use crate::entity_rows::EntityRows;

/// The distinct digests of every (join key, value) pair of `rows`, join key by join key,
/// each in request order.
pub(crate) fn entity_digests(hasher: &EntityHasher, rows: &EntityRows) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(rows.len());
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    let mut text = String::new();
    for (name, values) in rows.columns() {
        for v in values {
            text.clear();
            match v {
                KeyValue::Int64(i) => {
                    use std::fmt::Write;
                    let _ = write!(text, "{i}");
                }
                KeyValue::String(s) => text.push_str(s),
            }
            let d = hasher.digest(&[(name, text.as_str())]);
            if seen.insert(d.clone()) {
                out.push(d);
            }
        }
    }
    out
}
