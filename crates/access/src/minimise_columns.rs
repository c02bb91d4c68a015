//! Minimisation in the read path: each feature's effective form is planned once per
//! (caller, purpose, features) with the rest of the plan, and applied to the fetched
//! columns before anything leaves the access layer — so every route (Feast, native, gRPC,
//! `tessera get`, the device runtime) returns the same minimised values.
//!
//! The transforms themselves live in `tessera_core` ([`Minimiser`]); the offline path
//! applies the same ones to Arrow columns.

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_core::{Catalog, FeatureRef, FeatureType, Minimiser, PlannedForm};

use crate::error::{Error, Result};
use crate::provider::ProviderKind;
use crate::read_result::FeatureColumn;

/// The minimisation of one plan.
#[derive(Debug, Default)]
pub(crate) struct PlanMinimisation {
    /// (output column, minimiser) for every minimised feature this access layer fetches
    /// itself. Features a remote server answers arrive minimised by it (same purpose).
    pub(crate) columns: Vec<(usize, Minimiser)>,
    /// `view:feature` → transform, for the audit record and the plan's readers.
    pub(crate) transforms: Arc<BTreeMap<String, String>>,
    /// Each feature's planned form, aligned with the plan's features (`None`: raw).
    pub(crate) forms: Vec<Option<PlannedForm>>,
}

/// Plans the minimisation of `features` read for `purpose` (through `service`, if any):
/// the form of each, and a minimiser for each the access layer must apply. Sets each
/// minimised feature's type in `types` to the transform's result type. Fails when a
/// pseudonymisation key is unset in this process.
pub(crate) fn plan_minimisation(
    catalog: &Catalog,
    purpose: &str,
    service: Option<&str>,
    features: &[FeatureRef],
    providers: &[ProviderKind],
    types: &mut [FeatureType],
) -> Result<PlanMinimisation> {
    let mut out = PlanMinimisation::default();
    let mut transforms = BTreeMap::new();
    for (col, f) in features.iter().enumerate() {
        let form = catalog
            .planned_form(purpose, service, f)
            .map_err(|source| Error::Minimise {
                feature: f.to_string(),
                source,
            })?;
        let Some(form) = form else {
            out.forms.push(None);
            continue;
        };
        if let Some(t) = types.get_mut(col) {
            *t = form.output.clone();
        }
        transforms.insert(f.to_string(), form.transform.to_string());
        if providers.get(col) != Some(&ProviderKind::Remote) {
            let m = form.minimiser(purpose).map_err(|source| Error::Minimise {
                feature: f.to_string(),
                source,
            })?;
            out.columns.push((col, m));
        }
        out.forms.push(Some(form));
    }
    out.transforms = Arc::new(transforms);
    Ok(out)
}

/// Replaces each minimised column's values by their minimised form (null stays null;
/// statuses and event times are kept).
pub(crate) fn minimise_columns(m: &PlanMinimisation, columns: &mut [FeatureColumn]) {
    for (col, minimiser) in &m.columns {
        if let Some(c) = columns.get_mut(*col) {
            minimiser.apply_values(&mut c.values);
        }
    }
}
