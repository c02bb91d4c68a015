//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong in a release or with a budget.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system gave no randomness.
    #[error("no randomness from the operating system: {0}")]
    NoRandomness(String),
    /// A noise parameter is out of the samplers' range, or not positive.
    #[error("bad noise parameter: {0}")]
    BadParameter(String),
    /// The release would spend more than the budget has left.
    #[error("release refused: it costs {cost}, but consumer `{consumer}` has {left} left for purpose `{purpose}` in this period (the budget resets at {resets_at}) (hint: wait for the reset, ask for a smaller cost, or raise the purpose's `dp.budget`)")]
    BudgetExceeded {
        /// The consumer.
        consumer: String,
        /// The purpose.
        purpose: String,
        /// What the release costs.
        cost: String,
        /// What is left, of what.
        left: String,
        /// When the period ends (RFC 3339).
        resets_at: String,
    },
    /// The budget journal cannot be read or written.
    #[error("privacy budget journal {path}: {what} failed")]
    Journal {
        /// What failed.
        what: &'static str,
        /// The journal.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line of the budget journal (not the last) does not parse.
    #[error("privacy budget journal {path}: line {line} is damaged ({reason}) (hint: the spent budget cannot be known; restore the file from a backup, or fix the line by hand)")]
    Damaged {
        /// The journal.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// The parser's complaint.
        reason: String,
    },
    /// The consumer, purpose or release request is not allowed or not valid.
    #[error("{message} (hint: {hint})")]
    Refused {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The release's query is not valid for the data.
    #[error("release `{release}`: {message} (hint: {hint})")]
    Query {
        /// The release.
        release: String,
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// Reading the source failed.
    #[error("release `{release}`: reading the data failed")]
    Scan {
        /// The release.
        release: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A definition problem.
    #[cfg(feature = "releases")]
    #[error(transparent)]
    Core(#[from] tessera_core::Error),
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
