//! Auditing refusals the server makes itself.
//!
//! Every request that carries a valid token is audited, whatever its outcome. Reads and
//! writes that reach the access layer are audited there; a request the server refuses
//! before that (an unreadable body, a bad purpose header, ragged entities, an offline push,
//! a push the caller may not make …) is audited here, with the status, the error code and
//! the message (bounded, as every client echo is).

use axum::http::HeaderMap;
use tessera_access::Caller;
use tessera_audit::{AuditDecision, AuditRecord};

use crate::api_error::ApiError;
use crate::metrics::Route;
use crate::purpose::PURPOSE_HEADER;
use crate::state::AppState;

/// Characters kept of a refusal's message in its audit record.
const MAX_MESSAGE_CHARS: usize = 2000;

/// Audits `err`, a refusal of `caller`'s request on `route`, and returns it. When the audit
/// log cannot take the record, the refusal is still answered and the failure is logged.
pub(crate) async fn audited(
    state: &AppState,
    caller: &Caller,
    action: &str,
    route: Route,
    headers: &HeaderMap,
    err: ApiError,
) -> ApiError {
    let purpose = headers
        .get(PURPOSE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map_or_else(|| "-".to_string(), |p| tessera_access::clip(p).into_owned());
    let mut record = AuditRecord::now(action, &caller.to_string(), &purpose);
    record.decision = if err.status.as_u16() == 403 {
        AuditDecision::Deny
    } else {
        AuditDecision::Error
    };
    record.reasons = vec![format!(
        "{} {}: {}",
        err.status.as_u16(),
        err.code,
        tessera_access::clip_to(&err.message, MAX_MESSAGE_CHARS)
    )];
    let refusals: Vec<String> = err.refusals.iter().map(ToString::to_string).collect();
    record.reasons.extend(tessera_access::cap_list(&refusals));
    record.detail = Some(format!("refused by the server on {}", route.path()));
    if let Err(e) = state.access.audit().record(record).await {
        tracing::error!(route = route.path(), error = %e, "a refusal could not be audited");
    }
    err
}
