//! `POST /v1/features`: Tessera's own, versioned read API.
//!
//! The request body and the answer are `tessera_access::wire::native_read`'s
//! (`NativeReadRequest`, `encode_read_response`), shared with the device's remote client;
//! see there for their JSON.
//!
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
//! consumer's `default_purpose`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use tessera_access::wire::{encode_read_response, request_context, KeyRow, NativeReadRequest};
use tessera_access::{Caller, EntityRows, Explanation, FeatureSelection, ReadRequest, ACTION_READ};
use tessera_online::KeyValue;

use crate::api_error::ApiError;
use crate::config::Limits;
use crate::feast_read::json_response;
use crate::json_body::{check_key_count, decode_bounded, parse_json, read_body};
use crate::metrics::Route;
use crate::read_body::ReadBody;
use crate::refusal_audit::audited;
use crate::state::AppState;

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
    match encode_read_response(&result, &caller) {
        Ok(out) => Ok(json_response(out)),
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
    let bytes = read_body(headers, body, &state.limits).await?;
    let limits = state.limits;
    let decoded = decode_bounded(state, bytes, move |b| decode_read(b, &limits)).await?;
    Ok((decoded.into_request(headers, caller)?, explain))
}

/// Decodes a `/v1/features` body (pure: no catalog, no headers).
pub(crate) fn decode_read(bytes: &[u8], limits: &Limits) -> Result<ReadBody, ApiError> {
    let req: NativeReadRequest = parse_json(bytes)?;
    let features = FeatureSelection::from_parts(req.features, req.feature_service)?;
    let columns = match (req.entities, req.entity_rows) {
        (Some(c), None) => c.0,
        (None, Some(rows)) => rows_to_columns(rows, limits)?,
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
    check_key_count(columns.len(), limits)?;
    let entities = EntityRows::new(columns)?;
    Ok(ReadBody {
        features,
        entities,
        context: request_context(req.context),
        purpose: req.purpose,
        full_feature_names: false,
    })
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
        "consent_required": e.consent_required,
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
            "minimise": f.form.as_ref().map(|m| serde_json::json!({
                "transform": m.transform.to_string(),
                "origin": m.origin.to_string(),
                "type": m.output.to_string(),
            })),
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
