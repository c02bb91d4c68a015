//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong recording, loading or checking consent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The purpose is not defined.
    #[error("unknown purpose `{purpose}`{guess} (hint: the purposes are: {known})")]
    UnknownPurpose {
        /// As given.
        purpose: String,
        /// ` (did you mean `x`?)` or empty.
        guess: String,
        /// The defined purposes.
        known: String,
    },
    /// The purpose does not declare `requires_consent: true`, so consent for it means nothing.
    #[error("purpose `{purpose}` does not require consent (hint: add `requires_consent: true` to the purpose, or record consent for one that requires it: {known})")]
    NotConsentPurpose {
        /// As given.
        purpose: String,
        /// The purposes that require consent.
        known: String,
    },
    /// A state other than `granted` / `withdrawn`.
    #[error("consent state `{0}` is not `granted` or `withdrawn` (hint: write one of them)")]
    BadState(String),
    /// A time that does not parse.
    #[error("`{0}` is not a time (hint: write RFC 3339, e.g. `2026-12-01T00:00:00Z`)")]
    BadTime(String),
    /// An entity key that is not `name=value` or names no join key.
    #[error("bad entity `{entity}`: {reason}")]
    BadEntity {
        /// As given.
        entity: String,
        /// What is wrong and what to write.
        reason: String,
    },
    /// A consent file to import has a bad line.
    #[error("{path}:{line}: {reason}")]
    BadImport {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The consent log (or an import file) cannot be read or written.
    #[error("consent log {path}: {what} failed")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The repository's privacy key cannot be loaded.
    #[error("the privacy key cannot be loaded")]
    PrivacyKey(#[source] tessera_core::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
