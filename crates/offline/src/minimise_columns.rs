//! Minimisation of training sets: the same transforms as online reads
//! ([`tessera_core::Minimiser`]), applied to the training set's Arrow columns after the
//! point-in-time joins, so the Parquet file carries each transform's result type and never
//! a raw value of a minimised feature.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use tessera_core::{Catalog, FeatureRef, Minimiser, PlannedForm};

use crate::error::{Error, Result};
use crate::training_set::TrainingSetRequest;

/// The minimisation of one training set: which output columns are minimised and how.
#[derive(Debug, Default)]
pub struct TrainingSetMinimisation {
    columns: Vec<(String, Minimiser)>,
    forms: Vec<PlannedForm>,
}

impl TrainingSetMinimisation {
    /// Plans the minimisation of `req`'s features read for `purpose` (through the feature
    /// service `service`, if any): the purpose's entry, else the service's, else the
    /// feature's default. Fails when a pseudonymisation key is unset in this process.
    pub fn plan(
        catalog: &Catalog,
        purpose: &str,
        service: Option<&str>,
        req: &TrainingSetRequest,
    ) -> Result<Self> {
        let features = catalog.resolve_refs(&req.features)?;
        let mut out = Self::default();
        for f in &features {
            let Some(form) = catalog.planned_form(purpose, service, f)? else {
                continue;
            };
            let name = column_name(f, req.short_names);
            out.columns.push((name, form.minimiser(purpose)?));
            out.forms.push(form);
        }
        Ok(out)
    }

    /// Whether no feature is minimised.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Each minimised feature's form (transform, origin, result type).
    pub fn forms(&self) -> &[PlannedForm] {
        &self.forms
    }

    /// `view:feature` → transform, as audit records name them.
    pub fn transforms(&self) -> BTreeMap<String, String> {
        self.forms
            .iter()
            .map(|f| (f.feature.to_string(), f.transform.to_string()))
            .collect()
    }

    /// The training set with each minimised column replaced by its minimised form (and
    /// its field by the result type).
    pub fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if self.columns.is_empty() {
            return Ok(batch);
        }
        let schema = batch.schema();
        let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
        let mut arrays = batch.columns().to_vec();
        for (name, m) in &self.columns {
            let i = schema.index_of(name).map_err(|_| {
                Error::Internal(format!("training set has no column `{name}` to minimise"))
            })?;
            let a = m.apply_array(&arrays[i])?;
            fields[i] = Arc::new(Field::new(name, a.data_type().clone(), true));
            arrays[i] = a;
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
    }
}

fn column_name(f: &FeatureRef, short: bool) -> String {
    if short {
        f.feature.clone()
    } else {
        f.column_name()
    }
}
