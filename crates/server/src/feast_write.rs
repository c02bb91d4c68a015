//! `POST /push` and `POST /write-to-online-store`, as Feast 0.67's feature server speaks them.
//!
//! `/push` takes `{"push_source_name": …, "df": {column: [values]}, "to": "online"}` and
//! answers 200 with an empty body (`X-Tessera-Rows-Written` / `-Skipped` headers tell what
//! happened). Tessera has no push-source objects: `push_source_name` names a source (every
//! online view over it is written) or a feature view. `/write-to-online-store` takes
//! `{"feature_view_name": …, "df": {…}}` and answers 200 `null`.
//!
//! Rows are checked against the views' declared types before anything is written; "newer
//! wins" by (event timestamp, created timestamp), so concurrent and repeated pushes are safe.
//! A push to a `type: stream` source goes to the stream engine (window aggregations, offline
//! log); `X-Tessera-Events-Applied/-Duplicate/-Late/-Future` say what it did with them.
//! Writes to the offline store are not supported here and are refused, never dropped.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use tessera_access::{WriteOutcome, WriteRequest, WriteTarget, ACTION_WRITE};

use crate::api_error::{ApiError, FeastError};
use crate::feast_read::json_response;
use crate::metrics::Route;
use crate::push_decode::{BodyShape, Columns};
use crate::push_request::read_push;
use crate::refusal_audit::audited;
use crate::state::AppState;

pub(crate) const FEAST_PUSH: BodyShape = BodyShape {
    target: "push_source_name",
    texts: &["to"],
    column_fields: &["df"],
    events_field: None,
    deny_unknown: false,
};

pub(crate) const FEAST_WRITE: BodyShape = BodyShape {
    target: "feature_view_name",
    texts: &[],
    column_fields: &["df"],
    events_field: None,
    deny_unknown: false,
};

pub(crate) async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, FeastError> {
    let caller = state.auth.caller(&headers)?;
    let (st, h, c) = (&state, &headers, &caller);
    let refuse = move |e| audited(st, c, ACTION_WRITE, Route::Push, h, e);
    let req = match read_push(
        &state,
        &caller,
        &headers,
        body,
        FEAST_PUSH,
        WriteTarget::PushSource,
    )
    .await
    .and_then(|req| {
        check_push_mode(req.text("to"))?;
        Ok((req.target, df(req.data)?))
    }) {
        Ok(r) => r,
        Err(e) => return Err(refuse(e).await.into()),
    };
    let (target, columns) = req;
    let outcome = state
        .access
        .write(WriteRequest {
            target: WriteTarget::PushSource(target),
            columns,
            caller,
        })
        .await
        .map_err(ApiError::from)?;
    Ok(with_counts(().into_response(), &outcome))
}

/// Feast's `to`: only the online store is written here.
pub(crate) fn check_push_mode(to: Option<&str>) -> Result<(), ApiError> {
    match to {
        None | Some("online") => Ok(()),
        Some("offline" | "online_and_offline") => Err(ApiError::unprocessable(
            "offline_push_unsupported",
            "this server writes only to the online store (hint: push with \"to\": \"online\"; offline data comes from the batch sources)",
        )),
        Some(other) => Err(ApiError::unprocessable(
            "bad_push_mode",
            format!("`to` is `{}`; it must be \"online\"", tessera_access::clip(other)),
        )),
    }
}

/// The `df` columns.
pub(crate) fn df(data: Vec<(&'static str, Columns)>) -> Result<Columns, ApiError> {
    data.into_iter().next().map(|(_, c)| c).ok_or_else(|| {
        ApiError::unprocessable(
            "bad_request_shape",
            "the request body does not have the expected fields and types: missing field `df` (hint: the rows as columns, e.g. \"df\": {\"user_id\": [1], \"f0\": [0.5]})",
        )
    })
}

pub(crate) async fn write_to_online_store(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, FeastError> {
    let caller = state.auth.caller(&headers)?;
    let (st, h, c) = (&state, &headers, &caller);
    let refuse = move |e| audited(st, c, ACTION_WRITE, Route::WriteToOnlineStore, h, e);
    let req = read_push(
        &state,
        &caller,
        &headers,
        body,
        FEAST_WRITE,
        WriteTarget::View,
    )
    .await
    .and_then(|req| Ok((req.target, df(req.data)?)));
    let (target, columns) = match req {
        Ok(r) => r,
        Err(e) => return Err(refuse(e).await.into()),
    };
    let outcome = state
        .access
        .write(WriteRequest {
            target: WriteTarget::View(target),
            columns,
            caller,
        })
        .await
        .map_err(ApiError::from)?;
    Ok(with_counts(json_response(b"null".to_vec()), &outcome))
}

fn with_counts(mut resp: Response, outcome: &WriteOutcome) -> Response {
    let h = resp.headers_mut();
    if let Some(i) = &outcome.ingest {
        h.insert("x-tessera-events-applied", HeaderValue::from(i.applied));
        h.insert(
            "x-tessera-events-duplicate",
            HeaderValue::from(i.duplicates),
        );
        h.insert("x-tessera-events-late", HeaderValue::from(i.late));
        h.insert("x-tessera-events-future", HeaderValue::from(i.future));
    }
    h.insert(
        "x-tessera-rows-written",
        HeaderValue::from(outcome.written()),
    );
    h.insert(
        "x-tessera-rows-skipped",
        HeaderValue::from(outcome.skipped()),
    );
    resp
}
