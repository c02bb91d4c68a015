//! The built-in on-demand provider: after the other providers have answered a read's
//! features and the hidden inputs of its on-demand features, each on-demand feature is
//! evaluated per entity with its compiled [`tessera_expr::Expr`] — the same expression
//! and evaluator training sets use, so served values equal training values.

use tessera_core::{FeatureType, InputSlot};
use tessera_expr::{Expr, ExprType};
use tessera_online::Value;

use crate::error::{Error, Result};
use crate::provider::RequestContext;
use crate::read_result::{FeatureColumn, ValueStatus};

/// Where one expression input comes from in a read.
#[derive(Debug, Clone)]
pub(crate) enum SlotSource {
    /// A working column of the read (a requested feature or a hidden input).
    Column(usize),
    /// A request-context field.
    Request(String, ExprType),
    /// An input the expression does not read (always null).
    Unused,
}

/// One on-demand feature of a plan.
#[derive(Debug, Clone)]
pub(crate) struct OnDemandColumn {
    /// Its output column.
    pub(crate) column: usize,
    /// `view:feature`, for messages.
    pub(crate) feature: String,
    pub(crate) expr: Expr,
    pub(crate) slots: Vec<SlotSource>,
    pub(crate) dtype: FeatureType,
}

impl OnDemandColumn {
    pub(crate) fn new(
        column: usize,
        feature: String,
        expr: Expr,
        slots: &[InputSlot],
        dtype: FeatureType,
        column_of: &mut dyn FnMut(&tessera_core::FeatureRef) -> usize,
    ) -> Self {
        let used = expr.used_inputs();
        let slots = slots
            .iter()
            .zip(expr.inputs())
            .map(|(s, (name, _))| match s {
                _ if !used.contains(&name.as_str()) => SlotSource::Unused,
                InputSlot::Feature(r) => SlotSource::Column(column_of(r)),
                InputSlot::Request(field, t) => SlotSource::Request(field.clone(), *t),
            })
            .collect();
        Self {
            column,
            feature,
            expr,
            slots,
            dtype,
        }
    }

    /// Computes the column for `n` entities from the working columns and the context.
    pub(crate) fn evaluate(
        &self,
        columns: &[FeatureColumn],
        context: &RequestContext,
        n: usize,
    ) -> Result<FeatureColumn> {
        // Request fields hold one value for every entity.
        let mut request: Vec<Option<Value>> = Vec::with_capacity(self.slots.len());
        for s in &self.slots {
            request.push(match s {
                SlotSource::Request(name, t) => {
                    Some(context_value(&self.feature, name, *t, context)?)
                }
                SlotSource::Column(_) => None,
                SlotSource::Unused => Some(Value::Null),
            });
        }
        let mut out = FeatureColumn::with_capacity(n);
        let mut row: Vec<Value> = Vec::with_capacity(self.slots.len());
        for i in 0..n {
            row.clear();
            let mut status = ValueStatus::Present;
            let mut ts: Option<i64> = None;
            for (s, req) in self.slots.iter().zip(&request) {
                match (s, req) {
                    (_, Some(d)) => row.push(d.clone()),
                    (SlotSource::Column(c), None) => {
                        let col = columns.get(*c).filter(|c| c.has_len(n)).ok_or_else(|| {
                            Error::UnknownFeatures {
                                problems: vec![format!(
                                    "{}: an input column was not fetched",
                                    self.feature
                                )],
                            }
                        })?;
                        let st = col.statuses[i];
                        status = worse(status, st);
                        ts = match (ts, col.event_ts[i]) {
                            (Some(a), Some(b)) => Some(a.max(b)),
                            (a, b) => a.or(b),
                        };
                        row.push(if st.has_value() {
                            col.values[i].clone()
                        } else {
                            Value::Null
                        });
                    }
                    (SlotSource::Request(..) | SlotSource::Unused, None) => row.push(Value::Null),
                }
            }
            if matches!(
                status,
                ValueStatus::Unavailable
                    | ValueStatus::Refused
                    | ValueStatus::NoConsent
                    | ValueStatus::Suppressed
                    | ValueStatus::Erased
            ) {
                out.push(Value::Null, status, ts);
                continue;
            }
            let v = self.expr.eval(&row).map_err(|e| Error::Expression {
                feature: self.feature.clone(),
                source: e,
            })?;
            let v = match (v, &self.dtype) {
                (Value::Int64(x), FeatureType::Float64) => Value::Float64(x as f64),
                (v, _) => v,
            };
            let status = match (&v, status) {
                (Value::Null, _) => ValueStatus::Null,
                (_, ValueStatus::Stale) => ValueStatus::Stale,
                _ => ValueStatus::Present,
            };
            out.push(v, status, ts);
        }
        Ok(out)
    }
}

/// The status an on-demand value inherits: withheld (erased, no consent, suppressed),
/// refused or unavailable inputs make it so, a stale input makes it stale.
fn worse(a: ValueStatus, b: ValueStatus) -> ValueStatus {
    let rank = |s: ValueStatus| match s {
        ValueStatus::Erased => 6,
        ValueStatus::NoConsent => 5,
        ValueStatus::Suppressed => 4,
        ValueStatus::Refused => 3,
        ValueStatus::Unavailable => 2,
        ValueStatus::Stale => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn context_value(
    feature: &str,
    name: &str,
    t: ExprType,
    context: &RequestContext,
) -> Result<Value> {
    let v = context.get(name).ok_or_else(|| Error::MissingContext {
        feature: feature.to_string(),
        field: name.to_string(),
        expected: t,
    })?;
    let d = match (v, t) {
        (Value::Null, _) => Value::Null,
        (Value::Int64(x), ExprType::Float64) => Value::Float64(*x as f64),
        (Value::String(s), ExprType::Timestamp) => tessera_online::parse_timestamp(s)
            .map(Value::Timestamp)
            .ok_or_else(|| bad_context(feature, name, t, v))?,
        (v, t) => {
            if !t.holds(v) || matches!(v, Value::Bytes(_) | Value::List(_)) {
                return Err(bad_context(feature, name, t, v));
            }
            v.clone()
        }
    };
    Ok(d)
}

fn bad_context(feature: &str, name: &str, t: ExprType, v: &Value) -> Error {
    Error::BadContext {
        feature: feature.to_string(),
        field: name.to_string(),
        expected: t,
        got: tessera_online::describe(v),
    }
}
