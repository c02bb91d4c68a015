//! The one error type of this crate. Every message says what to do.

use std::path::PathBuf;

/// Errors from the device runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The definitions could not be loaded or do not validate.
    #[error("cannot load the definitions")]
    Definitions(#[source] tessera_core::Error),
    /// A name the caller gave is not declared.
    #[error("unknown {kind} `{name}` (hint: {hint})")]
    Unknown {
        /// `device source`, `feature view` …
        kind: &'static str,
        /// The name given.
        name: String,
        /// The known names, or what to do.
        hint: String,
    },
    /// A recorded event does not match its source's declared schema; every problem is listed.
    #[error("event for device source `{source_name}` refused: {}", .problems.join("; "))]
    BadEvent {
        /// The device source.
        source_name: String,
        /// One message per problem.
        problems: Vec<String>,
    },
    /// Input that cannot be used (an entity key, a configuration value, a command line).
    #[error("{message} (hint: {hint})")]
    BadInput {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// A feature placed on the device was about to be asked of the cloud. This is the
    /// type-level guard of `device_only`: the wire request cannot be built with it.
    #[error("feature `{feature}` is placed `{placement}`; it is answered on the device and never asked of (or sent to) the cloud")]
    NotCloud {
        /// The feature.
        feature: String,
        /// Its placement.
        placement: tessera_core::Placement,
    },
    /// The local store failed.
    #[error("the device's local store failed")]
    Store(#[source] tessera_online::Error),
    /// The privacy key that names entities in audit records cannot be read or created.
    #[error("cannot read or create the device's privacy key (hint: set TESSERA_PRIVACY_KEY, or make the device directory writable)")]
    PrivacyKey(#[source] tessera_core::Error),
    /// The local store holds bytes that do not decode.
    #[error("the device's local store holds a damaged {what} for view `{view}` (hint: delete the device directory to start afresh)")]
    Corrupt {
        /// What did not decode.
        what: &'static str,
        /// The view.
        view: String,
        /// Why.
        #[source]
        source: tessera_aggregate::Error,
    },
    /// The device directory cannot be used.
    #[error("cannot use the device directory {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The cloud server could not be reached or answered with an error. Device reads never
    /// fail with this: they mark the cloud features stale or unavailable instead.
    #[error("the cloud server: {message}")]
    Remote {
        /// What happened.
        message: String,
    },
    /// The access layer refused or failed the read.
    #[error(transparent)]
    Access(#[from] tessera_access::Error),
    /// A local-DP report refused (beyond the device's cap) or malformed.
    #[error(transparent)]
    Ldp(#[from] tessera_ldp::Error),
    /// The audit log could not be opened.
    #[error("cannot open the device's audit log")]
    Audit(#[source] tessera_audit::Error),
    /// The device's consent log (what it learned from the cloud) failed.
    #[error("the device's record of consent (learned from the cloud) cannot be read or written (hint: make the device directory writable)")]
    Consent(#[source] tessera_consent::Error),
    /// The runtime's threads could not be started.
    #[error("cannot start the device runtime's threads")]
    Runtime(#[source] std::io::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
