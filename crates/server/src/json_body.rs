//! Reading a JSON request body within the server's limits, with errors that say what to fix:
//! 413 beyond the size limit, 408 when the client is too slow, 400 for malformed JSON, 422
//! for JSON of the wrong shape (with the line and column).

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::api_error::ApiError;
use crate::config::Limits;
use crate::state::AppState;

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    check_not_empty(bytes)?;
    serde_json::from_slice(bytes).map_err(json_error)
}

/// A 400 for an empty body.
pub(crate) fn check_not_empty(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "empty_body",
            "the request body is empty (hint: send a JSON object)",
        ));
    }
    Ok(())
}

/// A JSON error as an answer: 400 for malformed JSON, 422 for the wrong shape.
pub(crate) fn json_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let text = tessera_access::clip_to(&e.to_string(), 1000).into_owned();
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(
            "malformed_json",
            format!("the request body is not valid JSON: {text}"),
        ),
        Category::Data => ApiError::unprocessable(
            "bad_request_shape",
            format!("the request body does not have the expected fields and types: {text}"),
        ),
    }
}

/// Bodies at least this large are decoded on the blocking pool.
const OFF_THREAD_BYTES: usize = 64 * 1024;

/// Runs `decode` over `bytes`: inline for small bodies; for large ones on the blocking pool,
/// at most one per CPU at once (the others wait their turn), so decoding never holds up
/// the async workers that answer `/health` and small requests.
pub(crate) async fn decode_bounded<T, F>(
    state: &AppState,
    bytes: Bytes,
    decode: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&[u8]) -> Result<T, ApiError> + Send + 'static,
{
    if bytes.len() < OFF_THREAD_BYTES {
        return decode(&bytes);
    }
    let _slot = state
        .decode_slots
        .acquire()
        .await
        .map_err(|e| ApiError::internal(format!("decode slots closed: {e}")))?;
    tokio::task::spawn_blocking(move || decode(&bytes))
        .await
        .map_err(|e| ApiError::internal(format!("decoding a request body failed: {e}")))?
}

pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limits: &Limits,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the request body is larger than this server's limit of {} bytes (hint: send fewer entities or rows per request)",
                limits.max_body_bytes
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let collect = Limited::new(body, limits.max_body_bytes).collect();
    match tokio::time::timeout(limits.body_read_timeout, collect).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {:?}",
                limits.body_read_timeout
            ),
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::bad_request(
            "body_unreadable",
            format!("the request body could not be read: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Refuses a request naming more distinct keys (join keys, columns) than
/// [`Limits::max_keys_per_request`].
pub(crate) fn check_key_count(n: usize, limits: &Limits) -> Result<(), ApiError> {
    if n > limits.max_keys_per_request {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_keys",
            format!(
                "the request names {n} distinct keys; this server's limit is {} (hint: a read needs only its views' join keys; raise `max_keys_per_request` under `server:` in tessera.yaml if you need more)",
                limits.max_keys_per_request
            ),
        ));
    }
    Ok(())
}
