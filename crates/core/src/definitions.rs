use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::aggregation_def::{AggregationDef, StreamDef};
use crate::classification::{Classification, Placement};
use crate::device_def::DeviceDef;
use crate::duration::Ttl;
use crate::error::{Error, Result};
use crate::feature_ref::FeatureRef;
use crate::feature_type::FeatureType;

/// The objects one definition file declares. Every list is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definitions {
    /// What features describe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<EntityDef>,
    /// Where raw data lives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceDef>,
    /// Named groups of features over one source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_views: Vec<FeatureViewDef>,
    /// Why data is read, and which classifications each reason allows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purposes: Vec<PurposeDef>,
    /// Authenticated callers and the purposes they hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<ConsumerDef>,
    /// The versioned feature sets models consume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_services: Vec<FeatureServiceDef>,
    /// Features computed at request time from other features and request-context fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_demand_views: Vec<crate::on_demand::OnDemandViewDef>,
    /// Frequencies devices report under local differential privacy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ldp_reports: Vec<crate::ldp_report_def::LdpReportDef>,
    /// Releasable noisy aggregates (`docs/DIFFERENTIAL_PRIVACY.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<crate::dp_def::ReleaseDef>,
}

impl Definitions {
    /// Parses one definition file's text; `file` is used in error messages.
    pub fn from_yaml_str(text: &str, file: &Path) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(text).map_err(|e| Error::Yaml {
            path: file.to_path_buf(),
            message: yaml_message(&e, text),
        })
    }

    /// Reads and parses one definition file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml_str(&text, path)
    }

    /// Sorts every list by name, so snapshots and diffs are stable.
    pub fn sorted(mut self) -> Self {
        self.entities.sort_by(|a, b| a.name.cmp(&b.name));
        self.sources.sort_by(|a, b| a.name.cmp(&b.name));
        self.feature_views.sort_by(|a, b| a.name.cmp(&b.name));
        self.purposes.sort_by(|a, b| a.name.cmp(&b.name));
        self.consumers.sort_by(|a, b| a.name.cmp(&b.name));
        self.feature_services.sort_by(|a, b| a.name.cmp(&b.name));
        self.on_demand_views.sort_by(|a, b| a.name.cmp(&b.name));
        self.ldp_reports.sort_by(|a, b| a.name.cmp(&b.name));
        self.releases.sort_by(|a, b| a.name.cmp(&b.name));
        self
    }
}

/// Turns a serde_yaml error into a one-line message with its location and a hint; for the
/// parser's errors that indentation causes, the hint names that likely cause.
pub(crate) fn yaml_message(e: &serde_yaml::Error, text: &str) -> String {
    let mut msg = e.to_string();
    let line = e.location().map(|l| l.line());
    let has_tab = line
        .and_then(|n| text.lines().nth(n.saturating_sub(1)))
        .is_some_and(|l| l.contains('\t'));
    let indentation = [
        "mapping values are not allowed",
        "did not find expected key",
        "did not find expected '-' indicator",
        "block sequence entries are not allowed",
        "did not find expected node content",
        "could not find expected ':'",
    ];
    if msg.contains("unknown field") {
        msg.push_str(" (hint: check the spelling and the indentation: a key indented too far belongs to the object above it; see docs/DEFINITIONS.md#repository-format-by-example for the fields each object takes)");
    } else if has_tab || msg.contains("cannot start any token") && text.contains('\t') {
        msg.push_str(" (hint: the line is indented with a tab; YAML indents with spaces only)");
    } else if indentation.iter().any(|p| msg.contains(p)) {
        let at = line.map_or(String::new(), |n| format!(" at line {n}"));
        msg.push_str(&format!(" (hint: this is most likely indentation{at} or just above it: keys of one object must start in the same column, list items (`- `) of one list too; a missing space after `:` or an unquoted `: ` inside a value causes it as well)"));
    }
    msg
}

/// What features describe: a user, an item, a device. Has join keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityDef {
    /// Unique name.
    pub name: String,
    /// The columns that identify one entity (usually one).
    pub join_keys: Vec<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The kind of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    /// Files (Parquet or CSV): one file or a directory of files.
    Batch,
    /// Events pushed over HTTP or consumed from NATS JetStream (see [`StreamDef`]); its
    /// `path` is the offline log the ingested events are appended to.
    Stream,
    /// Signals that exist only on the device (see [`crate::DeviceDef`]): recorded and
    /// aggregated by the device runtime; no `path`.
    Device,
}

/// The file format of a batch source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
}

