//! The consent gate: for a purpose with `requires_consent: true`, the values of an entity
//! whose consent for the purpose is not in force now are withheld (null, status
//! `no_consent`). It runs on every read after the values are merged (and on-demand
//! features computed), so every route — native, Feast, gRPC, `tessera get`, devices —
//! applies it the same way.
//!
//! An entity row is in consent when consent is in force for **any** of its join-key
//! values (`user_id=u1`; in a `(user_id, item_id)` row the user's consent covers the pair).
//! An access layer without a consent store withholds every value of such a purpose (fails
//! closed). See `docs/CONSENT.md`.

use std::sync::Arc;

use tessera_consent::ConsentStore;
use tessera_online::{KeyValue, Value};

use crate::access_layer::AccessLayer;
use crate::entity_rows::EntityRows;
use crate::error::{Error, Result};
use crate::read_result::{FeatureColumn, ValueStatus};

impl AccessLayer {
    /// Checks reads for purposes that require consent against `store`.
    pub fn with_consent(mut self, store: Arc<ConsentStore>) -> Self {
        self.consent = Some(store);
        self
    }

    /// The consent store, if any.
    pub fn consent(&self) -> Option<&Arc<ConsentStore>> {
        self.consent.as_ref()
    }

    /// Whether reads for `purpose` need consent.
    pub(crate) fn requires_consent(&self, purpose: &str) -> bool {
        self.catalog
            .purposes()
            .get(purpose)
            .is_some_and(|p| p.requires_consent)
    }

    /// Withholds the values of entities without consent for `purpose` in force now.
    pub(crate) fn consent_gate(
        &self,
        purpose: &str,
        entities: &EntityRows,
        columns: &mut [FeatureColumn],
    ) -> Result<()> {
        if !self.requires_consent(purpose) {
            return Ok(());
        }
        let now = tessera_consent::now_us();
        let allowed = match &self.consent {
            None => vec![false; entities.len()],
            Some(store) => {
                store.refresh_if_due().map_err(Error::Consent)?;
                rows_in_consent(store, entities, purpose, now)
            }
        };
        for (row, ok) in allowed.iter().enumerate() {
            if *ok {
                continue;
            }
            for c in columns.iter_mut() {
                if row < c.values.len() {
                    c.values[row] = Value::Null;
                    c.statuses[row] = ValueStatus::NoConsent;
                    c.event_ts[row] = None;
                }
            }
        }
        Ok(())
    }
}

/// Per entity row: whether consent for `purpose` is in force at `t_us` for any of its
/// join-key values.
pub(crate) fn rows_in_consent(
    store: &ConsentStore,
    entities: &EntityRows,
    purpose: &str,
    t_us: i64,
) -> Vec<bool> {
    let mut ok = vec![false; entities.len()];
    for (name, values) in entities.columns() {
        for (row, v) in values.iter().enumerate() {
            if !ok[row] {
                ok[row] = store.in_force(&store.digest(name, &key_text(v)), purpose, t_us);
            }
        }
    }
    ok
}

/// The audit `action` of consent changes.
pub const ACTION_CONSENT: &str = "consent";

/// The audit record of one consent change (`state` of `entities`, keyed hashes only, for
/// `purpose` from `at_us` on) made by `caller`.
pub fn consent_record(
    caller: &str,
    purpose: &str,
    state: &str,
    at_us: i64,
    entities: &[&str],
) -> tessera_audit::AuditRecord {
    let mut rec = tessera_audit::AuditRecord::now(ACTION_CONSENT, caller, purpose);
    rec.rows = entities.len() as u64;
    rec.detail = Some(format!(
        "state={state} at={} entities={}",
        tessera_consent::format_time(at_us),
        crate::list_cap::join_capped(entities, ",")
    ));
    rec
}

/// The text a join-key value is hashed as: `42` for the integer and the string alike.
pub fn key_text(v: &KeyValue) -> String {
    match v {
        KeyValue::Int64(i) => i.to_string(),
        KeyValue::String(s) => s.clone(),
    }
}
