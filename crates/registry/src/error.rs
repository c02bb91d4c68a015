use std::path::PathBuf;

/// Errors from the registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A registry file could not be read or written.
    #[error("registry {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A registry file is not a valid version snapshot.
    #[error("registry {path} is corrupt (hint: restore it from version control or remove it and re-apply)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The version does not exist.
    #[error("registry has no version {version} (hint: `tessera registry history` lists the versions; latest is {latest})")]
    NoSuchVersion {
        /// The version asked for.
        version: u64,
        /// The latest version (0 if none).
        latest: u64,
    },
    /// Another apply registered the same version number first.
    #[error("version {version} was registered concurrently by another apply (hint: run `tessera plan` and apply again)")]
    Conflict {
        /// The contested version.
        version: u64,
    },
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
