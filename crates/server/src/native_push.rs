//! `POST /v1/push`: Tessera's own push route, events as objects or columns.
//!
//! `{"source": "plays", "events": [{"user_id": 1, "ts": "…", …}, …]}` or
//! `{"source": …, "columns": {"user_id": [1, 2], …}}`; answers what was applied as JSON.
//! A key an event lacks is null there. The body is decoded in one linear pass within the
//! server's limits (keys per event, distinct keys, rows), and only after the caller's
//! permission to push to the source is checked.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use tessera_access::{WriteRequest, WriteTarget, ACTION_WRITE};

use crate::api_error::ApiError;
use crate::feast_read::json_response;
use crate::metrics::Route;
use crate::push_decode::{BodyShape, Columns, PushBody};
use crate::push_request::read_push;
use crate::refusal_audit::Refusals;
use crate::state::AppState;

pub(crate) const NATIVE_PUSH: BodyShape = BodyShape {
    target: "source",
    texts: &[],
    column_fields: &["columns"],
    events_field: Some("events"),
    deny_unknown: true,
};

pub(crate) async fn native_push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&headers)?;
    let refusals = Refusals::new(&state, &caller, &headers, ACTION_WRITE, Route::V1Push);
    let req = read_push(
        &state,
        &caller,
        &headers,
        body,
        NATIVE_PUSH,
        WriteTarget::PushSource,
    )
    .await
    .and_then(rows);
    let (source, columns) = refusals.check(req).await?;
    let outcome = state
        .access
        .write(WriteRequest {
            target: WriteTarget::PushSource(source.clone()),
            columns,
            caller,
        })
        .await?;
    let i = outcome.ingest.unwrap_or_default();
    let body = serde_json::json!({
        "source": source,
        "written": outcome.views.iter().map(|(_, s)| s.written).sum::<u64>(),
        "skipped": outcome.views.iter().map(|(_, s)| s.skipped).sum::<u64>(),
        "applied": i.applied,
        "duplicates": i.duplicates,
        "late": i.late,
        "future": i.future,
    });
    Ok(json_response(body.to_string().into_bytes()))
}

/// The source and its rows: exactly one of `events` and `columns`.
pub(crate) fn rows(body: PushBody) -> Result<(String, Columns), ApiError> {
    let mut data = body.data.into_iter();
    match (data.next(), data.next()) {
        (Some((_, columns)), None) => Ok((body.target, columns)),
        _ => Err(ApiError::unprocessable(
            "bad_push",
            "send `events` (a list of objects) or `columns` (an object of lists), not both or neither",
        )),
    }
}
