//! The crate's one error type.

/// Everything that can go wrong when configuring a mechanism, decoding a report,
/// accumulating a sketch, persisting it or charging a device's epsilon cap.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mechanism parameter (ε, k, m) out of range.
    #[error("invalid local-DP parameter `{parameter}`: {reason}")]
    InvalidParameter {
        /// `epsilon`, `k`, `m`, `mechanism`, `cap` …
        parameter: &'static str,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// A report or a batch of reports that cannot be decoded.
    #[error("malformed local-DP report: {reason}")]
    MalformedReport {
        /// What is wrong, with the byte offset where it helps.
        reason: String,
    },
    /// A report or sketch made with other parameters than the sketch it is added to.
    #[error("parameters do not match: {reason}")]
    ParameterMismatch {
        /// Both sides' parameters.
        reason: String,
    },
    /// A persisted sketch file that is not a sketch (or is damaged).
    #[error("sketch file {path} is damaged: {reason}; restore it from a backup or delete it to start an empty sketch")]
    CorruptSketch {
        /// The file.
        path: String,
        /// What failed to check.
        reason: String,
    },
    /// A file system operation on a sketch file failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done (`read`, `write`, `rename` …).
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A device asked for a report beyond its epsilon cap.
    #[error("local-DP report `{report}` refused: it costs ε = {cost} but only ε = {remaining} of the cap ε = {cap} per {period} is left on this device; the next report is possible at {next_possible_unix_seconds} (Unix seconds)")]
    CapExceeded {
        /// The report's name.
        report: String,
        /// ε of one report.
        cost: f64,
        /// ε left in the current period.
        remaining: f64,
        /// The cap.
        cap: f64,
        /// The period, as written (`1d`).
        period: String,
        /// When enough budget will have been freed for one more report.
        next_possible_unix_seconds: i64,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Randomness {
        /// The cause.
        #[source]
        source: rand_core::OsError,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(parameter: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidParameter {
        parameter,
        reason: reason.into(),
    }
}

pub(crate) fn malformed(reason: impl Into<String>) -> Error {
    Error::MalformedReport {
        reason: reason.into(),
    }
}
