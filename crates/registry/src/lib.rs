//! The versioned registry of a feature repository's definitions.
//!
//! `tessera apply` registers the validated definitions as a new, immutable version;
//! `tessera plan` diffs the working copy against the latest version. The [`Registry`]
//! trait is the seam; [`FileRegistry`] keeps one JSON snapshot per version in a directory
//! of the repository (`registry:` in `tessera.yaml`, `.tessera/registry` by default).
//!
//! Versions are never rewritten: a new version is written to a temporary file and linked
//! into place with a call that fails if the version exists, so two concurrent applies
//! cannot both claim the same number and a crash never leaves a half-written version.
//!
//! ```
//! use tessera_registry::{FileRegistry, Registry, ApplyOutcome};
//! use tessera_core::Definitions;
//! let dir = tempfile::tempdir().unwrap();
//! let reg = FileRegistry::new(dir.path());
//! let defs = Definitions::from_yaml_str("entities: [{ name: user, join_keys: [user_id] }]", "f.yaml".as_ref()).unwrap();
//! let ApplyOutcome::Applied { version, .. } = reg.apply("demo", &defs).unwrap() else { panic!() };
//! assert_eq!(version, 1);
//! assert!(matches!(reg.apply("demo", &defs).unwrap(), ApplyOutcome::Unchanged { version: 1 }));
//! ```

mod error;
mod file_registry;

pub use error::{Error, Result};
pub use file_registry::FileRegistry;

use serde::{Deserialize, Serialize};
use tessera_core::{Definitions, DefinitionsDiff};

/// One registered version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryVersion {
    /// 1, 2, 3 …
    pub version: u64,
    /// When it was applied (RFC 3339, UTC).
    pub applied_at: String,
    /// Who applied it (the OS user).
    pub applied_by: String,
    /// The project name from `tessera.yaml`.
    pub project: String,
    /// What changed from the previous version.
    pub summary: String,
    /// The changes from the previous version.
    pub diff: DefinitionsDiff,
    /// The definitions, merged and sorted.
    pub definitions: Definitions,
}

/// The result of an apply.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyOutcome {
    /// A new version was registered.
    Applied {
        /// Its number.
        version: u64,
        /// The changes it made.
        diff: DefinitionsDiff,
    },
    /// The definitions equal the latest version; nothing was written.
    Unchanged {
        /// The latest version.
        version: u64,
    },
}

/// Where versions of the definitions are kept.
pub trait Registry: std::fmt::Debug + Send + Sync {
    /// The latest version, or `None` before the first apply.
    fn latest(&self) -> Result<Option<RegistryVersion>>;
    /// One version.
    fn get(&self, version: u64) -> Result<RegistryVersion>;
    /// Every version, oldest first.
    fn history(&self) -> Result<Vec<RegistryVersion>>;
    /// Registers `definitions` as a new version unless they equal the latest.
    fn apply(&self, project: &str, definitions: &Definitions) -> Result<ApplyOutcome>;

    /// The diff of `definitions` against the latest version (everything is added when
    /// nothing is registered yet).
    fn plan(&self, definitions: &Definitions) -> Result<DefinitionsDiff> {
        let old = self.latest()?.map(|v| v.definitions).unwrap_or_default();
        Ok(DefinitionsDiff::between(
            &old,
            &definitions.clone().sorted(),
        ))
    }
}