/// Where raw data lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDef {
    /// Unique name.
    pub name: String,
    /// `batch` (files), `stream` or `device`.
    #[serde(rename = "type")]
    pub source_type: SourceType,
    /// A file or directory, relative to the repository (or absolute). Empty (left out) for
    /// `type: device` sources, which have no files.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// `parquet` or `csv`; inferred from the path's extension when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<SourceFormat>,
    /// The column holding each row's event time.
    pub timestamp_field: String,
    /// Optional: the column that breaks ties between rows with equal event times
    /// (the greatest wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_timestamp_field: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who to ask about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The live feed of a `type: stream` source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamDef>,
    /// The signal schema of a `type: device` source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceDef>,
    /// How long its data is kept (`90d`): older rows are deleted from every tier Tessera
    /// manages and never read ([`crate::retention`]). Kept forever when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<String>,
}

impl SourceDef {
    /// The file format: declared, or inferred from the extension.
    pub fn resolved_format(&self) -> Option<SourceFormat> {
        if self.source_type == SourceType::Stream {
            return Some(SourceFormat::Parquet); // the offline log
        }
        if let Some(f) = self.format {
            return Some(f);
        }
        let lower = self.path.to_ascii_lowercase();
        let trimmed = lower.trim_end_matches('/');
        if trimmed.ends_with(".parquet") || trimmed.ends_with(".pq") {
            Some(SourceFormat::Parquet)
        } else if trimmed.ends_with(".csv") || trimmed.ends_with(".tsv") {
            Some(SourceFormat::Csv)
        } else {
            None
        }
    }

    /// The source path resolved against the repository root.
    pub fn resolved_path(&self, repo_root: &Path) -> PathBuf {
        let p = Path::new(&self.path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            repo_root.join(p)
        }
    }
}

/// One feature of a view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDef {
    /// Unique within the view.
    pub name: String,
    /// Declared type; the source column must hold it without loss.
    #[serde(rename = "type")]
    pub dtype: FeatureType,
    /// How sensitive the values are.
    pub classification: Classification,
    /// Where values may live (`cloud` by default).
    #[serde(default, skip_serializing_if = "is_default_placement")]
    pub placement: Placement,
    /// The source column, when it is named differently from the feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The default minimised form of every read of this feature (a feature service's or a
    /// purpose's entry wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimise: Option<crate::minimise::MinimiseSpec>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Set on the features a view's `aggregations:` derive (never in YAML): which
    /// aggregation (index into `aggregations`) and which of its windows.
    #[serde(skip)]
    pub derived: Option<(usize, usize)>,
}

fn is_default_placement(p: &Placement) -> bool {
    *p == Placement::Cloud
}

impl FeatureDef {
    /// The source column this feature reads.
    pub fn source_column(&self) -> &str {
        self.column.as_deref().unwrap_or(&self.name)
    }
}

/// A named group of features over one source and one or more entities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureViewDef {
    /// Unique name.
    pub name: String,
    /// The entities whose join keys identify a row.
    pub entities: Vec<String>,
    /// The source's name.
    pub source: String,
    /// Look-back for point-in-time joins and freshness online; unlimited when left out.
    #[serde(default)]
    pub ttl: Ttl,
    /// Who to ask about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the view is materialised into the online store (default true).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub online: bool,
    /// The features (projected columns). A view has `features` or `aggregations`.
    #[serde(default)]
    pub features: Vec<FeatureDef>,
    /// Window aggregations; each (aggregation, window) is one feature, added to
    /// `features` when the catalog is built.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aggregations: Vec<AggregationDef>,
    /// The default classification of the aggregation features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// Who serves it online: the online store (the default), or `content` (content
    /// metadata: `tessera serve` loads the latest row per key from the source into memory).
    #[serde(default, skip_serializing_if = "ViewProvider::is_online")]
    pub provider: ViewProvider,
    /// How long the view's values are kept, at most its source's retention
    /// ([`crate::retention`]). The source's when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<String>,
}

/// Who serves a feature view online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewProvider {
    /// The online store (materialised, streamed or pushed).
    #[default]
    Online,
    /// An in-memory table of the source's latest row per key, loaded by `tessera serve`.
    Content,
}

impl ViewProvider {
    fn is_online(&self) -> bool {
        *self == ViewProvider::Online
    }
}

fn default_true() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl FeatureViewDef {
    /// The feature with this name.
    pub fn feature(&self, name: &str) -> Option<&FeatureDef> {
        self.features.iter().find(|f| f.name == name)
    }
}

