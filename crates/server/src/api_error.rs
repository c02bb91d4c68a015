//! [`ApiError`]: every error answer of the HTTP API — a status, a stable code and a message
//! that says what to fix, as JSON:
//!
//! ```json
//! {"error": "unknown_feature", "message": "unknown feature `user_stats:nope` (known: f0, f1)"}
//! ```
//!
//! Refusals by the policy gate also list each refused feature and why. Client mistakes are
//! 4xx, never 500. Server-side failures are 503 (a dependency) or 500 (a bug) and carry no
//! internal detail; the detail travels in a response extension and is logged once by the
//! tracking middleware.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_access::ErrorClass;
use tessera_core::Refusal;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code.
    pub code: &'static str,
    /// What went wrong and what to do, for the caller.
    pub message: String,
    /// Refused features, for 403s.
    pub refusals: Vec<Refusal>,
    /// Detail for the server log only (never sent).
    pub internal: Option<String>,
}

/// The error detail the tracking middleware logs, attached to error responses.
#[derive(Debug, Clone)]
pub struct ErrorDetail(pub String);

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[RefusalBody]>::is_empty")]
    refusals: &'a [RefusalBody],
    /// Refusals beyond the first [`tessera_access::MAX_LISTED`], counted, not listed.
    #[serde(skip_serializing_if = "is_zero")]
    refusals_omitted: usize,
}

#[derive(Serialize)]
struct RefusalBody {
    feature: Option<String>,
    reason: String,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            refusals: Vec::new(),
            internal: None,
        }
    }

    /// 400: the request cannot be read.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422: the request reads but does not make sense.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 401, with the `WWW-Authenticate` challenge added on the way out.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 500 with a generic message; `detail` goes to the log only.
    pub fn internal(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the detail",
        );
        e.internal = Some(detail.into());
        e
    }
}

impl From<tessera_access::Error> for ApiError {
    fn from(e: tessera_access::Error) -> Self {
        let code = e.code();
        match e.class() {
            ErrorClass::Input => Self::unprocessable(code, error_chain(&e)),
            ErrorClass::TooLarge => Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, error_chain(&e)),
            ErrorClass::Denied => {
                let refusals = match &e {
                    tessera_access::Error::Denied { refusals, .. } => refusals.clone(),
                    _ => Vec::new(),
                };
                let mut err = Self::new(StatusCode::FORBIDDEN, code, error_chain(&e));
                err.refusals = refusals;
                err
            }
            ErrorClass::Unavailable => {
                // The message names the dependency but no internals (paths, addresses).
                let public = match &e {
                    tessera_access::Error::StoreTimeout { .. } => e.to_string(),
                    tessera_access::Error::Audit(_) => {
                        "the audit log cannot be written, so reads are refused until it can"
                            .to_string()
                    }
                    tessera_access::Error::Provider { kind, .. } => {
                        format!("the {kind} provider is unavailable; retry later")
                    }
                    tessera_access::Error::Minimise { feature, .. } => format!(
                        "`{feature}` cannot be minimised by this server (its pseudonymisation key is not configured); ask its operator"
                    ),
                    _ => "the online store is unavailable; retry later".to_string(),
                };
                let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, public);
                err.internal = Some(error_chain(&e));
                err
            }
            ErrorClass::Internal => {
                let mut err = Self::internal(error_chain(&e));
                err.code = code;
                err
            }
        }
    }
}

/// The error and its causes (`error; caused by: cause; caused by: …`), for answers and
/// the log. Every error type of the workspace either prints its cause or exposes it as
/// its source, never both, so the chain is walked as it is, without de-duplicating.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str("; caused by: ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

impl ApiError {
    fn refusal_bodies(&self) -> Vec<RefusalBody> {
        let shown = self.refusals.len().min(tessera_access::MAX_LISTED);
        self.refusals[..shown]
            .iter()
            .map(|r| RefusalBody {
                feature: r.feature.as_ref().map(ToString::to_string),
                reason: Refusal {
                    feature: None,
                    reason: r.reason.clone(),
                }
                .to_string(),
            })
            .collect()
    }

    /// The refusals not listed in the body (only the first [`tessera_access::MAX_LISTED`]
    /// are).
    fn refusals_omitted(&self) -> usize {
        self.refusals
            .len()
            .saturating_sub(tessera_access::MAX_LISTED)
    }

    /// The message as sent: at most [`MAX_MESSAGE_CHARS`] characters.
    fn public_message(&self) -> std::borrow::Cow<'_, str> {
        tessera_access::clip_to(&self.message, MAX_MESSAGE_CHARS)
    }

    /// A response with `body`, the JSON content type, the challenge of a 401 and the
    /// detail for the log.
    fn respond(self, body: Vec<u8>) -> Response {
        let mut resp = (self.status, body).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tessera\""),
            );
        }
        let detail = self.internal.unwrap_or(self.message);
        resp.extensions_mut().insert(ErrorDetail(detail));
        resp
    }
}

/// Characters of an error message sent to a client; the lists in messages are capped
/// already, this bounds the rest (a pathological name, say).
const MAX_MESSAGE_CHARS: usize = 8192;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let refusals = self.refusal_bodies();
        let body = serde_json::to_vec(&Body {
            error: self.code,
            message: &self.public_message(),
            refusals: &refusals,
            refusals_omitted: self.refusals_omitted(),
        })
        .unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec());
        self.respond(body)
    }
}

/// An [`ApiError`] answered on a Feast route, shaped as Feast's feature server shapes its
/// errors so that Feast's SDK raises it as a Feast exception with our message: the body is
/// a JSON *string* holding `{"module": "feast.errors", "class": …, "message": …}` (what
/// `FeastError.to_error_detail()` writes and `FeastError.from_error_detail()` reads), with
/// Tessera's `error` code and `refusals` beside them.
#[derive(Debug)]
pub struct FeastError(pub ApiError);

impl From<ApiError> for FeastError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<tessera_access::Error> for FeastError {
    fn from(e: tessera_access::Error) -> Self {
        Self(e.into())
    }
}

#[derive(Serialize)]
struct FeastBody<'a> {
    module: &'static str,
    class: &'static str,
    message: &'a str,
    error: &'a str,
    #[serde(skip_serializing_if = "<[RefusalBody]>::is_empty")]
    refusals: &'a [RefusalBody],
    #[serde(skip_serializing_if = "is_zero")]
    refusals_omitted: usize,
}

/// The `feast.errors` class closest to an error code (each is a `FeastError`).
fn feast_class(e: &ApiError) -> &'static str {
    match e.code {
        "unknown_feature_view" => "FeatureViewNotFoundException",
        "unknown_feature_service" => "FeatureServiceNotFoundException",
        "unknown_push_source" => "PushSourceNotFoundException",
        "unknown_feature" => "FeastObjectNotFoundException",
        _ if matches!(e.status.as_u16(), 401 | 403) => "FeastPermissionError",
        _ => "FeastError",
    }
}

impl IntoResponse for FeastError {
    fn into_response(self) -> Response {
        let e = self.0;
        let refusals = e.refusal_bodies();
        let inner = serde_json::to_string(&FeastBody {
            module: "feast.errors",
            class: feast_class(&e),
            message: &e.public_message(),
            error: e.code,
            refusals: &refusals,
            refusals_omitted: e.refusals_omitted(),
        })
        .unwrap_or_else(|_| "{}".to_string());
        let body = serde_json::to_vec(&inner).unwrap_or_else(|_| b"\"{}\"".to_vec());
        e.respond(body)
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
