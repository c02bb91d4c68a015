//! [`ConsentSourceConfig`]: `consent:` in `tessera.yaml` — a source of consent events
//! (a batch source's Parquet/CSV files, or a stream source's offline log) that
//! `tessera consent sync` (and `tessera serve`, every `sync_every`) reads into the consent
//! log. [`ConsentSourceConfig::problems`] checks it against the catalog at `plan`.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::error::ValidationError;

/// `consent: { source, entity, purpose_field, state_field, timestamp_field, sync_every }`.
///
/// ```
/// let cfg: tessera_core::RepoConfig = serde_yaml::from_str(
///     "project: p\nconsent: { source: consent_events, entity: user_id, timestamp_field: at }",
/// ).unwrap();
/// let c = cfg.consent.unwrap();
/// assert_eq!((c.purpose_field.as_str(), c.state_field.as_str()), ("purpose", "state"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSourceConfig {
    /// The source (of the definitions) whose rows are consent events.
    pub source: String,
    /// The join key the events name (`user_id`): consent is recorded for `user_id=<value>`.
    pub entity: String,
    /// The column holding the join key's value; default: the column named like the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_field: Option<String>,
    /// The column naming the purpose; default `purpose`.
    #[serde(default = "default_purpose_field")]
    pub purpose_field: String,
    /// The column holding `granted` or `withdrawn`; default `state`.
    #[serde(default = "default_state_field")]
    pub state_field: String,
    /// The column of when each change takes effect; default: the source's
    /// `timestamp_field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_field: Option<String>,
    /// How often `tessera serve` reads the source (a duration, e.g. `1m`); default: only
    /// `tessera consent sync` reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_every: Option<String>,
}

fn default_purpose_field() -> String {
    "purpose".into()
}

fn default_state_field() -> String {
    "state".into()
}

impl ConsentSourceConfig {
    /// The column of the join key's value.
    pub fn entity_column(&self) -> &str {
        self.entity_field.as_deref().unwrap_or(&self.entity)
    }

    /// The column of the time of each change, given the catalog's source.
    pub fn timestamp_column<'a>(&'a self, catalog: &'a Catalog) -> Option<&'a str> {
        match &self.timestamp_field {
            Some(t) => Some(t),
            None => catalog
                .sources()
                .get(&self.source)
                .map(|s| s.timestamp_field.as_str()),
        }
    }

    /// `sync_every`, parsed (`None` when not set).
    pub fn sync_every(&self) -> crate::Result<Option<Duration>> {
        self.sync_every
            .as_deref()
            .map(crate::duration::parse_duration)
            .transpose()
    }

    /// What is wrong with it given `catalog` (`file`: the `tessera.yaml` it is in): the
    /// source exists, `entity` is a join key, some purpose requires consent, `sync_every`
    /// is a duration. The columns are checked against the data by the caller.
    pub fn problems(&self, catalog: &Catalog, file: &Path) -> Vec<ValidationError> {
        let mut out = Vec::new();
        let mut problem = |message: String, hint: String| {
            out.push(ValidationError {
                file: file.to_path_buf(),
                object: format!("consent source `{}`", self.source),
                message,
                hint,
            })
        };
        if !catalog.sources().contains_key(&self.source) {
            let names: Vec<&str> = catalog.sources().keys().map(String::as_str).collect();
            problem(
                format!("no source is named `{}`", self.source),
                match crate::did_you_mean(&self.source, names.iter().copied()) {
                    Some(g) => format!("did you mean `{g}`? (sources: {})", names.join(", ")),
                    None => format!(
                        "declare the source of consent events under `sources:` (sources: {})",
                        names.join(", ")
                    ),
                },
            );
        }
        let keys: Vec<&str> = catalog
            .entities()
            .values()
            .flat_map(|e| e.join_keys.iter().map(String::as_str))
            .collect();
        if !keys.contains(&self.entity.as_str()) {
            problem(
                format!("`entity: {}` is not a join key", self.entity),
                format!(
                    "name the join key the events are about (join keys: {})",
                    keys.join(", ")
                ),
            );
        }
        if !catalog.purposes().values().any(|p| p.requires_consent) {
            problem(
                "no purpose declares `requires_consent: true`, so consent events have no effect"
                    .into(),
                "add `requires_consent: true` to the purposes that need consent".into(),
            );
        }
        for (what, column) in [
            ("entity_field", Some(self.entity_column())),
            ("purpose_field", Some(self.purpose_field.as_str())),
            ("state_field", Some(self.state_field.as_str())),
            ("timestamp_field", self.timestamp_field.as_deref()),
        ] {
            if column.is_some_and(|c| c.trim().is_empty()) {
                problem(
                    format!("`{what}` is empty"),
                    "name a column of the source".into(),
                );
            }
        }
        if let Err(e) = self.sync_every() {
            problem(
                format!("`sync_every`: {e}"),
                "a duration such as `30s` or `5m`, or leave it out".into(),
            );
        }
        out
    }
}
