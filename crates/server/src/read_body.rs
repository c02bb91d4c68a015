//! A read request's body, decoded: everything a read needs except what comes from outside
//! the body (the purpose header, the caller). Decoding is pure, so the same function serves
//! the routes and the fuzz targets ([`crate::decode_request_body`]).

use axum::http::HeaderMap;
use tessera_access::{Caller, EntityRows, FeatureSelection, ReadRequest, RequestContext};

use crate::api_error::ApiError;
use crate::purpose::purpose_of;

/// A decoded read body.
#[derive(Debug)]
pub(crate) struct ReadBody {
    pub(crate) features: FeatureSelection,
    pub(crate) entities: EntityRows,
    pub(crate) context: RequestContext,
    /// The body's `purpose` field (the header may also give one).
    pub(crate) purpose: Option<String>,
    /// Feast's `full_feature_names` (always `false` on the native route).
    pub(crate) full_feature_names: bool,
}

impl ReadBody {
    /// The read for `caller`, the purpose taken from the body or the header.
    pub(crate) fn into_request(
        self,
        headers: &HeaderMap,
        caller: &Caller,
    ) -> Result<ReadRequest, ApiError> {
        let purpose = purpose_of(headers, self.purpose)?;
        Ok(ReadRequest {
            features: self.features,
            entities: self.entities,
            context: self.context,
            purpose,
            caller: caller.clone(),
        })
    }
}
