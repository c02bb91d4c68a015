//! On-demand features in training sets: after the point-in-time join, each on-demand
//! feature is evaluated row by row on the joined input columns and the spine's
//! request-context columns, with the same compiled expression serving uses.

use std::collections::BTreeMap;

use arrow::array::ArrayRef;
use arrow::record_batch::RecordBatch;
use tessera_core::aggregate::Value;
use tessera_core::{values_to_array, ArrowValues, FeatureRef, FeatureType, InputSlot};
use tessera_expr::{Expr, ExprType};

use crate::error::{Error, Result};

/// One on-demand feature of a training set.
#[derive(Debug, Clone)]
pub(crate) struct OnDemandPlan {
    pub(crate) feature: FeatureRef,
    pub(crate) expr: Expr,
    pub(crate) slots: Vec<InputSlot>,
    pub(crate) dtype: FeatureType,
}

impl OnDemandPlan {
    /// The column of this feature for every spine row.
    pub(crate) fn evaluate(
        &self,
        joined: &BTreeMap<FeatureRef, ArrayRef>,
        spine: &RecordBatch,
    ) -> Result<ArrayRef> {
        let used = self.expr.used_inputs();
        let mut inputs: Vec<Option<(ArrowValues, Option<ExprType>)>> =
            Vec::with_capacity(self.slots.len());
        for (s, (name, _)) in self.slots.iter().zip(self.expr.inputs()) {
            if !used.contains(&name.as_str()) {
                inputs.push(None); // not read by the expression: null
                continue;
            }
            let (array, t) = match s {
                InputSlot::Feature(r) => (
                    joined.get(r).ok_or_else(|| {
                        Error::Internal(format!("input {r} of {} was not joined", self.feature))
                    })?,
                    None,
                ),
                InputSlot::Request(name, t) => (
                    spine
                        .schema()
                        .index_of(name)
                        .map(|i| spine.column(i))
                        .map_err(|_| Error::Internal(format!("spine column `{name}` is gone")))?,
                    Some(*t),
                ),
            };
            inputs.push(Some((ArrowValues::new(array)?, t)));
        }
        let rows = spine.num_rows();
        let mut out = Vec::with_capacity(rows);
        let mut row = Vec::with_capacity(inputs.len());
        for i in 0..rows {
            row.clear();
            for input in &inputs {
                row.push(match input {
                    None => Value::Null,
                    Some((col, t)) => match (col.get(i), t) {
                        (Value::Int64(x), Some(ExprType::Float64)) => Value::Float64(x as f64),
                        (d, _) => d,
                    },
                });
            }
            let v = self.expr.eval(&row).map_err(|e| Error::Request {
                message: format!("{} cannot be computed for spine row {i}: {e}", self.feature),
                hint:
                    "give the spine's request-context columns the types the on-demand view declares"
                        .into(),
            })?;
            out.push(match (v, &self.dtype) {
                (Value::Int64(x), FeatureType::Float64) => Value::Float64(x as f64),
                (v, _) => v,
            });
        }
        Ok(values_to_array(&out, &self.dtype))
    }
}
