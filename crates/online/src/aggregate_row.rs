//! How an aggregation view's per-entity state lives in an online store: one row per entity
//! whose only value, [`STATE_FEATURE`], holds the encoded `tessera_aggregate::ViewState`
//! (the tiles of every (aggregation, window) of the view). Readers decode it and finish the
//! aggregates as of the read time ([`aggregate_values`]).
//!
//! The row's [`Stamp`] is `(write time µs, sequence)`: the stream engine and
//! materialisation each write whole states, so the most recently written state wins.

use tessera_aggregate::{ViewSpec, ViewState};

use crate::entity_key::EntityKey;
use crate::error::{Error, Result};
use crate::feature_row::{FeatureRow, SelectedRow, Stamp};
use crate::online_store::WriteBatch;
use tessera_value::Value;

/// The name of the value that holds an aggregation state.
pub const STATE_FEATURE: &str = "__state";

/// A write of whole states for `view`.
pub fn state_batch(
    view: &str,
    rows: impl IntoIterator<Item = (EntityKey, Stamp, Vec<u8>)>,
) -> WriteBatch {
    let mut batch = WriteBatch::new(view, vec![STATE_FEATURE.to_string()]);
    for (key, stamp, bytes) in rows {
        batch.push(key, stamp, vec![Value::Bytes(bytes)]);
    }
    batch
}

/// Decodes the state held by a stored row.
pub fn state_of(row: &FeatureRow, spec: &ViewSpec) -> Result<ViewState> {
    decode_state(row.get(STATE_FEATURE), spec)
}

/// Decodes a state value.
fn decode_state(value: Option<&Value>, spec: &ViewSpec) -> Result<ViewState> {
    match value {
        Some(Value::Bytes(b)) => ViewState::decode(b, spec).map_err(|_| Error::Corrupt {
            what: "aggregation state",
            reason: "the stored state does not decode with the view's aggregations (was the view changed without re-materialising?)",
        }),
        _ => Err(Error::Corrupt {
            what: "aggregation state",
            reason: "the row holds no state value",
        }),
    }
}

/// The value of every aggregation of `spec` for a stored row (`None`: the entity has no
/// state, which reads as the empty aggregates — count 0, others null) as of `now_us`, or
/// as of the newest event applied when that is later (events stamped a little ahead of
/// this clock are never excluded).
pub fn aggregate_values(
    row: Option<&FeatureRow>,
    spec: &ViewSpec,
    now_us: i64,
) -> Result<Vec<Value>> {
    let state = match row {
        Some(r) => state_of(r, spec)?,
        None => spec.new_state(),
    };
    finish(&state, now_us)
}

/// As [`aggregate_values`], for a row read with [`crate::OnlineStore::read_selected`] of
/// [`STATE_FEATURE`] alone, with `None` for a value suppressed by its k-threshold
/// (fewer distinct contributors than `min_contributors.k`).
pub fn selected_aggregate_values(
    row: Option<&SelectedRow>,
    spec: &ViewSpec,
    now_us: i64,
) -> Result<Vec<Option<Value>>> {
    let state = match row {
        Some(r) => decode_state(r.values.first().and_then(Option::as_ref), spec)?,
        None => spec.new_state(),
    };
    let at = finish_time(&state, now_us);
    state.finish_at(at).map_err(|_| unfinishable())
}

/// The aggregates of a state as of `now_us`, or as of its newest event when later
/// (suppressed values as null).
fn finish(state: &ViewState, now_us: i64) -> Result<Vec<Value>> {
    state
        .value_at(finish_time(state, now_us))
        .map_err(|_| unfinishable())
}

fn finish_time(state: &ViewState, now_us: i64) -> i64 {
    state.max_ts().map_or(now_us, |m| m.max(now_us))
}

fn unfinishable() -> Error {
    Error::Corrupt {
        what: "aggregation state",
        reason: "the state cannot be finished at the read time",
    }
}
