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
use serde::Deserialize;
use tessera_access::wire::{ValueColumns, ValueRow};
use tessera_access::{WriteOutcome, WriteRequest, WriteTarget};

use crate::api_error::ApiError;
use crate::feast_read::json_response;
use crate::json_body::read_json;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct PushBody {
    push_source_name: String,
    df: ValueColumns,
    #[serde(default)]
    to: Option<String>,
}

/// `POST /v1/push`: `{"source": "plays", "events": [{"user_id": 1, "ts": "…", …}, …]}` or
/// `{"source": …, "columns": {"user_id": [1, 2], …}}`; answers what was applied.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NativePushBody {
    source: String,
    #[serde(default)]
    events: Option<Vec<ValueRow>>,
    #[serde(default)]
    columns: Option<ValueColumns>,
}

pub(crate) async fn native_push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&headers)?;
    let req: NativePushBody = read_json(&headers, body, &state.limits).await?;
    let columns = match (req.events, req.columns) {
        (Some(rows), None) => rows_to_columns(rows),
        (None, Some(c)) => c.0,
        _ => {
            return Err(ApiError::unprocessable(
                "bad_push",
                "send `events` (a list of objects) or `columns` (an object of lists), not both or neither",
            ))
        }
    };
    let outcome = state
        .access
        .write(WriteRequest {
            target: WriteTarget::PushSource(req.source.clone()),
            columns,
            caller,
        })
        .await?;
    let i = outcome.ingest.unwrap_or_default();
    let body = serde_json::json!({
        "source": req.source,
        "written": outcome.views.iter().map(|(_, s)| s.written).sum::<u64>(),
        "skipped": outcome.views.iter().map(|(_, s)| s.skipped).sum::<u64>(),
        "applied": i.applied,
        "duplicates": i.duplicates,
        "late": i.late,
        "future": i.future,
    });
    Ok(json_response(body.to_string().into_bytes()))
}

/// Row objects as columns (a key missing from a row is null there).
fn rows_to_columns(rows: Vec<ValueRow>) -> Vec<(String, Vec<tessera_online::Value>)> {
    let mut names: Vec<String> = Vec::new();
    for r in &rows {
        for (k, _) in &r.0 {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let mut cols: Vec<(String, Vec<tessera_online::Value>)> = names
        .into_iter()
        .map(|n| (n, Vec::with_capacity(rows.len())))
        .collect();
    for r in rows {
        let mut r = r.0;
        for (name, col) in cols.iter_mut() {
            let v = r
                .iter()
                .position(|(k, _)| k == name)
                .map_or(tessera_online::Value::Null, |i| r.swap_remove(i).1);
            col.push(v);
        }
    }
    cols
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
