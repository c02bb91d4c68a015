//! `POST /v1/erase`: erases entities through the running server (GDPR Art. 17), without
//! downtime. `{"entities": {"user_id": ["42", 43]}}` (composite keys: several join keys,
//! lists of one length). The caller's permission is checked first — a consumer needs
//! `erase: true`; callers that are not consumers (`--auth none`) are not limited, as for
//! writes — then the body is read within the server's limits (at most
//! [`MAX_ERASE_ENTITIES`] entities); every refusal is audited. The work is done by the
//! [`Eraser`] the program running the server installed ([`crate::AppState::with_eraser`]),
//! which owns the stores; the answer is its report (keyed hashes only, never a key), and
//! the erasure is audited by keyed hash.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tessera_audit::AuditRecord;

use crate::api_error::ApiError;
use crate::feast_read::json_response;
use crate::json_body::parse_json;
use crate::metrics::Route;
use crate::refusal_audit::Refusals;
use crate::state::AppState;

/// The audit action of an erasure.
pub const ACTION_ERASE: &str = "erase";

/// Entities one request may erase at most.
pub const MAX_ERASE_ENTITIES: usize = 1000;

/// One entity to erase: `(join key, value as text)` pairs.
pub type EraseKey = Vec<(String, String)>;

/// What erases entities for the server: installed by the program that owns the stores.
#[async_trait::async_trait]
pub trait Eraser: Send + Sync + std::fmt::Debug {
    /// Erases `entities` from every tier; returns the report (JSON, keyed hashes only).
    async fn erase(&self, entities: Vec<EraseKey>) -> Result<serde_json::Value, String>;
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    entities: BTreeMap<String, Vec<serde_json::Value>>,
}

/// Decodes a `/v1/erase` body into its entities (pure).
pub(crate) fn decode_erase(bytes: &[u8]) -> Result<Vec<EraseKey>, ApiError> {
    parse_json::<EraseBody>(bytes).and_then(entities)
}

/// The entities of a body: one per index of the (equally long) lists.
fn entities(body: EraseBody) -> Result<Vec<EraseKey>, ApiError> {
    let lens: Vec<usize> = body.entities.values().map(Vec::len).collect();
    let n = lens.first().copied().unwrap_or(0);
    if n == 0 || lens.iter().any(|l| *l != n) {
        return Err(ApiError::unprocessable(
            "bad_entities",
            "`entities` must map each join key to a non-empty list, all of one length (hint: {\"entities\": {\"user_id\": [\"42\"]}})",
        ));
    }
    if n > MAX_ERASE_ENTITIES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_entities",
            format!("{n} entities in one request; at most {MAX_ERASE_ENTITIES} (hint: split the request)"),
        ));
    }
    let mut out = vec![Vec::new(); n];
    for (name, values) in body.entities {
        for (i, v) in values.into_iter().enumerate() {
            let text = match v {
                serde_json::Value::String(s) if !s.is_empty() => s,
                serde_json::Value::Number(n) if n.is_i64() => n.to_string(),
                _ => {
                    return Err(ApiError::unprocessable(
                        "bad_entities",
                        format!("entity {i} of `{name}` is not a non-empty string or an integer"),
                    ))
                }
            };
            out[i].push((name.clone(), text));
        }
    }
    Ok(out)
}

pub(crate) async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&headers)?;
    let refusals = Refusals::new(&state, &caller, &headers, ACTION_ERASE, Route::V1Erase);
    refusals
        .consumer_may(|c| c.erase, "erase_denied", |name| {
            format!("consumer `{name}` may not erase entities (hint: give it `erase: true` in its definition)")
        })
        .await?;
    let eraser = refusals
        .installed(
            state.eraser.clone(),
            "erase_unsupported",
            "this server cannot erase (hint: run `tessera erase` on the repository)",
        )
        .await?;
    let keys = refusals.body(body, decode_erase).await?;
    let started = std::time::Instant::now();
    let n = keys.len();
    let result = eraser.erase(keys).await;
    let mut record = AuditRecord::now(ACTION_ERASE, &caller.to_string(), "erasure");
    record.rows = n as u64;
    record.latency_us = started.elapsed().as_micros() as u64;
    match result {
        Ok(report) => {
            record.detail = Some(format!(
                "entities (keyed hashes): {}",
                report["entities"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(|d| d.as_str())
                        .collect::<Vec<_>>()
                        .join(","))
                    .unwrap_or_default()
            ));
            let _ = state.access.audit().record(record).await;
            Ok(json_response(report.to_string().into_bytes()))
        }
        Err(e) => {
            record.decision = tessera_audit::AuditDecision::Error;
            record.reasons = vec![tessera_access::clip_to(&e, 2000).into_owned()];
            let _ = state.access.audit().record(record).await;
            Err(ApiError::internal(e))
        }
    }
}

/// The installed eraser, shared.
pub(crate) type SharedEraser = Arc<dyn Eraser>;
