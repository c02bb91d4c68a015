//! `POST /v1/features`: Tessera's own, versioned read API.
//!
//! Request (unknown fields are refused, to catch typos):
//! ```json
//! {"features": ["user_stats:f0"] | "feature_service": "ranker_v1",
//!  "entities": {"user_id": [1, 2]} | "entity_rows": [{"user_id": 1}, {"user_id": 2}],
//!  "purpose": "ranking", "context": {"hour_of_day": 14}}
//! ```
//! `context` (optional) holds request-context fields for on-demand features.
//! With `?explain=true` nothing is read: the answer is the plan (each feature's provider,
//! view, classification, placement and the gate's decision), with status 200 also when
//! the read would be refused:
//! ```json
//! {"explain": true, "caller": "ranker", "purpose": "ranking", "channel": "network",
//!  "allowed": true, "request_refusals": [],
//!  "features": [{"feature": "user_stats:f0", "view": "user_stats", "provider": "online",
//!                "provider_name": "embedded", "classification": "personal",
//!                "placement": "cloud", "decision": "allow", "reasons": [], "problem": null}]}
//! ```
//! The purpose may also come from the `X-Tessera-Purpose` header, the feature service or the
//! consumer's `default_purpose`. Response: the features in request order, each with its
//! declared type, values typed as declared (timestamps RFC 3339, bytes base64), a status per
//! value (`present`, `missing`, `expired`, `null`) and event timestamps (`null` when missing):
//! ```json
//! {"consumer": "ranker", "purpose": "ranking", "entities": {"user_id": [1, 2]},
//!  "features": [{"feature": "user_stats:f0", "type": "float64", "values": [0.5, null],
//!                "statuses": ["present", "missing"],
//!                "event_timestamps": ["2026-04-02T00:00:00Z", null]}]}
//! ```

use std::cell::RefCell;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use tessera_access::{
    Caller, EntityRows, Explanation, FeatureColumn, FeatureSelection, ReadRequest, ReadResult,
    ACTION_READ,
};
use tessera_online::KeyValue;

use crate::api_error::ApiError;
use crate::config::Limits;
use crate::feast_read::json_response;
use crate::json_body::{check_key_count, read_json_bounded};
use crate::json_values::{
    request_context, JsonOut, JsonValue, KeyColumns, KeyOut, KeyRow, TsCache,
};
use crate::metrics::Route;
use crate::purpose::purpose_of;
use crate::refusal_audit::audited;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeaturesBody {
    #[serde(default)]
    features: Option<Vec<String>>,
    #[serde(default)]
    feature_service: Option<String>,
    #[serde(default)]
    entities: Option<KeyColumns>,
    #[serde(default)]
    entity_rows: Option<Vec<KeyRow>>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    context: Option<std::collections::BTreeMap<String, JsonValue>>,
}

pub(crate) async fn features(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&headers)?;
    let (st, h, c) = (&state, &headers, &caller);
    let refuse = move |e| audited(st, c, ACTION_READ, Route::V1Features, h, e);
    let (request, explain) = match read_request(&state, &uri, &headers, body, &caller).await {
        Ok(r) => r,
        Err(e) => return Err(refuse(e).await),
    };
    if explain {
        let plan = match state.access.explain(&request) {
            Ok(p) => p,
            Err(e) => return Err(refuse(e.into()).await),
        };
        return match serde_json::to_vec(&explanation_json(&plan)) {
            Ok(body) => Ok(json_response(body)),
            Err(e) => Err(refuse(ApiError::internal(e.to_string())).await),
        };
    }
    let result = state.access.read(request).await?;
    let mut out =
        Vec::with_capacity(256 + result.columns.len() * (96 + result.entities.len() * 48));
    let encoded = serde_json::to_writer(
        &mut out,
        &Native {
            result: &result,
            consumer: &caller,
            ts: RefCell::new(TsCache::default()),
        },
    );
    match encoded {
        Ok(()) => Ok(json_response(out)),
        Err(e) => Err(refuse(ApiError::internal(e.to_string())).await),
    }
}

/// The read a request asks for, and whether it only asks for the plan (`?explain=true`).
async fn read_request(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    caller: &Caller,
) -> Result<(ReadRequest, bool), ApiError> {
    let explain = explain_flag(uri)?;
    let req: FeaturesBody = read_json_bounded(state, headers, body).await?;
    let purpose = purpose_of(headers, req.purpose)?;
    let features = FeatureSelection::from_parts(req.features, req.feature_service)?;
    let columns = match (req.entities, req.entity_rows) {
        (Some(c), None) => c.0,
        (None, Some(rows)) => rows_to_columns(rows, &state.limits)?,
        (Some(_), Some(_)) => {
            return Err(ApiError::unprocessable(
                "entities_twice",
                "the request has both `entities` and `entity_rows` (hint: send one)",
            ))
        }
        (None, None) => {
            return Err(ApiError::unprocessable(
                "missing_entities",
                "the request has no entities (hint: \"entities\": {\"user_id\": [1, 2]} or \"entity_rows\": [{\"user_id\": 1}])",
            ))
        }
    };
    check_key_count(columns.len(), &state.limits)?;
    let entities = EntityRows::new(columns)?;
    let request = ReadRequest {
        features,
        entities,
        context: request_context(req.context),
        purpose,
        caller: caller.clone(),
    };
    Ok((request, explain))
}

