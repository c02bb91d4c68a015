//! The purpose of a request: the `X-Tessera-Purpose` header or a `purpose` body field.

use axum::http::HeaderMap;

use crate::api_error::ApiError;

/// The header that names a read's purpose.
pub const PURPOSE_HEADER: &str = "x-tessera-purpose";

/// The purpose from the header and/or the body field; both may be given only if they agree.
/// An empty (or all-whitespace) header or field counts as absent.
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
    let header = header.filter(|h| !h.is_empty());
    let field = field.filter(|f| !f.trim().is_empty());
    match (header, field) {
        (Some(h), Some(f)) if h != f => Err(ApiError::bad_request(
            "conflicting_purpose",
            format!("the X-Tessera-Purpose header says `{h}` but the `purpose` field says `{f}` (hint: send one)"),
        )),
        (Some(h), _) => Ok(Some(h)),
        (None, f) => Ok(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_header(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(PURPOSE_HEADER, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn an_empty_header_or_field_is_absent() {
        let field = || Some("ranking".to_string());
        for empty in ["", "   "] {
            assert_eq!(
                purpose_of(&with_header(empty), field()).unwrap().as_deref(),
                Some("ranking"),
                "header {empty:?}"
            );
            assert_eq!(purpose_of(&with_header(empty), None).unwrap(), None);
        }
        for empty in ["", "  "] {
            assert_eq!(
                purpose_of(&with_header("ranking"), Some(empty.into()))
                    .unwrap()
                    .as_deref(),
                Some("ranking")
            );
            assert_eq!(
                purpose_of(&HeaderMap::new(), Some(empty.into())).unwrap(),
                None
            );
        }
    }

    #[test]
    fn header_and_field_must_agree() {
        let h = with_header(" ranking ");
        assert_eq!(
            purpose_of(&h, Some("ranking".into())).unwrap().as_deref(),
            Some("ranking")
        );
        let err = purpose_of(&h, Some("analytics".into())).unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code),
            (400, "conflicting_purpose")
        );
        assert_eq!(
            purpose_of(&HeaderMap::new(), Some("care".into()))
                .unwrap()
                .as_deref(),
            Some("care")
        );
    }
}
