//! Applying events to the in-memory states of a source's aggregation views (the one
//! `tessera_aggregate` update code, for new batches and replays alike).

use hashbrown::{HashMap, HashSet};
use tessera_core::DenseGroups;

use super::state_keys::{encode_key, key_of, sorted_keys, EventRow};
use super::{ViewKind, ViewRuntime};
use crate::error::Result;
use crate::events::{Events, SourceSchema};

/// Applies `events` (all applied before, or about to be) to the states of the aggregation
/// views `include` selects (all when `None`) and records the touched entities. Rows whose
/// key cannot be read are skipped when `skip_bad_keys` (backfilled files), else refused.
pub(super) fn apply_events(
    views: &mut [ViewRuntime],
    include: Option<&[usize]>,
    schema: &SourceSchema,
    events: &Events,
    skip_bad_keys: bool,
    touched: &mut HashSet<(usize, Vec<u8>)>,
) -> Result<()> {
    for (vi, v) in views.iter_mut().enumerate() {
        if include.is_some_and(|inc| !inc.contains(&vi)) {
            continue;
        }
        let ViewKind::Aggregate { spec, states } = &mut v.kind else {
            continue;
        };
        let sorted = sorted_keys(&v.keys);
        // Each row's entity: an index into the batch's distinct keys (`SKIPPED` for rows
        // whose key cannot be read, when those are skipped).
        const SKIPPED: u32 = u32::MAX;
        let mut kb = Vec::new();
        let mut ids: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut first_row: Vec<usize> = Vec::new();
        let mut entity_of: Vec<u32> = Vec::with_capacity(events.len());
        for row in 0..events.len() {
            match encode_key(&sorted, events, row, &mut kb) {
                Ok(()) => {}
                Err(_) if skip_bad_keys => {
                    entity_of.push(SKIPPED);
                    continue;
                }
                Err(e) => return Err(e),
            }
            let id = match ids.get(kb.as_slice()) {
                Some(&id) => id,
                None => {
                    let id = first_row.len() as u32;
                    ids.insert(kb.clone(), id);
                    first_row.push(row);
                    id
                }
            };
            entity_of.push(id);
        }
        // The rows grouped by entity, each group in row order, so each entity's state is
        // looked up once and updated while it is in cache.
        let entities = first_row.len();
        let groups = DenseGroups::new(&entity_of, entities, SKIPPED);
        let mut keys: Vec<Vec<u8>> = vec![Vec::new(); entities];
        for (k, id) in ids {
            keys[id as usize] = k;
        }
        for (id, kb) in keys.iter().enumerate() {
            let entry = match states.get_mut(kb.as_slice()) {
                Some(e) => e,
                None => {
                    let key = key_of(&v.keys, events, first_row[id])?;
                    states
                        .entry(kb.clone())
                        .or_insert_with(|| (key, spec.new_state()))
                }
            };
            for &row in groups.rows(id) {
                let row = row as usize;
                let r = EventRow {
                    schema,
                    events,
                    row,
                };
                entry.1.update(spec, events.ts[row], &r)?;
            }
        }
        touched.extend(keys.into_iter().map(|k| (vi, k)));
    }
    Ok(())
}

pub(super) fn evict(views: &mut [ViewRuntime], touched: &HashSet<(usize, Vec<u8>)>, horizon: i64) {
    for (vi, kb) in touched {
        if let Some(ViewRuntime {
            kind: ViewKind::Aggregate { states, .. },
            ..
        }) = views.get_mut(*vi)
        {
            if let Some((_, s)) = states.get_mut(kb) {
                s.evict_before(horizon);
            }
        }
    }
}
