//! [`app`]: the HTTP routes, and the middleware that counts and logs every request.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::api_error::{ApiError, ErrorDetail};
use crate::metrics::Route;
use crate::state::AppState;
use crate::{
    erase_route, feast_read, feast_write, ldp_route, native_consent, native_push, native_read,
    releases_route,
};

/// The router: Feast's feature-server routes, the native API, `/health` and `/metrics`.
///
/// | route | what |
/// |---|---|
/// | `POST /get-online-features` | Feast-compatible read |
/// | `POST /push`, `POST /write-to-online-store` | Feast-compatible writes |
/// | `POST /v1/features` | native read: typed values, per-value status |
/// | `POST /v1/consent` | consent changes (a consumer with `consent: true`) |
/// | `POST /v1/erase` | erase entities from every tier (consumers with `erase: true`) |
/// | `POST /v1/ldp/reports` | batches of local-DP reports (sketch accumulated, persisted) |
/// | `GET /v1/ldp/{report}/estimates` | local-DP frequency estimates per candidate |
/// | `POST /v1/releases` | a differentially private release, charged to a budget |
/// | `GET /health` | 200 when the online store answers, else 503 |
/// | `GET /metrics` | Prometheus text format |
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            Route::GetOnlineFeatures.path(),
            post(feast_read::get_online_features),
        )
        .route(Route::Push.path(), post(feast_write::push))
        .route(
            Route::WriteToOnlineStore.path(),
            post(feast_write::write_to_online_store),
        )
        .route(Route::V1Features.path(), post(native_read::features))
        .route(Route::V1Push.path(), post(native_push::native_push))
        .route(Route::V1Consent.path(), post(native_consent::consent))
        .route(Route::V1Erase.path(), post(erase_route::erase))
        .route(Route::V1LdpReports.path(), post(ldp_route::ldp_reports))
        .route(Route::V1LdpEstimates.path(), get(ldp_route::ldp_estimates))
        .route(Route::V1Releases.path(), post(releases_route::releases))
        .route(Route::Health.path(), get(health))
        .route(Route::Metrics.path(), get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Counts the request by route and status, times it, and logs error details once.
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(Route::Other, |p| Route::from_path(p.as_str()));
    let started = Instant::now();
    let _in_flight = state.metrics.in_flight();
    let resp = next.run(req).await;
    let status = resp.status();
    state
        .metrics
        .request_done(route, status.as_u16(), started.elapsed());
    if let Some(ErrorDetail(detail)) = resp.extensions().get::<ErrorDetail>() {
        if status.is_server_error() {
            tracing::error!(route = route.path(), status = status.as_u16(), error = %detail, "request failed");
        } else {
            tracing::debug!(route = route.path(), status = status.as_u16(), error = %detail, "request refused");
        }
    }
    resp
}

async fn health(State(state): State<AppState>) -> Response {
    let Some(store) = state.access.store() else {
        return StatusCode::OK.into_response(); // no online store to probe
    };
    let probe = tokio::time::timeout(
        Duration::from_secs(2),
        store.high_water_mark("__tessera_health__"),
    )
    .await;
    match probe {
        Ok(Ok(_)) => StatusCode::OK.into_response(),
        Ok(Err(e)) => {
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the online store is unavailable",
            );
            err.internal = Some(crate::api_error::error_chain(&e));
            err.into_response()
        }
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_timeout",
            "the online store did not answer within 2s",
        )
        .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(&state.access);
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        format!(
            "no route {} {} (routes: POST /get-online-features, POST /push, POST /write-to-online-store, POST /v1/features, POST /v1/push, POST /v1/consent, POST /v1/erase, POST /v1/ldp/reports, GET /v1/ldp/{{report}}/estimates, POST /v1/releases, GET /health, GET /metrics)",
            req.method(),
            req.uri().path()
        ),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}
