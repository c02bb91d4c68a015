//! A DataFusion scalar function that says whether a source row can answer some spine row.
//!
//! Pushed into the Parquet scan as a row filter ("late materialisation"), it is evaluated
//! on the key and event-time columns first, and the feature columns are decoded only for
//! the rows it keeps. On typical spines most source rows are for keys the spine does not
//! hold or lie outside their key's `[min t - ttl, max t]`, so most feature values are
//! never decoded. The join re-checks every row, so correctness never depends on it.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::Expr;

use crate::entity_keys::{KeyIndex, NO_KEY};
use crate::point_in_time::SpineIndex;
use crate::timestamps::to_epoch;

/// `tessera_pit_candidate(key columns…, event_ts)`.
pub(crate) struct CandidateFilter {
    spine: Arc<SpineIndex>,
    keys: Arc<KeyIndex>,
    unit: TimeUnit,
    signature: Signature,
}

impl CandidateFilter {
    /// The filter expression over the given key and time columns.
    pub(crate) fn expr(
        spine: Arc<SpineIndex>,
        keys: Arc<KeyIndex>,
        unit: TimeUnit,
        args: Vec<Expr>,
    ) -> Expr {
        let signature = Signature::any(args.len(), Volatility::Immutable);
        let udf = ScalarUDF::new_from_impl(CandidateFilter {
            spine,
            keys,
            unit,
            signature,
        });
        udf.call(args)
    }
}

impl fmt::Debug for CandidateFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CandidateFilter")
            .field("spine_rows", &self.spine.rows)
            .finish()
    }
}

impl PartialEq for CandidateFilter {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.spine, &other.spine) && Arc::ptr_eq(&self.keys, &other.keys)
    }
}

impl Eq for CandidateFilter {}

impl Hash for CandidateFilter {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.spine) as usize).hash(state);
    }
}

impl ScalarUDFImpl for CandidateFilter {
    fn name(&self) -> &str {
        "tessera_pit_candidate"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .into_iter()
            .map(|c| c.into_array(n))
            .collect::<DfResult<_>>()?;
        let (ts_col, key_cols) = arrays.split_last().ok_or_else(|| {
            DataFusionError::Internal("tessera_pit_candidate needs arguments".into())
        })?;
        let mut ids = Vec::with_capacity(n);
        self.keys
            .lookup(key_cols, &mut ids)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let (ts, nulls) = to_epoch(ts_col, self.unit, "event time")
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let keep: BooleanArray = ids
            .iter()
            .zip(&ts)
            .enumerate()
            .map(|(i, (&k, &t))| {
                Some(
                    k != NO_KEY
                        && !nulls.as_ref().is_some_and(|m| m.is_null(i))
                        && self.spine.useful(k, t),
                )
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(keep)))
    }
}
