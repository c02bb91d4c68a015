//! `POST /v1/releases`: a differentially private release (a count, sum, mean or histogram)
//! for an authenticated consumer, charged to its budget for a purpose that declares `dp: {
//! budget: … }`.
//!
//! `{"release": "plays_per_genre", "purpose": "analytics", "rho": 0.05, "from": "…", "to":
//! "…"}` runs a release declared under `releases:` (`purpose` may come from the
//! `X-Tessera-Purpose` header; `rho`/`epsilon`, `from` and `to` are optional).
//! `{"adhoc": {"source": …, "entity": …, "query": "count", "max_rows": 5, …}, "rho": 0.05}`
//! runs an ad-hoc query ([`tessera_core::AdhocReleaseDef`]): checked like a declared one,
//! then by the policy gate (it reads only columns of classifications the purpose allows,
//! groups only by public ones; bounds and the cost are required). The caller's permission
//! is checked first — an authenticated
//! consumer holding a purpose with a budget — then the body is read within the server's
//! limits, then the [`Releaser`] the program running the server installed
//! ([`crate::AppState::with_releaser`]) runs it. Every outcome is audited (action
//! `dp_release`) with its cost and the budget left; the answer holds only noisy values.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tessera_audit::{AuditDecision, AuditRecord};
use tessera_core::{AdhocReleaseDef, Catalog, ReleaseDef};

use crate::api_error::ApiError;
use crate::feast_read::json_response;
use crate::json_body::parse_json;
use crate::metrics::Route;
use crate::purpose::purpose_of;
use crate::refusal_audit::Refusals;
use crate::state::AppState;

/// The audit action of a release.
pub const ACTION_RELEASE: &str = "dp_release";

/// One release asked for over HTTP.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseCall {
    /// The declared release's name (or `adhoc`).
    #[serde(default)]
    pub release: Option<String>,
    /// An ad-hoc query (instead of `release`).
    #[serde(default)]
    pub adhoc: Option<AdhocReleaseDef>,
    /// The purpose (or the `X-Tessera-Purpose` header).
    #[serde(default)]
    pub purpose: Option<String>,
    /// The cost in ρ (discrete Gaussian); the declared cost when neither is given.
    #[serde(default)]
    pub rho: Option<f64>,
    /// The cost in ε (discrete Laplace).
    #[serde(default)]
    pub epsilon: Option<f64>,
    /// Rows at or after (RFC 3339 or YYYY-MM-DD).
    #[serde(default)]
    pub from: Option<String>,
    /// Rows before.
    #[serde(default)]
    pub to: Option<String>,
}

impl ReleaseCall {
    /// The release to run and whether it is ad hoc: the declared one named `release`, or the
    /// one `adhoc` describes (exactly one of them).
    pub fn release_def(&self, catalog: &Catalog) -> Result<(ReleaseDef, bool), ReleaseFailure> {
        match (&self.release, &self.adhoc) {
            (Some(name), None) => catalog
                .release(name)
                .map(|d| (d.clone(), false))
                .map_err(|e| ReleaseFailure::Invalid(e.to_string())),
            (None, Some(q)) => Ok((q.to_release(), true)),
            (Some(_), Some(_)) => Err(ReleaseFailure::Invalid(
                "give `release` (a declared release) or `adhoc` (a query), not both".into(),
            )),
            (None, None) => Err(ReleaseFailure::Invalid(
                "give `release` (a declared release's name) or `adhoc` (a query: source, entity, query, max_rows, …) (hint: docs/DIFFERENTIAL_PRIVACY.md#ad-hoc-releases)".into(),
            )),
        }
    }

    /// What the audit record names: the declared release, or the ad-hoc query as JSON.
    fn label(&self) -> String {
        match (&self.release, &self.adhoc) {
            (Some(r), _) => format!("release={}", tessera_access::clip(r)),
            (None, Some(q)) => format!(
                "adhoc={}",
                tessera_access::clip_to(&serde_json::to_string(q).unwrap_or_default(), 2000)
            ),
            (None, None) => "release=-".into(),
        }
    }
}

/// A release that ran.
#[derive(Debug, Clone)]
pub struct ReleaseDone {
    /// The answer (noisy values, noise, cost, budget), as JSON.
    pub answer: serde_json::Value,
    /// What the audit record says of it (cost, budget left).
    pub audit_detail: String,
    /// What it read (`source:NAME` or `view:NAME`).
    pub read: String,
    /// How many groups it released.
    pub groups: u64,
}

/// Why a release did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseFailure {
    /// Refused: over budget, or not permitted (403).
    Refused(String),
    /// The request does not make sense (422): unknown release, bad cost or time.
    Invalid(String),
    /// It failed (500): reading data, the budget journal.
    Failed(String),
}

