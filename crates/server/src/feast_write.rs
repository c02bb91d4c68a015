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
//! Writes to the offline store are not supported here and are refused, never dropped.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tessera_access::{WriteOutcome, WriteRequest, WriteTarget};

use crate::api_error::ApiError;
use crate::feast_read::json_response;
use crate::json_body::read_json;
use crate::json_values::ValueColumns;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct PushBody {
    push_source_name: String,
    df: ValueColumns,
    #[serde(default)]
    to: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WriteBody {
    feature_view_name: String,
    df: ValueColumns,
}

pub(crate) async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&headers)?;
    let req: PushBody = read_json(&headers, body, &state.limits).await?;
    match req.to.as_deref() {
        None | Some("online") => {}
        Some("offline" | "online_and_offline") => {
            return Err(ApiError::unprocessable(
                "offline_push_unsupported",
                "this server writes only to the online store (hint: push with \"to\": \"online\"; offline data comes from the batch sources)",
            ))
        }
        Some(other) => {
            return Err(ApiError::unprocessable(
                "bad_push_mode",
                format!("`to` is `{other}`; it must be \"online\""),
            ))
        }
    }
    let outcome = state
        .access
        .write(WriteRequest {
            target: WriteTarget::PushSource(req.push_source_name),
            columns: req.df.0,
            caller,
        })
        .await?;
    Ok(with_counts(().into_response(), &outcome))
}

pub(crate) async fn write_to_online_store(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&headers)?;
    let req: WriteBody = read_json(&headers, body, &state.limits).await?;
    let outcome = state
        .access
        .write(WriteRequest {
            target: WriteTarget::View(req.feature_view_name),
            columns: req.df.0,
            caller,
        })
        .await?;
    Ok(with_counts(json_response(b"null".to_vec()), &outcome))
}

fn with_counts(mut resp: Response, outcome: &WriteOutcome) -> Response {
    let h = resp.headers_mut();
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
