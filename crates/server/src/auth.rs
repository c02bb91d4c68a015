//! Authentication: a bearer token identifies a declared consumer.
//!
//! Each consumer names, in its definition, the environment variable holding its token
//! (`token_env`). The server reads those variables once at startup; a request carries
//! `Authorization: Bearer <token>` (what Feast's SDK sends with `auth: {type: kubernetes,
//! user_token: …}`) and is served as that consumer. Tokens are compared in constant time.
//! A missing or unknown token is a 401 — the default. `--auth none` (local development
//! only) serves every request as [`Caller::Anonymous`].

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use tessera_access::Caller;
use tessera_core::Catalog;

use crate::api_error::ApiError;
use crate::error::Error;

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Bearer tokens identify consumers.
    Bearer(Arc<TokenTable>),
    /// No authentication: everyone is anonymous (local development only).
    None,
}

impl Auth {
    /// The caller of a request.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        match self {
            Auth::None => Ok(Caller::Anonymous),
            Auth::Bearer(table) => {
                let Some(value) = headers.get(header::AUTHORIZATION) else {
                    return Err(ApiError::unauthorized(
                        "missing bearer token (hint: send `Authorization: Bearer <token>`; each consumer's token is in the environment variable its `token_env` names)",
                    ));
                };
                let token = value
                    .to_str()
                    .ok()
                    .and_then(|v| {
                        let (scheme, rest) = v.trim().split_once(' ')?;
                        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
                    })
                    .ok_or_else(|| {
                        ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
                    })?;
                table
                    .consumer(token)
                    .map(Caller::Consumer)
                    .ok_or_else(|| ApiError::unauthorized("invalid bearer token"))
            }
        }
    }
}

/// Tokens and the consumers they identify.
#[derive(Clone, Default)]
pub struct TokenTable {
    entries: Vec<(Vec<u8>, Arc<str>)>,
}

impl std::fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print tokens.
        f.debug_struct("TokenTable")
            .field(
                "consumers",
                &self
                    .entries
                    .iter()
                    .map(|(_, c)| c.as_ref())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Tokens shorter than this are refused: they can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

impl TokenTable {
    /// A table from `(token, consumer)` pairs. Refuses short tokens and a token shared by
    /// two consumers (the caller's identity would be ambiguous).
    pub fn new(pairs: Vec<(String, String)>) -> Result<Self, Error> {
        let mut entries: Vec<(Vec<u8>, Arc<str>)> = Vec::with_capacity(pairs.len());
        for (token, consumer) in pairs {
            if token.len() < MIN_TOKEN_LEN {
                return Err(Error::WeakToken {
                    consumer,
                    min: MIN_TOKEN_LEN,
                });
            }
            if let Some((_, other)) = entries.iter().find(|(t, _)| *t == token.as_bytes()) {
                return Err(Error::SharedToken {
                    first: other.to_string(),
                    second: consumer,
                });
            }
            entries.push((token.into_bytes(), Arc::from(consumer.as_str())));
        }
        Ok(Self { entries })
    }

    /// Reads each consumer's token from the environment variable its `token_env` names.
    /// Returns the table and the consumers whose variable is unset or empty.
    pub fn from_env(catalog: &Catalog) -> Result<(Self, Vec<String>), Error> {
        Self::from_lookup(catalog, |var| std::env::var(var).ok())
    }

    /// As [`TokenTable::from_env`], reading variables through `lookup`.
    pub fn from_lookup(
        catalog: &Catalog,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(Self, Vec<String>), Error> {
        let mut pairs = Vec::new();
        let mut missing = Vec::new();
        for c in catalog.consumers().values() {
            match lookup(&c.token_env).map(|t| t.trim().to_string()) {
                Some(t) if !t.is_empty() => pairs.push((t, c.name.clone())),
                _ => missing.push(format!("{} (${})", c.name, c.token_env)),
            }
        }
        if pairs.is_empty() {
            return Err(Error::NoTokens {
                consumers: if missing.is_empty() {
                    "no consumers are declared".to_string()
                } else {
                    missing.join(", ")
                },
            });
        }
        Ok((Self::new(pairs)?, missing))
    }

    /// The consumers that have a token.
    pub fn consumers(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, c)| c.as_ref())
    }

    /// The consumer a token identifies. Every entry is compared in full, in constant time
    /// per byte, so timing does not reveal how much of a token matched.
    pub fn consumer(&self, token: &str) -> Option<Arc<str>> {
        let mut found = None;
        for (t, c) in &self.entries {
            if constant_time_eq(t, token.as_bytes()) {
                found = Some(c.clone());
            }
        }
        found
    }
}

/// Whether `given` equals `secret`, in time that depends only on `given.len()` (which the
/// caller knows anyway): every byte of `given` is compared with `secret` padded with zeros,
/// and the length difference is folded into the result instead of returning early, so the
/// timing reveals neither how much of the token matched nor how long the secret is.
fn constant_time_eq(secret: &[u8], given: &[u8]) -> bool {
    let mut diff = secret.len() ^ given.len();
    for (i, g) in given.iter().enumerate() {
        let s = secret.get(i).copied().unwrap_or(0);
        diff |= usize::from(s ^ g);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_tokens_identify_consumers() {
        let table = TokenTable::new(vec![
            ("a".repeat(20), "ranker".into()),
            ("b".repeat(20), "trainer".into()),
        ])
        .unwrap();
        let auth = Auth::Bearer(Arc::new(table));
        let mut h = HeaderMap::new();
        assert_eq!(auth.caller(&h).unwrap_err().status, 401);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", "b".repeat(20))).unwrap(),
        );
        assert_eq!(auth.caller(&h).unwrap(), Caller::consumer("trainer"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nope"),
        );
        assert_eq!(auth.caller(&h).unwrap_err().status, 401);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(auth.caller(&h).unwrap_err().status, 401);
        assert!(
            !format!("{auth:?}").contains("aaaa"),
            "tokens are never printed"
        );
    }

    #[test]
    fn token_comparison() {
        let secret = b"0123456789abcdef";
        assert!(constant_time_eq(secret, b"0123456789abcdef"));
        assert!(
            !constant_time_eq(secret, b"0123456789abcdeF"),
            "last byte differs"
        );
        assert!(
            !constant_time_eq(secret, b"X123456789abcdef"),
            "first byte differs"
        );
        assert!(!constant_time_eq(secret, b"0123456789abcde"), "a prefix");
        assert!(
            !constant_time_eq(secret, b"0123456789abcdef0"),
            "one byte longer"
        );
        assert!(
            !constant_time_eq(secret, b"0123456789abcdef\0"),
            "padded with a zero byte"
        );
        assert!(!constant_time_eq(secret, b""), "empty");
        assert!(!constant_time_eq(b"", b"\0"));
        assert!(constant_time_eq(b"", b""));
        let table = TokenTable::new(vec![(
            String::from_utf8(secret.to_vec()).unwrap(),
            "a".into(),
        )])
        .unwrap();
        assert_eq!(table.consumer("0123456789abcdef").as_deref(), Some("a"));
        assert_eq!(table.consumer("0123456789abcde"), None);
        assert_eq!(table.consumer("0123456789abcdef0"), None);
    }

    #[test]
    fn refuses_weak_and_shared_tokens() {
        assert!(TokenTable::new(vec![("short".into(), "a".into())]).is_err());
        let t = "x".repeat(32);
        assert!(TokenTable::new(vec![(t.clone(), "a".into()), (t, "b".into())]).is_err());
    }
}