/// What runs releases for the server: installed by the program that owns the repository.
#[async_trait::async_trait]
pub trait Releaser: Send + Sync + std::fmt::Debug {
    /// Runs `call` for `consumer` and `purpose` (already checked to hold a budget), charging
    /// the budget before it returns.
    async fn release(
        &self,
        consumer: &str,
        purpose: &str,
        call: ReleaseCall,
    ) -> Result<ReleaseDone, ReleaseFailure>;
}

pub(crate) async fn releases(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&headers)?;
    let refusals = Refusals::new(&state, &caller, &headers, ACTION_RELEASE, Route::V1Releases);
    let refuse = |e| refusals.refuse(e);
    let catalog = state.access.catalog();
    // Permission first: an authenticated consumer holding a purpose with a budget.
    let Some(name) = caller.consumer_name() else {
        return Err(refuse(ApiError::new(
            StatusCode::FORBIDDEN,
            "release_denied",
            "releases are charged to a consumer's budget; this caller is not a consumer (hint: serve with bearer tokens and call with a consumer's token)",
        ))
        .await);
    };
    let dp_purposes: Vec<String> = catalog
        .consumers()
        .get(name)
        .map(|c| {
            c.purposes
                .iter()
                .filter(|p| catalog.purposes().get(*p).is_some_and(|d| d.dp.is_some()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if dp_purposes.is_empty() {
        return Err(refuse(ApiError::new(
            StatusCode::FORBIDDEN,
            "release_denied",
            format!("consumer `{name}` holds no purpose with a differential-privacy budget (hint: declare `dp: {{ budget: {{ rho: 0.5, per: 30d }} }}` on one of its purposes)"),
        ))
        .await);
    }
    let releaser = refusals
        .installed(
            state.releaser.clone(),
            "releases_unsupported",
            "this server cannot run releases (hint: run `tessera release` on the repository)",
        )
        .await?;
    let mut call = refusals.body(body, parse_json::<ReleaseCall>).await?;
    let purpose = match purpose_of(&headers, call.purpose.take()) {
        Ok(Some(p)) => p,
        Ok(None) if dp_purposes.len() == 1 => dp_purposes[0].clone(),
        Ok(None) => {
            return Err(refuse(ApiError::unprocessable(
                "missing_purpose",
                format!("name the purpose (`purpose` or the X-Tessera-Purpose header); consumer `{name}` has budgets for: {}", dp_purposes.join(", ")),
            ))
            .await)
        }
        Err(e) => return Err(refuse(e).await),
    };
    if !dp_purposes.contains(&purpose) {
        return Err(refuse(ApiError::new(
            StatusCode::FORBIDDEN,
            "release_denied",
            format!("consumer `{name}` has no differential-privacy budget for purpose `{}` (hint: its budgets: {})", tessera_access::clip(&purpose), dp_purposes.join(", ")),
        ))
        .await);
    }
    let started = std::time::Instant::now();
    let label = call.label();
    let adhoc = call.adhoc.is_some();
    let result = releaser.release(name, &purpose, call).await;
    let mut record = AuditRecord::now(ACTION_RELEASE, &caller.to_string(), &purpose);
    record.latency_us = started.elapsed().as_micros() as u64;
    let (status, code, message) = match result {
        Ok(done) => {
            record.features = [done.read].into_iter().collect();
            record.rows = done.groups;
            record.detail = Some(if adhoc {
                format!("{} {label}", done.audit_detail)
            } else {
                done.audit_detail
            });
            if let Err(e) = state.access.audit().record(record).await {
                // The budget is already charged; the answer is withheld unless audited.
                return Err(ApiError::internal(format!(
                    "a release could not be audited: {e}"
                )));
            }
            return Ok(json_response(done.answer.to_string().into_bytes()));
        }
        Err(ReleaseFailure::Refused(m)) => (StatusCode::FORBIDDEN, "release_refused", m),
        Err(ReleaseFailure::Invalid(m)) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_release", m),
        Err(ReleaseFailure::Failed(m)) => {
            record.decision = AuditDecision::Error;
            record.reasons = vec![tessera_access::clip_to(&m, 2000).into_owned()];
            record.detail = Some(label);
            let _ = state.access.audit().record(record).await;
            return Err(ApiError::internal(m));
        }
    };
    record.decision = if status == StatusCode::FORBIDDEN {
        AuditDecision::Deny
    } else {
        AuditDecision::Error
    };
    record.reasons = vec![format!(
        "{} {code}: {}",
        status.as_u16(),
        tessera_access::clip_to(&message, 2000)
    )];
    record.detail = Some(label);
    let _ = state.access.audit().record(record).await;
    Err(ApiError::new(status, code, message))
}

/// The installed releaser, shared.
pub(crate) type SharedReleaser = std::sync::Arc<dyn Releaser>;
