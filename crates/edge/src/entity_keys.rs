//! The entity keys of a read for one view: the view's join keys picked out of the request's
//! entity rows.

use std::sync::Arc;

use tessera_access::EntityRows;
use tessera_online::EntityKey;

use crate::error::{Error, Result};

/// The key of every entity of `entities` for a view with `join_keys`.
pub(crate) fn keys_for(
    entities: &EntityRows,
    view: &str,
    join_keys: &[Arc<str>],
) -> Result<Vec<EntityKey>> {
    let mut cols = Vec::with_capacity(join_keys.len());
    for k in join_keys {
        let values = entities
            .columns()
            .find(|(name, _)| *name == k.as_ref())
            .map(|(_, v)| v)
            .ok_or_else(|| Error::BadInput {
                message: format!(
                    "feature view `{view}` needs join key `{k}`, which the read does not give"
                ),
                hint: format!(
                    "add `{k}` to the entity keys (given: {})",
                    entities.names().collect::<Vec<_>>().join(", ")
                ),
            })?;
        cols.push((k, values));
    }
    (0..entities.len())
        .map(|i| {
            EntityKey::new(cols.iter().map(|(n, v)| (Arc::clone(n), v[i].clone())))
                .map_err(Error::Store)
        })
        .collect()
}
