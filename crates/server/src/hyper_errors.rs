//! JSON bodies for the answers hyper writes itself.
//!
//! When a request cannot be parsed — a malformed request line or header, a bad
//! `Content-Length` (400), a URI over hyper's limit (414), headers too large or too many
//! (431) — hyper answers before any route runs, with an empty body. The connection's I/O
//! ([`crate::conn_guard::GuardedIo`]) hands every write to [`with_json_body`], which
//! recognises such an answer (a status line of 400, 414 or 431, `content-length: 0` and no
//! content type; the server's own errors always carry a JSON body and a content type) and
//! replaces it with the same status and the server's documented error shape.

/// The answer with a JSON body, when `buf` is one of hyper's bodiless error answers.
pub(crate) fn with_json_body(buf: &[u8]) -> Option<Vec<u8>> {
    // Cheap checks first: every answer passes through here.
    let status = buf.get(9..13)?;
    if !buf.starts_with(b"HTTP/1.")
        || buf.len() > 4096
        || !matches!(status, b"400 " | b"414 " | b"431 ")
    {
        return None;
    }
    let head = std::str::from_utf8(buf).ok()?;
    let head = head.strip_suffix("\r\n\r\n")?;
    if head.contains("\r\n\r\n") {
        return None; // more than one message
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let code = status_line.split(' ').nth(1)?;
    let (error, message) = match code {
        "400" => (
            "bad_http_request",
            "the request is not valid HTTP/1.1: a malformed request line or header, or a Content-Length that is not one number (hint: check the client's request; send one valid Content-Length or use chunked encoding)",
        ),
        "414" => (
            "uri_too_long",
            "the request URI is too long (hint: send the request's data in the JSON body, not in the URL)",
        ),
        "431" => (
            "headers_too_large",
            "the request headers are too large or too many (hint: send fewer and smaller headers)",
        ),
        _ => return None,
    };
    let mut empty = false;
    let mut kept = Vec::new();
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("content-type:") {
            return None;
        }
        if let Some(len) = lower.strip_prefix("content-length:") {
            empty = len.trim() == "0";
        } else if !lower.starts_with("connection:") {
            kept.push(line);
        }
    }
    if !empty {
        return None;
    }
    let body = serde_json::json!({"error": error, "message": message}).to_string();
    let mut out = String::with_capacity(256 + body.len());
    out.push_str(status_line);
    out.push_str("\r\n");
    for line in kept {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("content-type: application/json\r\nconnection: close\r\n");
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    out.push_str(&body);
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bodiless_errors_get_a_json_body() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sat, 05 Dec 2026 00:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(with_json_body(hyper).unwrap()).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{out}"
        );
        assert!(out.contains("date: Sat, 05 Dec 2026"), "{out}");
        assert!(out.contains("content-type: application/json\r\n"), "{out}");
        let (_, body) = out.split_once("\r\n\r\n").unwrap();
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(j["error"], "headers_too_large");
        assert!(out.contains(&format!("content-length: {}\r\n", body.len())));
    }

    #[test]
    fn the_servers_own_answers_pass_unchanged() {
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert!(with_json_body(ours).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(with_json_body(ok).is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert!(with_json_body(with_body).is_none());
    }
}
