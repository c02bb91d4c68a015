//! What the device knows of consent, learned from the cloud. Consent is recorded in the
//! cloud (`POST /v1/consent`, `tessera consent …`); a device learns it from the cloud's
//! answers for a purpose that requires consent: a row answered `no_consent` means consent
//! is not in force for that entity, a row answered with values (`present`, `null`,
//! `missing`, `expired`, `suppressed`) means it is. The device records what it learns,
//! when it learns it, in its own consent log (`<device dir>/consent.jsonl`, keyed hashes
//! only), which its access layer's consent gate checks on every read — so the device's own
//! features of the purpose are withheld (`no_consent`) as the cloud's are, also when the
//! device is offline, and for an entity the cloud has never answered about (fail closed).
//! See `docs/DEVICE.md`.

use std::path::Path;
use std::sync::Arc;

use tessera_access::{key_text, EntityRows, FeatureColumn, ValueStatus as Status};
use tessera_consent::{ConsentState, ConsentStore};
use tessera_core::{Catalog, EntityHasher};
use tessera_online::EntityKey;

use crate::error::{Error, Result};

/// The file of the device's consent log, in its directory.
pub const CONSENT_FILE: &str = "consent.jsonl";

/// Opens the device's consent log in `dir`.
pub(crate) fn open(dir: &Path, hasher: EntityHasher) -> Result<Arc<ConsentStore>> {
    ConsentStore::open_with(dir.join(CONSENT_FILE), hasher)
        .map(Arc::new)
        .map_err(Error::Consent)
}

/// What one answered row says of consent: `Some(in force)`, or nothing.
fn said(statuses: impl Iterator<Item = Status>) -> Option<bool> {
    let mut granted = false;
    for s in statuses {
        match s {
            Status::NoConsent => return Some(false),
            Status::Present
            | Status::Null
            | Status::Missing
            | Status::Expired
            | Status::Suppressed => granted = true,
            // Refused, unavailable, erased, stale: the cloud said nothing of consent.
            _ => {}
        }
    }
    granted.then_some(true)
}

/// Learns consent for `purpose` from a cloud answer: `columns` hold the answer for the
/// entity rows `rows` of `entities` (value `j` of a column is row `rows[j]`). A withdrawal
/// is recorded for every join-key value of the row (none of them has consent); a grant
/// only for a row of one join key (with several, the cloud's "any of them" does not say
/// which). Only changes are written.
pub(crate) fn learn(
    store: &ConsentStore,
    catalog: &Catalog,
    purpose: &str,
    entities: &EntityRows,
    rows: &[usize],
    columns: &[FeatureColumn],
) -> Result<()> {
    if !catalog
        .purposes()
        .get(purpose)
        .is_some_and(|p| p.requires_consent)
    {
        return Ok(());
    }
    let now = tessera_consent::now_us();
    let single = entities.columns().count() == 1;
    let (mut grant, mut withdraw) = (Vec::new(), Vec::new());
    for (j, &row) in rows.iter().enumerate() {
        let Some(in_force) = said(columns.iter().filter_map(|c| c.statuses.get(j).copied())) else {
            continue;
        };
        if in_force && !single {
            continue;
        }
        for (name, values) in entities.columns() {
            let Some(v) = values.get(row) else { continue };
            let d = store.digest(name, &key_text(v));
            if store.in_force(&d, purpose, now) != in_force {
                let to = if in_force { &mut grant } else { &mut withdraw };
                if !to.contains(&d) {
                    to.push(d);
                }
            }
        }
    }
    for (state, digests) in [
        (ConsentState::Granted, grant),
        (ConsentState::Withdrawn, withdraw),
    ] {
        if !digests.is_empty() {
            store
                .record(purpose, state, now, &digests)
                .map_err(Error::Consent)?;
        }
    }
    Ok(())
}

/// Forgets what was learned about the entity `key` (its erasure); returns the changes
/// removed.
pub(crate) fn forget(store: &ConsentStore, key: &EntityKey) -> Result<usize> {
    let mut removed = 0;
    for (name, v) in key.parts() {
        removed += store
            .erase(&store.digest(name, &key_text(v)))
            .map_err(Error::Consent)?;
    }
    Ok(removed)
}
