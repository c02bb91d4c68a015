//! The purpose of a request: the `X-Tessera-Purpose` header or a `purpose` body field.

use axum::http::HeaderMap;

use crate::api_error::ApiError;

/// The header that names a read's purpose.
pub const PURPOSE_HEADER: &str = "x-tessera-purpose";

/// The purpose from the header and/or the body field; both may be given only if they agree.
pub(crate) fn purpose_of(
    headers: &HeaderMap,
    field: Option<String>,
) -> Result<Option<String>, ApiError> {
    let header = match headers.get(PURPOSE_HEADER) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::bad_request(
                        "bad_purpose_header",
                        "the X-Tessera-Purpose header is not text",
                    )
                })?
                .trim()
                .to_string(),
        ),
    };
    match (header, field) {
        (Some(h), Some(f)) if h != f => Err(ApiError::bad_request(
            "conflicting_purpose",
            format!("the X-Tessera-Purpose header says `{h}` but the `purpose` field says `{f}` (hint: send one)"),
        )),
        (Some(h), _) if !h.is_empty() => Ok(Some(h)),
        (_, Some(f)) if !f.is_empty() => Ok(Some(f)),
        _ => Ok(None),
    }
}
