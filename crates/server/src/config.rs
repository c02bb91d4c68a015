//! [`ServerConfig`]: limits and timeouts of the HTTP server.

use std::time::Duration;

/// Limits that keep one client from hurting the others. Every one answers with a 4xx that
/// says which limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// How long a client may take to send its request body (408 beyond).
    pub body_read_timeout: Duration,
    /// How long a client may take to send request headers, and how long an idle
    /// keep-alive connection is kept (the connection is closed beyond).
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            max_connections: 4096,
            drain_timeout: Duration::from_secs(30),
        }
    }
}
