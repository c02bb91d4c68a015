//! [`Limits`]: limits and timeouts of the HTTP and gRPC servers (`server:` in
//! `tessera.yaml`, see `docs/SERVER_LIMITS.md`).

use std::time::Duration;

use tessera_core::ServerSettings;

/// Limits that keep one client from hurting the others. Every one answers with a 4xx (or,
/// for connections, a 503) whose JSON body says which limit was hit and which setting
/// raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body accepted (413 beyond); for gRPC, the largest message.
    pub max_body_bytes: usize,
    /// How long a client may take to send its request body (408 beyond).
    pub body_read_timeout: Duration,
    /// How long a client may take to send request headers (the connection is closed
    /// beyond).
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request in progress: before its first
    /// request and between requests (it is closed beyond).
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections accepted beyond `max_connections` for `GET /health` and `GET /metrics`
    /// only (other routes answer 503 on them; each must send its request within a second
    /// and closes after one); beyond these, a new connection gets a 503 and is closed. The
    /// server never stops accepting.
    pub reserved_connections: usize,
    /// How long a graceful shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// The most keys one pushed event object may have (413 beyond).
    pub max_keys_per_event: usize,
    /// The most distinct keys (columns, join keys) one push or read may name (413 beyond).
    pub max_keys_per_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            reserved_connections: 256,
            drain_timeout: Duration::from_secs(30),
            max_keys_per_event: 256,
            max_keys_per_request: 256,
        }
    }
}

impl Limits {
    /// The defaults with every key `settings` sets applied.
    pub fn from_settings(settings: &ServerSettings) -> Self {
        let d = Self::default();
        Self {
            max_body_bytes: settings.max_body_bytes.unwrap_or(d.max_body_bytes),
            body_read_timeout: settings.body_read_timeout.unwrap_or(d.body_read_timeout),
            header_read_timeout: settings
                .header_read_timeout
                .unwrap_or(d.header_read_timeout),
            idle_timeout: settings.idle_timeout.unwrap_or(d.idle_timeout),
            max_connections: settings.max_connections.unwrap_or(d.max_connections),
            reserved_connections: settings
                .reserved_connections
                .unwrap_or(d.reserved_connections),
            drain_timeout: settings.drain_timeout.unwrap_or(d.drain_timeout),
            max_keys_per_event: settings.max_keys_per_event.unwrap_or(d.max_keys_per_event),
            max_keys_per_request: settings
                .max_keys_per_request
                .unwrap_or(d.max_keys_per_request),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_override_the_defaults_key_by_key() {
        let settings = ServerSettings {
            max_connections: Some(10),
            idle_timeout: Some(Duration::from_millis(1500)),
            max_keys_per_event: Some(4),
            ..ServerSettings::default()
        };
        let l = Limits::from_settings(&settings);
        assert_eq!(l.max_connections, 10);
        assert_eq!(l.idle_timeout, Duration::from_millis(1500));
        assert_eq!(l.max_keys_per_event, 4);
        let d = Limits::default();
        assert_eq!(l.max_keys_per_request, d.max_keys_per_request);
        assert_eq!(l.header_read_timeout, d.header_read_timeout);
        assert_eq!(Limits::from_settings(&ServerSettings::default()), d);
    }
}
