//! `server:` in `tessera.yaml`: the feature server's limits and timeouts. Every key is
//! optional; a missing key keeps the server's default, and a `tessera serve` flag given on
//! the command line wins over the file. `docs/SERVER_LIMITS.md` describes each limit.
//!
//! ```yaml
//! server:
//!   max_connections: 4096       # connections served at once
//!   reserved_connections: 64    # beyond that, for GET /health and /metrics only
//!   header_read_timeout: 10s    # to send a request's headers
//!   idle_timeout: 60s           # a connection with no request in progress is closed
//!   body_read_timeout: 10s      # to send a request body
//!   drain_timeout: 30s          # graceful shutdown waits this long for requests
//!   max_body_bytes: 4194304     # largest request body (HTTP) or message (gRPC)
//!   max_keys_per_event: 256     # keys of one pushed event object
//!   max_keys_per_request: 256   # distinct keys (columns) of one push or read
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::{format_duration, parse_duration};

/// The `server:` section of `tessera.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Connections served at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Connections beyond `max_connections` that may still call `GET /health` and
    /// `GET /metrics` (every other route answers 503 on them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_connections: Option<usize>,
    /// How long a client may take to send a request's headers.
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub header_read_timeout: Option<Duration>,
    /// How long a connection may stay open with no request in progress (before its first
    /// request and between requests).
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<Duration>,
    /// How long a client may take to send a request body.
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub body_read_timeout: Option<Duration>,
    /// How long a graceful shutdown waits for in-flight requests.
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub drain_timeout: Option<Duration>,
    /// The largest request body (HTTP) or message (gRPC), in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
    /// The most keys one pushed event object may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_keys_per_event: Option<usize>,
    /// The most distinct keys (columns) one push or read may name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_keys_per_request: Option<usize>,
}

/// Whether no key is set (then `tessera.yaml` is written without a `server:` section).
pub(crate) fn is_default(s: &ServerSettings) -> bool {
    *s == ServerSettings::default()
}

mod opt_duration {
    use super::*;

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration (hint: a number and a unit, e.g. `500ms`, `10s`, `2m`)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_refuses_unknown_keys() {
        let s: ServerSettings = serde_yaml::from_str(
            "{ max_connections: 10, idle_timeout: 1500ms, header_read_timeout: 5s }",
        )
        .unwrap();
        assert_eq!(s.max_connections, Some(10));
        assert_eq!(s.idle_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(s.header_read_timeout, Some(Duration::from_secs(5)));
        assert_eq!(s.drain_timeout, None);
        let err = serde_yaml::from_str::<ServerSettings>("{ idle_timeout: soon }").unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
        assert!(serde_yaml::from_str::<ServerSettings>("{ max_conections: 1 }").is_err());
        let back: ServerSettings =
            serde_yaml::from_str(&serde_yaml::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