/// `?explain=true` (or `1`); `false`, `0` or no flag read values.
fn explain_flag(uri: &Uri) -> Result<bool, ApiError> {
    let mut explain = false;
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
        match (k, v) {
            ("explain", "true" | "1") => explain = true,
            ("explain", "false" | "0") => explain = false,
            ("explain", other) => {
                return Err(ApiError::unprocessable(
                    "bad_query",
                    format!("`explain={other}` is not a flag (hint: `?explain=true`)"),
                ))
            }
            (other, _) => {
                return Err(ApiError::unprocessable(
                    "bad_query",
                    format!("unknown query parameter `{other}` (hint: the only one is `explain`)"),
                ))
            }
        }
    }
    Ok(explain)
}

fn explanation_json(e: &Explanation) -> serde_json::Value {
    serde_json::json!({
        "explain": true,
        "caller": e.caller,
        "purpose": e.purpose,
        "channel": e.channel,
        "allowed": e.allowed(),
        "request_refusals": e.request_refusals,
        "features": e.features.iter().map(|f| serde_json::json!({
            "feature": f.feature.to_string(),
            "view": f.feature.view,
            "provider": f.provider.map(|k| k.as_str()),
            "provider_name": f.provider_name,
            "classification": f.classification.to_string(),
            "placement": f.placement.as_str(),
            "decision": f.decision(),
            "reasons": f.refusals,
            "problem": f.problem,
            "inputs": f.inputs.iter().map(|(i, k)| serde_json::json!({
                "feature": i.to_string(),
                "provider": k.map(|k| k.as_str()),
            })).collect::<Vec<_>>(),
            "request_fields": f.request_fields,
        })).collect::<Vec<_>>(),
    })
}

fn rows_to_columns(
    rows: Vec<KeyRow>,
    limits: &Limits,
) -> Result<Vec<(String, Vec<KeyValue>)>, ApiError> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    check_key_count(first.0.len(), limits)?;
    let names: Vec<String> = first.0.iter().map(|(k, _)| k.clone()).collect();
    let mut columns: Vec<(String, Vec<KeyValue>)> = names
        .iter()
        .map(|n| (n.clone(), Vec::with_capacity(rows.len())))
        .collect();
    for (i, row) in rows.into_iter().enumerate() {
        let same = row.0.len() == names.len() && row.0.iter().zip(&names).all(|((k, _), n)| k == n);
        if !same {
            let keys: Vec<&str> = row.0.iter().map(|(k, _)| k.as_str()).collect();
            return Err(ApiError::unprocessable(
                "ragged_entities",
                format!(
                    "entity_rows[{i}] has join keys {} but entity_rows[0] has {} (hint: give every row the same join keys)",
                    tessera_access::join_capped(&keys, ", "),
                    tessera_access::join_capped(&names, ", ")
                ),
            ));
        }
        for (c, (_, v)) in columns.iter_mut().zip(row.0) {
            c.1.push(v);
        }
    }
    Ok(columns)
}

struct Native<'a> {
    result: &'a ReadResult,
    consumer: &'a Caller,
    ts: RefCell<TsCache>,
}

impl Serialize for Native<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("consumer", &self.consumer.to_string())?;
        m.serialize_entry("purpose", self.result.plan.purpose())?;
        m.serialize_entry("entities", &Entities(&self.result.entities))?;
        m.serialize_entry("features", &Features(self))?;
        m.end()
    }
}

struct Entities<'a>(&'a EntityRows);

impl Serialize for Entities<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, values) in self.0.columns() {
            m.serialize_entry(k, &values.iter().map(KeyOut).collect::<Vec<_>>())?;
        }
        m.end()
    }
}

struct Features<'a, 'b>(&'b Native<'a>);

impl Serialize for Features<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let plan = &self.0.result.plan;
        s.collect_seq(
            plan.features()
                .iter()
                .zip(plan.types())
                .zip(&self.0.result.columns)
                .map(|((f, t), col)| Feature {
                    name: f.to_string(),
                    dtype: t.to_string(),
                    col,
                    ts: &self.0.ts,
                }),
        )
    }
}

struct Feature<'a> {
    name: String,
    dtype: String,
    col: &'a FeatureColumn,
    ts: &'a RefCell<TsCache>,
}

impl Serialize for Feature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("feature", &self.name)?;
        m.serialize_entry("type", &self.dtype)?;
        m.serialize_entry(
            "values",
            &self.col.values.iter().map(JsonOut).collect::<Vec<_>>(),
        )?;
        m.serialize_entry(
            "statuses",
            &self
                .col
                .statuses
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
        )?;
        let mut cache = self.ts.borrow_mut();
        let ts: Vec<Option<String>> = self
            .col
            .event_ts
            .iter()
            .map(|t| t.map(|us| cache.get(us).to_string()))
            .collect();
        m.serialize_entry("event_timestamps", &ts)?;
        m.end()
    }
}
