//! Auditing refusals the server makes itself.
//!
//! Every request that carries a valid token is audited, whatever its outcome. Reads and
//! writes that reach the access layer are audited there; a request the server refuses
//! before that (an unreadable body, a bad purpose header, ragged entities, an offline push,
//! a push the caller may not make …) is audited here, with the status, the error code and
//! the message (bounded, as every client echo is).

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use tessera_access::Caller;
use tessera_audit::{AuditDecision, AuditRecord};
use tessera_core::ConsumerDef;

use crate::api_error::ApiError;
use crate::json_body::read_body;
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

/// The refusals of one authenticated request on one route: each is audited before it is
/// answered. The routes that act for a consumer beyond reads and writes (erase, consent,
/// releases, local-DP reports) share this preamble: permission first, then what the
/// server must have been started with, then the body within the server's limits.
pub(crate) struct Refusals<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    headers: &'a HeaderMap,
    action: &'static str,
    route: Route,
}

impl<'a> Refusals<'a> {
    pub(crate) fn new(
        state: &'a AppState,
        caller: &'a Caller,
        headers: &'a HeaderMap,
        action: &'static str,
        route: Route,
    ) -> Self {
        Self {
            state,
            caller,
            headers,
            action,
            route,
        }
    }

    /// Audits `err` and returns it.
    pub(crate) async fn refuse(&self, err: ApiError) -> ApiError {
        audited(
            self.state,
            self.caller,
            self.action,
            self.route,
            self.headers,
            err,
        )
        .await
    }

    /// `r`, with its failure audited.
    pub(crate) async fn check<T>(&self, r: Result<T, ApiError>) -> Result<T, ApiError> {
        match r {
            Ok(v) => Ok(v),
            Err(e) => Err(self.refuse(e).await),
        }
    }

    /// The body, read within the server's limits and decoded by `decode`; a failure of
    /// either is audited.
    pub(crate) async fn body<T>(
        &self,
        body: Body,
        decode: impl FnOnce(&[u8]) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let r = match read_body(self.headers, body, &self.state.limits).await {
            Ok(bytes) => decode(&bytes),
            Err(e) => Err(e),
        };
        self.check(r).await
    }

    /// The body's bytes, read within the server's limits (a failure is audited).
    pub(crate) async fn bytes(&self, body: Body) -> Result<axum::body::Bytes, ApiError> {
        let r = read_body(self.headers, body, &self.state.limits).await;
        self.check(r).await
    }

    /// Refuses (403 `code`, audited) a consumer whose definition `allowed` rejects, with
    /// the message `denied(name)`; callers that are not consumers (`--auth none`) are not
    /// limited, as for writes.
    pub(crate) async fn consumer_may(
        &self,
        allowed: impl FnOnce(&ConsumerDef) -> bool,
        code: &'static str,
        denied: impl FnOnce(&str) -> String,
    ) -> Result<(), ApiError> {
        let Some(name) = self.caller.consumer_name() else {
            return Ok(());
        };
        let ok = self
            .state
            .access
            .catalog()
            .consumers()
            .get(name)
            .is_some_and(allowed);
        if ok {
            return Ok(());
        }
        Err(self
            .refuse(ApiError::new(StatusCode::FORBIDDEN, code, denied(name)))
            .await)
    }

    /// `what` the route needs, which the program running the server installs; without it
    /// the answer is 501 `code` (audited) with `message`.
    pub(crate) async fn installed<T>(
        &self,
        what: Option<T>,
        code: &'static str,
        message: &str,
    ) -> Result<T, ApiError> {
        match what {
            Some(v) => Ok(v),
            None => Err(self
                .refuse(ApiError::new(StatusCode::NOT_IMPLEMENTED, code, message))
                .await),
        }
    }
}
