//! `POST /get-online-features`, as Feast 0.67's feature server speaks it.
//!
//! Request: `{"features": ["view:feature", …] | "feature_service": "name", "entities":
//! {"join_key": [v, …]}, "full_feature_names": false}`, and two Tessera extensions: `purpose`
//! and `context` (request-context fields for on-demand features, `{"hour_of_day": 20}`, as
//! in `POST /v1/features`; also spelled `request_context`). Response: one result per column,
//! join keys first, then the features **in request order**; each with `values`, `statuses`
//! (`PRESENT`, `NOT_FOUND`, `NULL_VALUE`, `OUTSIDE_MAX_AGE`) and `event_timestamps`;
//! `metadata.feature_names` names the columns. Differences from Feast, all deliberate: an
//! unknown feature is a 422 naming it (Feast: 500); the view's TTL is applied on read
//! (expired values are `null` with `OUTSIDE_MAX_AGE`; Feast serves them as `PRESENT`); the
//! read is purpose-checked and audited — the purpose comes from the `X-Tessera-Purpose`
//! header, a `purpose` field, the feature service, or the consumer's `default_purpose`.

use std::cell::RefCell;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use tessera_access::wire::{request_context, JsonOut, JsonValue, KeyColumns, KeyOut, TsCache};
use tessera_access::{
    Caller, EntityRows, FeatureColumn, FeatureSelection, ReadRequest, ReadResult, ValueStatus,
    ACTION_READ,
};
use tessera_online::KeyValue;

use crate::api_error::{ApiError, FeastError};
use crate::config::Limits;
use crate::json_body::{check_key_count, decode_bounded, parse_json, read_body};
use crate::metrics::Route;
use crate::read_body::ReadBody;
use crate::refusal_audit::audited;
use crate::state::AppState;

/// The request body. Unknown fields are ignored, as Feast ignores them (its SDK sends
/// `include_feature_view_version_metadata`, for one).
#[derive(Debug, Deserialize)]
pub(crate) struct GetOnlineFeaturesBody {
    #[serde(default)]
    features: Option<Vec<String>>,
    #[serde(default)]
    feature_service: Option<String>,
    #[serde(default)]
    entities: Option<KeyColumns>,
    #[serde(default)]
    full_feature_names: bool,
    /// Tessera's extension: the purpose of the read.
    #[serde(default)]
    purpose: Option<String>,
    /// Tessera's extension: request-context fields for on-demand features, one value each
    /// for the whole request, as in `POST /v1/features` (`"context": {"hour_of_day": 20}`;
    /// `request_context` is accepted as another spelling).
    #[serde(default, alias = "request_context")]
    context: Option<std::collections::BTreeMap<String, JsonValue>>,
}

/// The timestamp Feast reports for entity columns and missing values.
const EPOCH: &str = "1970-01-01T00:00:00Z";

pub(crate) async fn get_online_features(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, FeastError> {
    let caller = state.auth.caller(&headers)?;
    let (st, h, c) = (&state, &headers, &caller);
    let refuse = move |e| audited(st, c, ACTION_READ, Route::GetOnlineFeatures, h, e);
    let (request, full_feature_names) = match read_request(&state, &headers, body, &caller).await {
        Ok(r) => r,
        Err(e) => return Err(refuse(e).await.into()),
    };
    let result = state.access.read(request).await.map_err(ApiError::from)?;
    let names = if full_feature_names {
        result.plan.full_names()
    } else {
        match result.plan.short_names() {
            Ok(n) => n,
            Err(e) => return Err(refuse(e.into()).await.into()),
        }
    };
    match encode(&result, names) {
        Ok(body) => Ok(json_response(body)),
        Err(e) => Err(refuse(ApiError::internal(e.to_string())).await.into()),
    }
}

/// The read a request body asks for, and whether it wants full feature names.
async fn read_request(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    caller: &Caller,
) -> Result<(ReadRequest, bool), ApiError> {
    let bytes = read_body(headers, body, &state.limits).await?;
    let limits = state.limits;
    let decoded = decode_bounded(state, bytes, move |b| decode_read(b, &limits)).await?;
    let full = decoded.full_feature_names;
    Ok((decoded.into_request(headers, caller)?, full))
}

/// Decodes a `/get-online-features` body (pure: no catalog, no headers).
pub(crate) fn decode_read(bytes: &[u8], limits: &Limits) -> Result<ReadBody, ApiError> {
    let req: GetOnlineFeaturesBody = parse_json(bytes)?;
    let features = FeatureSelection::from_parts(req.features, req.feature_service)?;
    let Some(entities) = req.entities else {
        return Err(ApiError::unprocessable(
            "missing_entities",
            "the request has no `entities` (hint: give join-key columns, e.g. \"entities\": {\"user_id\": [42]})",
        ));
    };
    check_key_count(entities.0.len(), limits)?;
    let entities = EntityRows::new(entities.0)?;
    Ok(ReadBody {
        features,
        entities,
        context: request_context(req.context),
        purpose: req.purpose,
        full_feature_names: req.full_feature_names,
    })
}

pub(crate) fn json_response(body: Vec<u8>) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Encodes a result in Feast's shape.
pub(crate) fn encode(result: &ReadResult, names: &[String]) -> serde_json::Result<Vec<u8>> {
    let n = result.entities.len();
    let cols = result.columns.len() + result.entities.names().count();
    let mut out = Vec::with_capacity(128 + cols * (64 + n * 48));
    let body = Feast {
        result,
        names,
        ts: RefCell::new(TsCache::default()),
    };
    serde_json::to_writer(&mut out, &body)?;
    Ok(out)
}

struct Feast<'a> {
    result: &'a ReadResult,
    names: &'a [String],
    ts: RefCell<TsCache>,
}

