//! `POST /v1/consent`: record consent changes for a purpose that requires consent.
//!
//! `{"purpose": "ads", "entities": {"user_id": ["u1", "u2"]}, "state": "granted" |
//! "withdrawn", "at": "2026-12-01T00:00:00Z"}` (`at` optional, default now). The caller's
//! permission (`consent: true` on its consumer) is checked before the body's entities are
//! parsed; the body is bounded like a push (size, keys, entity count). The changes are
//! appended to the repository's consent log (keyed hashes, synced) and audited (action
//! `consent`); refusals are audited too. Answers
//! `{"purpose", "state", "at", "recorded": n}`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tessera_access::{consent_record, Caller, KeyType, ACTION_CONSENT};
use tessera_consent::{
    check_key_name, check_purpose, format_time, now_us, parse_time, ConsentState,
};

use crate::api_error::ApiError;
use crate::config::Limits;
use crate::feast_read::json_response;
use crate::json_body::{check_key_count, parse_json};
use crate::metrics::Route;
use crate::refusal_audit::Refusals;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    purpose: String,
    entities: BTreeMap<String, Vec<serde_json::Value>>,
    state: String,
    #[serde(default)]
    at: Option<String>,
}

pub(crate) async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&headers)?;
    let refusals = Refusals::new(&state, &caller, &headers, ACTION_CONSENT, Route::V1Consent);
    refusals
        .consumer_may(|c| c.consent, "consent_denied", |name| {
            format!("consumer `{name}` may not change consent (hint: give it `consent: true` in its definition)")
        })
        .await?;
    let bytes = refusals.bytes(body).await?;
    let recorded = record(&state, &caller, &bytes).await;
    refusals.check(recorded).await
}

async fn record(state: &AppState, caller: &Caller, bytes: &[u8]) -> Result<Response, ApiError> {
    let max = state.access.config().max_write_rows;
    let Decoded {
        body: b,
        state: st,
        at_us,
        entities: n,
    } = decode_consent(bytes, &state.limits, max)?;
    let catalog = state.access.catalog();
    check_purpose(catalog, &b.purpose).map_err(|e| invalid("bad_purpose", &e))?;
    let store = state.access.consent().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "consent_unavailable",
            "this server has no consent log",
        )
    })?;
    let mut digests = Vec::with_capacity(n);
    for (name, values) in &b.entities {
        check_key_name(catalog, name).map_err(|e| invalid("unknown_join_key", &e))?;
        let int_key = state.access.config().key_types.get(name) == Some(&KeyType::Int64);
        for v in values {
            let text = match v {
                // An integer key sent as text hashes as the integer a read would send.
                serde_json::Value::String(s) if int_key => match s.trim().parse::<i64>() {
                    Ok(i) => i.to_string(),
                    Err(_) => s.clone(),
                },
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(x) if x.is_i64() => x.to_string(),
                other => {
                    return Err(ApiError::unprocessable(
                        "bad_entity",
                        format!(
                            "`{name}` value {} is not a string or an integer",
                            tessera_access::clip(&other.to_string())
                        ),
                    ))
                }
            };
            digests.push(store.digest(name, &text));
        }
    }
    let store = store.clone();
    let (purpose, digests2) = (b.purpose.clone(), digests.clone());
    tokio::task::spawn_blocking(move || store.record(&purpose, st, at_us, &digests2))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "consent_unavailable",
                "the consent log cannot be written",
            );
            err.internal = Some(crate::api_error::error_chain(&e));
            err
        })?;
    let refs: Vec<&str> = digests.iter().map(String::as_str).collect();
    state
        .access
        .audit()
        .record(consent_record(
            &caller.to_string(),
            &b.purpose,
            st.as_str(),
            at_us,
            &refs,
        ))
        .await
        .map_err(|e| {
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "the consent change was recorded but could not be audited",
            );
            err.internal = Some(crate::api_error::error_chain(&e));
            err
        })?;
    let body = serde_json::json!({
        "purpose": b.purpose,
        "state": st.as_str(),
        "at": format_time(at_us),
        "recorded": n,
    });
    Ok(json_response(body.to_string().into_bytes()))
}

/// A consent body, decoded and checked as far as it can be without the catalog.
pub(crate) struct Decoded {
    body: ConsentBody,
    state: ConsentState,
    at_us: i64,
    /// How many entities the change names.
    entities: usize,
}

impl Decoded {
    pub(crate) fn counts(&self) -> crate::body_decode::DecodedBody {
        crate::body_decode::DecodedBody {
            rows: self.entities,
            columns: self.body.entities.len(),
        }
    }
}

/// Decodes a `/v1/consent` body (pure: no catalog, no consent log); at most `max` entities.
pub(crate) fn decode_consent(
    bytes: &[u8],
    limits: &Limits,
    max: usize,
) -> Result<Decoded, ApiError> {
    let body: ConsentBody = parse_json(bytes)?;
    let state = ConsentState::parse(&body.state).map_err(|e| invalid("bad_state", &e))?;
    let at_us = match body.at.as_deref() {
        Some(t) => parse_time(t).map_err(|e| invalid("bad_time", &e))?,
        None => now_us(),
    };
    check_key_count(body.entities.len(), limits)?;
    let n: usize = body.entities.values().map(Vec::len).sum();
    if n > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_entities",
            format!("{n} entities in one consent change; this server takes at most {max} (hint: split the request)"),
        ));
    }
    if n == 0 {
        return Err(ApiError::unprocessable(
            "no_entities",
            "`entities` names no entity (hint: {\"user_id\": [\"u1\"]})",
        ));
    }
    Ok(Decoded {
        body,
        state,
        at_us,
        entities: n,
    })
}

fn invalid(code: &'static str, e: &tessera_consent::Error) -> ApiError {
    ApiError::unprocessable(code, e.to_string())
}
