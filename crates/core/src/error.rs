use std::fmt;
use std::path::PathBuf;

/// One problem found while validating definitions: where it is, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The definition file that holds the object (or `tessera.yaml`).
    pub file: PathBuf,
    /// The object, e.g. ``feature_view `user_stats` ``.
    pub object: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.file.display(),
            self.object,
            self.message
        )?;
        if !self.hint.is_empty() {
            write!(f, " (hint: {})", self.hint)?;
        }
        Ok(())
    }
}

/// Every validation problem found in one pass, so a user fixes them all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} problem{} in the feature repository:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Errors from loading and checking definitions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A YAML file does not parse or does not have the expected shape.
    #[error("{path}: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// What the parser said, with line and column.
        message: String,
    },
    /// The definitions parse but are not consistent.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// The repository directory has no `tessera.yaml`.
    #[error("{dir} is not a feature repository: it has no tessera.yaml (hint: run `tessera init {dir}` or pass --repo)")]
    NotARepo {
        /// The directory.
        dir: PathBuf,
    },
    /// A feature reference is not `view:feature`.
    #[error("`{text}` is not a feature reference: {reason} (hint: write `view:feature`, e.g. `user_stats:f0`)")]
    BadFeatureRef {
        /// The text given.
        text: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A name does not resolve.
    #[error("unknown {kind} `{name}`{hint}")]
    Unknown {
        /// `feature view`, `feature`, `feature service`, `purpose`, `consumer`.
        kind: &'static str,
        /// The name given.
        name: String,
        /// A suggestion, starting with a space, or empty.
        hint: String,
    },
    /// A duration or TTL does not parse.
    #[error("`{text}` is not a duration: {reason} (hint: write {forms})", forms = tessera_aggregate::DURATION_FORMS)]
    BadDuration {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An aggregation view's definitions cannot be turned into an aggregation spec.
    #[error("feature view `{view}`: {message}")]
    Aggregation {
        /// The view.
        view: String,
        /// What is wrong.
        message: String,
    },
    /// A feature type does not parse.
    #[error("`{text}` is not a feature type (hint: one of int64, int32, float64, float32, bool, string, bytes, timestamp, list<int64>, list<float64>, list<string>)")]
    BadFeatureType {
        /// The text given.
        text: String,
    },
    /// The privacy key in the environment is not hex of at least 32 bytes.
    #[error("{} must be hex of at least 32 bytes (64 hex digits); generate one with `openssl rand -hex 32`", crate::PRIVACY_KEY_ENV)]
    BadPrivacyKeyEnv,
    /// The privacy key file is not hex of at least 32 bytes.
    #[error("{}: not a privacy key (hex of at least 32 bytes); restore it from a backup, or delete it to start a new key (earlier audit records and tombstones will then no longer match their entities)", .0.display())]
    BadPrivacyKeyFile(PathBuf),
    /// No randomness for a new privacy key.
    #[error("no randomness for a new privacy key: {0}")]
    NoRandomness(String),
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Suggests the known names for an unknown one: `` (did you mean `b`? known: a, b, c)``.
pub(crate) fn known_hint<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = known.collect();
    names.sort_unstable();
    if names.is_empty() {
        return " (none are declared)".to_string();
    }
    let mut s = match crate::suggest::did_you_mean(name, names.iter().copied()) {
        Some(close) => format!(" (did you mean `{close}`? known: "),
        None => " (known: ".to_string(),
    };
    const MAX: usize = 12;
    let more = names.len().saturating_sub(MAX);
    names.truncate(MAX);
    s.push_str(&names.join(", "));
    if more > 0 {
        s.push_str(&format!(", and {more} more"));
    }
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// The rule of docs/ERRORS.md: a variant prints its inner error or exposes it as its
    /// source, never both, so a printer that walks the chain shows each cause once.
    #[test]
    fn io_errors_expose_their_cause_without_printing_it() {
        let e = Error::Io {
            path: PathBuf::from("/repo/tessera.yaml"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone missing"),
        };
        assert!(!e.to_string().contains("gone missing"), "{e}");
        let cause = e.source().map(|c| c.to_string());
        assert_eq!(cause.as_deref(), Some("gone missing"));
    }
}