impl Serialize for Feast<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("results", &Results(self))?;
        m.serialize_entry("metadata", &Metadata(self))?;
        m.end()
    }
}

struct Results<'a, 'b>(&'b Feast<'a>);

impl Serialize for Results<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let mut seq = s.serialize_seq(None)?;
        for (_, values) in f.result.entities.columns() {
            seq.serialize_element(&EntityColumn(values))?;
        }
        for col in &f.result.columns {
            seq.serialize_element(&Column { col, ts: &f.ts })?;
        }
        seq.end()
    }
}

struct EntityColumn<'a>(&'a [KeyValue]);

impl Serialize for EntityColumn<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("values", &Seq(self.0.iter().map(KeyOut)))?;
        m.serialize_entry("statuses", &Seq(self.0.iter().map(|_| "PRESENT")))?;
        m.serialize_entry("event_timestamps", &Seq(self.0.iter().map(|_| EPOCH)))?;
        m.end()
    }
}

struct Column<'a> {
    col: &'a FeatureColumn,
    ts: &'a RefCell<TsCache>,
}

impl Serialize for Column<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("values", &Seq(self.col.values.iter().map(JsonOut)))?;
        m.serialize_entry("statuses", &Seq(self.col.statuses.iter().map(feast_status)))?;
        m.serialize_entry("event_timestamps", &Timestamps(self))?;
        m.end()
    }
}

struct Timestamps<'a, 'b>(&'b Column<'a>);

impl Serialize for Timestamps<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut cache = self.0.ts.borrow_mut();
        let mut seq = s.serialize_seq(Some(self.0.col.event_ts.len()))?;
        for ts in &self.0.col.event_ts {
            match ts {
                Some(us) => seq.serialize_element(cache.get(*us))?,
                None => seq.serialize_element(EPOCH)?,
            }
        }
        seq.end()
    }
}

struct Metadata<'a, 'b>(&'b Feast<'a>);

impl Serialize for Metadata<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let mut m = s.serialize_map(Some(1))?;
        let names = f
            .result
            .entities
            .names()
            .chain(f.names.iter().map(String::as_str));
        m.serialize_entry("feature_names", &Seq(names))?;
        m.end()
    }
}

/// Serializes an iterator as a JSON array (the iterator is cloned, it is cheap).
struct Seq<I>(I);

impl<I> Serialize for Seq<I>
where
    I: Iterator + Clone,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.clone())
    }
}

fn feast_status(s: &ValueStatus) -> &'static str {
    match s {
        ValueStatus::Present => "PRESENT",
        ValueStatus::Missing => "NOT_FOUND",
        ValueStatus::Expired => "OUTSIDE_MAX_AGE",
        ValueStatus::Null => "NULL_VALUE",
        ValueStatus::Stale => "OUTSIDE_MAX_AGE",
        ValueStatus::Refused
        | ValueStatus::Unavailable
        | ValueStatus::NoConsent
        | ValueStatus::Suppressed
        | ValueStatus::Erased => "NOT_FOUND",
    }
}
