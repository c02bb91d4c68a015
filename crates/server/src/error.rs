//! The one error type of this crate: what can stop the server from starting or running.
//! (Errors answered to clients are [`crate::ApiError`]s.)

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No consumer has a token, so no request could be authenticated.
    #[error("no consumer has a bearer token: {consumers} (hint: set the environment variable each consumer's `token_env` names, or start with `--auth none` for local development)")]
    NoTokens {
        /// The consumers and their variables.
        consumers: String,
    },
    /// A token is too short to be safe.
    #[error("the token of consumer `{consumer}` is shorter than {min} characters (hint: use a random token, e.g. `openssl rand -hex 32`)")]
    WeakToken {
        /// The consumer.
        consumer: String,
        /// The minimum length.
        min: usize,
    },
    /// Two consumers have the same token.
    #[error(
        "consumers `{first}` and `{second}` have the same token (hint: give each consumer its own)"
    )]
    SharedToken {
        /// One consumer.
        first: String,
        /// The other.
        second: String,
    },
    /// The listening address cannot be bound.
    #[error(
        "cannot listen on {addr} (hint: pick another port with --addr, or stop what is using it)"
    )]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("the gRPC server failed")]
    Grpc(#[source] tonic::transport::Error),
    /// The audit log could not be flushed at shutdown.
    #[error("flushing the audit log at shutdown failed")]
    AuditFlush(#[source] tessera_audit::Error),
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