/// Why data is read, and which classifications that reason may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeDef {
    /// Unique name, e.g. `ranking`.
    pub name: String,
    /// The classifications this purpose may read.
    pub allows: Vec<Classification>,
    /// `view:feature` → its minimised form for this purpose; the only way to read a
    /// classification `allows` does not cover (`docs/MINIMISATION.md`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub minimise: BTreeMap<String, crate::minimise::MinimiseSpec>,
    /// Reads for this purpose need the entity's consent for it, in force at the read time
    /// (online) and at both the spine time and the generation time (training sets); see
    /// `docs/CONSENT.md`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_consent: bool,
    /// Its differential-privacy budget: consumers holding it may run noisy aggregate
    /// releases (`tessera release`) up to it (`docs/DIFFERENTIAL_PRIVACY.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<crate::dp_def::PurposeDpDef>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An authenticated caller and the purposes it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerDef {
    /// Unique name.
    pub name: String,
    /// The environment variable that holds this consumer's bearer token.
    pub token_env: String,
    /// The purposes it may read for.
    pub purposes: Vec<String>,
    /// The purpose applied when a request names none (for clients that cannot send one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_purpose: Option<String>,
    /// The feature views and sources it may write to online (push, write-to-online-store);
    /// a source covers every view over it. Empty (the default): it may write nothing.
    /// Callers that are not consumers (`--auth none`, local commands) are not limited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<String>,
    /// It may record consent changes (`POST /v1/consent`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub consent: bool,
    /// May erase entities through the server (`POST /v1/erase`). Default: no.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erase: bool,
    /// The `ldp_reports:` definitions it may send reports of (`POST /v1/ldp/reports`).
    /// Empty (the default): it may send none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ldp_reports: Vec<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The versioned set of features one model consumes, with its purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureServiceDef {
    /// Unique name, e.g. `ranker_v1`.
    pub name: String,
    /// The purpose the model reads for.
    pub purpose: String,
    /// `view:feature` references; `view:*` takes every feature of the view.
    pub features: Vec<FeatureRef>,
    /// `view:feature` → its default minimised form for reads through this service (the
    /// purpose's own entry wins).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub minimise: BTreeMap<String, crate::minimise::MinimiseSpec>,
    /// Who to ask about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indentation_errors_name_the_likely_cause() {
        let bad = "entities:\n  - name: user\n     join_keys: [user_id]\n";
        let e = Definitions::from_yaml_str(bad, Path::new("f.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("most likely indentation at line 3"), "{e}");
        let tab = "entities:\n\t- { name: user, join_keys: [user_id] }\n";
        let e = Definitions::from_yaml_str(tab, Path::new("f.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("indented with a tab"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused_with_location() {
        let err = Definitions::from_yaml_str(
            "entities:\n  - { name: user, join_key: [user_id] }\n",
            Path::new("f.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("f.yaml"), "{err}");
        assert!(err.contains("join_key"), "{err}");
    }

    #[test]
    fn format_is_inferred() {
        let s = SourceDef {
            name: "s".into(),
            source_type: SourceType::Batch,
            path: "data/x.CSV".into(),
            format: None,
            timestamp_field: "ts".into(),
            created_timestamp_field: None,
            description: None,
            owner: None,
            stream: None,
            device: None,
            retention: None,
        };
        assert_eq!(s.resolved_format(), Some(SourceFormat::Csv));
    }

    const WRITERS: &str = r#"
entities: [{ name: user, join_keys: [user_id] }]
sources:
  - { name: s, type: batch, path: s.parquet, timestamp_field: ts }
feature_views:
  - { name: v, entities: [user], source: s, features: [{ name: f, type: int64, classification: internal }] }
purposes: [{ name: p, allows: [internal] }]
consumers:
  - { name: reader, token_env: R, purposes: [p] }
  - { name: writer, token_env: W, purposes: [p], writes: [v, s] }
"#;

    #[test]
    fn writes_name_known_views_or_sources() {
        let defs = Definitions::from_yaml_str(WRITERS, Path::new("f.yaml")).unwrap();
        assert!(defs.consumers[0].writes.is_empty(), "optional");
        assert_eq!(defs.consumers[1].writes, ["v", "s"]);
        let yaml = serde_yaml::to_string(&defs.consumers[0]).unwrap();
        assert!(!yaml.contains("writes"), "empty is not written: {yaml}");
        crate::Catalog::build(vec![defs]).unwrap();

        let bad = WRITERS.replace("writes: [v, s]", "writes: [v, nope]");
        let defs = Definitions::from_yaml_str(&bad, Path::new("f.yaml")).unwrap();
        let err = crate::Catalog::build(vec![defs]).unwrap_err().to_string();
        assert!(
            err.contains("consumer `writer`: `writes:` names `nope`, which is neither a feature view nor a source"),
            "{err}"
        );
        assert!(
            err.contains("hint:") && err.contains("known: s, v"),
            "{err}"
        );
    }
}
