//! Entity keys and event ids read from a batch's columns: the bytes the online store and
//! the engine's state maps are keyed by, encoded without building an [`EntityKey`] where
//! only the bytes are needed.

use tessera_core::aggregate::{Row, Value};
use tessera_online::{EntityKey, KeyValue, KeyValueRef};

use crate::error::{Error, Result};
use crate::events::{Events, SourceSchema};

/// One event of a batch, for filters and view updates.
pub(super) struct EventRow<'a> {
    pub(super) schema: &'a SourceSchema,
    pub(super) events: &'a Events,
    pub(super) row: usize,
}

impl Row for EventRow<'_> {
    fn get(&self, column: &str) -> Option<&Value> {
        let i = self.schema.index(column)?;
        self.events.cols.get(i).and_then(|c| c.get(self.row))
    }
}

pub(super) fn key_of(keys: &[(String, usize)], events: &Events, row: usize) -> Result<EntityKey> {
    let parts = keys
        .iter()
        .map(|(name, i)| {
            let (name, v) = key_part(name, *i, events, row)?;
            let v = match v {
                KeyValueRef::Int64(n) => KeyValue::Int64(n),
                KeyValueRef::String(s) => KeyValue::String(s.to_string()),
            };
            Ok((name, v))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(EntityKey::new(parts)?)
}

/// A view's join keys sorted by name (the order [`EntityKey`] keeps), with their columns.
pub(super) fn sorted_keys(keys: &[(String, usize)]) -> Vec<(&str, usize)> {
    let mut sorted: Vec<(&str, usize)> = keys.iter().map(|(n, i)| (n.as_str(), *i)).collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
}

fn key_part<'a>(
    name: &'a str,
    i: usize,
    events: &'a Events,
    row: usize,
) -> Result<(&'a str, KeyValueRef<'a>)> {
    match &events.cols[i][row] {
        Value::Int64(n) => Ok((name, KeyValueRef::Int64(*n))),
        Value::String(s) => Ok((name, KeyValueRef::String(s))),
        other => Err(Error::BadEvents {
            bad: 1,
            total: events.len(),
            problems: vec![format!("row {row}: entity key `{name}` is {other:?}")],
        }),
    }
}

/// Writes the encoded entity key of `row` to `out` (cleared first) without building the
/// [`EntityKey`]: the bytes `key_of(..).encode()` gives, and the same error.
pub(super) fn encode_key(
    sorted: &[(&str, usize)],
    events: &Events,
    row: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.clear();
    match sorted {
        [(name, i)] => EntityKey::encode_parts_into(out, &[key_part(name, *i, events, row)?])?,
        many => {
            let parts = many
                .iter()
                .map(|(name, i)| key_part(name, *i, events, row))
                .collect::<Result<Vec<_>>>()?;
            EntityKey::encode_parts_into(out, &parts)?;
        }
    }
    Ok(())
}

pub(super) fn id_bytes(d: &Value) -> Option<Vec<u8>> {
    match d {
        Value::String(s) => Some([b"s:".as_slice(), s.as_bytes()].concat()),
        Value::Int64(n) => Some([b"i:".as_slice(), &n.to_le_bytes()].concat()),
        _ => None,
    }
}
