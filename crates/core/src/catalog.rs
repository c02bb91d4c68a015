use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::definitions::{
    ConsumerDef, Definitions, EntityDef, FeatureDef, FeatureServiceDef, FeatureViewDef, PurposeDef,
    SourceDef,
};
use crate::dp_def::ReleaseDef;
use crate::error::{known_hint, Error, Result, ValidationError, ValidationErrors};
use crate::feature_ref::FeatureRef;
use crate::ldp_report_def::LdpReportDef;
use crate::on_demand::{OnDemandView, OnDemandViewDef};

/// Validated definitions, indexed by name. Every other crate works from this.
///
/// A `Catalog` only exists validated: [`Catalog::build`] and [`Catalog::build_from_files`]
/// are its constructors, and they refuse definitions with any problem. Its maps are read
/// through accessors; to change a catalog, change the definitions and build it again.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub(crate) entities: BTreeMap<String, EntityDef>,
    pub(crate) sources: BTreeMap<String, SourceDef>,
    pub(crate) feature_views: BTreeMap<String, FeatureViewDef>,
    pub(crate) purposes: BTreeMap<String, PurposeDef>,
    pub(crate) consumers: BTreeMap<String, ConsumerDef>,
    pub(crate) feature_services: BTreeMap<String, FeatureServiceDef>,
    pub(crate) on_demand_views: BTreeMap<String, OnDemandView>,
    pub(crate) ldp_reports: BTreeMap<String, LdpReportDef>,
    pub(crate) releases: BTreeMap<String, ReleaseDef>,
    /// The file each object was declared in, keyed by (kind, name).
    origins: BTreeMap<(&'static str, String), PathBuf>,
}

/// One feature resolved against the catalog.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedFeature<'a> {
    /// The view that holds it.
    pub view: &'a FeatureViewDef,
    /// The feature.
    pub feature: &'a FeatureDef,
}

pub(crate) const ENTITY: &str = "entity";
pub(crate) const SOURCE: &str = "source";
pub(crate) const VIEW: &str = "feature_view";
pub(crate) const PURPOSE: &str = "purpose";
pub(crate) const CONSUMER: &str = "consumer";
pub(crate) const ON_DEMAND: &str = "on_demand_view";
pub(crate) const SERVICE: &str = "feature_service";
pub(crate) const LDP_REPORT: &str = "ldp_report";
pub(crate) const RELEASE: &str = "release";

impl Catalog {
    /// Validates definitions that carry no file information (e.g. a registry snapshot).
    pub fn build(defs: Vec<Definitions>) -> Result<Self> {
        Self::build_from_files(
            defs.into_iter()
                .map(|d| (PathBuf::from("<definitions>"), d))
                .collect(),
        )
        .map_err(Error::Invalid)
    }

    /// Validates definitions read from files, reporting every problem with its file.
    pub fn build_from_files(
        files: Vec<(PathBuf, Definitions)>,
    ) -> std::result::Result<Self, ValidationErrors> {
        let mut c = Catalog {
            entities: BTreeMap::new(),
            sources: BTreeMap::new(),
            feature_views: BTreeMap::new(),
            purposes: BTreeMap::new(),
            consumers: BTreeMap::new(),
            feature_services: BTreeMap::new(),
            on_demand_views: BTreeMap::new(),
            ldp_reports: BTreeMap::new(),
            releases: BTreeMap::new(),
            origins: BTreeMap::new(),
        };
        let mut errs = Vec::new();
        let mut on_demand: BTreeMap<String, OnDemandViewDef> = BTreeMap::new();
        for (file, d) in files {
            let mut add = Inserter {
                origins: &mut c.origins,
                file: &file,
                errs: &mut errs,
            };
            add.all(&mut on_demand, ON_DEMAND, d.on_demand_views, |e| &e.name);
            add.all(&mut c.entities, ENTITY, d.entities, |e| &e.name);
            add.all(&mut c.sources, SOURCE, d.sources, |e| &e.name);
            add.all(&mut c.feature_views, VIEW, d.feature_views, |e| &e.name);
            add.all(&mut c.purposes, PURPOSE, d.purposes, |e| &e.name);
            add.all(&mut c.consumers, CONSUMER, d.consumers, |e| &e.name);
            add.all(&mut c.feature_services, SERVICE, d.feature_services, |e| {
                &e.name
            });
            add.all(&mut c.ldp_reports, LDP_REPORT, d.ldp_reports, |e| &e.name);
            add.all(&mut c.releases, RELEASE, d.releases, |e| &e.name);
        }
        crate::validate::derive_aggregation_features(&mut c, &mut errs);
        crate::validate::compile_on_demand(&mut c, on_demand, &mut errs);
        crate::validate::validate(&c, &mut errs);
        if errs.is_empty() {
            Ok(c)
        } else {
            Err(ValidationErrors(errs))
        }
    }

    /// Entities by name.
    pub fn entities(&self) -> &BTreeMap<String, EntityDef> {
        &self.entities
    }

    /// Sources by name.
    pub fn sources(&self) -> &BTreeMap<String, SourceDef> {
        &self.sources
    }

    /// Feature views by name (aggregation views with their derived features).
    pub fn feature_views(&self) -> &BTreeMap<String, FeatureViewDef> {
        &self.feature_views
    }

    /// Purposes by name.
    pub fn purposes(&self) -> &BTreeMap<String, PurposeDef> {
        &self.purposes
    }

    /// Consumers by name.
    pub fn consumers(&self) -> &BTreeMap<String, ConsumerDef> {
        &self.consumers
    }

    /// Feature services by name.
    pub fn feature_services(&self) -> &BTreeMap<String, FeatureServiceDef> {
        &self.feature_services
    }

    /// On-demand feature views by name, checked and compiled.
    pub fn on_demand_views(&self) -> &BTreeMap<String, OnDemandView> {
        &self.on_demand_views
    }

    /// Releasable queries by name.
    pub fn releases(&self) -> &BTreeMap<String, ReleaseDef> {
        &self.releases
    }

    /// A release by name.
    pub fn release(&self, name: &str) -> Result<&ReleaseDef> {
        self.releases.get(name).ok_or_else(|| Error::Unknown {
            kind: "release",
            name: name.to_string(),
            hint: known_hint(name, self.releases.keys().map(String::as_str)),
        })
    }

    /// The file an object was declared in.
    pub fn origin(&self, kind: &'static str, name: &str) -> &Path {
        self.origins
            .get(&(kind, name.to_string()))
            .map(PathBuf::as_path)
            .unwrap_or_else(|| Path::new("<definitions>"))
    }

    /// The file a feature view was declared in.
    pub fn view_origin(&self, view: &str) -> &Path {
        self.origin(VIEW, view)
    }

    /// The file a source was declared in.
    pub fn source_origin(&self, source: &str) -> &Path {
        self.origin(SOURCE, source)
    }

    /// All definitions, merged and sorted by name: what the registry stores.
    pub fn definitions(&self) -> Definitions {
        Definitions {
            entities: self.entities.values().cloned().collect(),
            sources: self.sources.values().cloned().collect(),
            feature_views: self
                .feature_views
                .values()
                .map(|v| {
                    let mut v = v.clone();
                    if !v.aggregations.is_empty() {
                        v.features.retain(|f| f.derived.is_none());
                    }
                    v
                })
                .collect(),
            purposes: self.purposes.values().cloned().collect(),
            consumers: self.consumers.values().cloned().collect(),
            feature_services: self.feature_services.values().cloned().collect(),
            on_demand_views: self
                .on_demand_views
                .values()
                .map(|v| v.def.clone())
                .collect(),
            ldp_reports: self.ldp_reports.values().cloned().collect(),
            releases: self.releases.values().cloned().collect(),
        }
        .sorted()
    }

    /// Local-DP report definitions by name.
    pub fn ldp_reports(&self) -> &BTreeMap<String, LdpReportDef> {
        &self.ldp_reports
    }

    /// A local-DP report definition by name, or an error naming the declared ones.
    pub fn ldp_report(&self, name: &str) -> Result<&LdpReportDef> {
        self.ldp_reports.get(name).ok_or_else(|| Error::Unknown {
            kind: "ldp_report",
            name: name.to_string(),
            hint: known_hint(name, self.ldp_reports.keys().map(String::as_str)),
        })
    }

    /// An on-demand view by name.
    pub fn on_demand(&self, name: &str) -> Option<&OnDemandView> {
        self.on_demand_views.get(name)
    }

    /// A feature view by name.
    ///
    /// On-demand views resolve here too, as their synthesised view (no source), so their
    /// features resolve, are typed and are gated like any other.
    pub fn view(&self, name: &str) -> Result<&FeatureViewDef> {
        self.feature_views
            .get(name)
            .or_else(|| self.on_demand_views.get(name).map(|v| &v.view))
            .ok_or_else(|| Error::Unknown {
                kind: "feature view",
                name: name.to_string(),
                hint: known_hint(
                    name,
                    self.feature_views
                        .keys()
                        .chain(self.on_demand_views.keys())
                        .map(String::as_str),
                ),
            })
    }

    /// The source of a view.
    pub fn source_of(&self, view: &FeatureViewDef) -> Result<&SourceDef> {
        self.sources
            .get(&view.source)
            .ok_or_else(|| Error::Unknown {
                kind: "source",
                name: view.source.clone(),
                hint: known_hint(&view.source, self.sources.keys().map(String::as_str)),
            })
    }

    /// The join keys of a view, in entity order.
    pub fn join_keys(&self, view: &FeatureViewDef) -> Vec<String> {
        view.entities
            .iter()
            .filter_map(|e| self.entities.get(e))
            .flat_map(|e| e.join_keys.iter().cloned())
            .collect()
    }

    /// Resolves one feature reference.
    pub fn feature(&self, r: &FeatureRef) -> Result<ResolvedFeature<'_>> {
        let view = self.view(&r.view)?;
        let feature = view.feature(&r.feature).ok_or_else(|| Error::Unknown {
            kind: "feature",
            name: r.to_string(),
            hint: known_hint(&r.feature, view.features.iter().map(|f| f.name.as_str())),
        })?;
        Ok(ResolvedFeature { view, feature })
    }

    /// Expands `view:*` and checks that every reference resolves. Keeps request order and
    /// drops exact duplicates.
    pub fn resolve_refs(&self, refs: &[FeatureRef]) -> Result<Vec<FeatureRef>> {
        let mut out: Vec<FeatureRef> = Vec::with_capacity(refs.len());
        let mut seen = BTreeSet::new();
        for r in refs {
            if r.feature == "*" {
                let view = self.view(&r.view)?;
                for f in &view.features {
                    let fr = FeatureRef::new(&view.name, &f.name);
                    if seen.insert(fr.clone()) {
                        out.push(fr);
                    }
                }
            } else {
                self.feature(r)?;
                if seen.insert(r.clone()) {
                    out.push(r.clone());
                }
            }
        }
        Ok(out)
    }

    /// A feature service by name.
    pub fn service(&self, name: &str) -> Result<&FeatureServiceDef> {
        self.feature_services
            .get(name)
            .ok_or_else(|| Error::Unknown {
                kind: "feature service",
                name: name.to_string(),
                hint: known_hint(name, self.feature_services.keys().map(String::as_str)),
            })
    }

    /// A purpose by name.
    pub fn purpose(&self, name: &str) -> Result<&PurposeDef> {
        self.purposes.get(name).ok_or_else(|| Error::Unknown {
            kind: "purpose",
            name: name.to_string(),
            hint: known_hint(name, self.purposes.keys().map(String::as_str)),
        })
    }

    /// A consumer by name.
    pub fn consumer(&self, name: &str) -> Result<&ConsumerDef> {
        self.consumers.get(name).ok_or_else(|| Error::Unknown {
            kind: "consumer",
            name: name.to_string(),
            hint: known_hint(name, self.consumers.keys().map(String::as_str)),
        })
    }
}

/// Adds the objects of one file to the catalog's maps, reporting names declared twice.
struct Inserter<'a> {
    origins: &'a mut BTreeMap<(&'static str, String), PathBuf>,
    file: &'a Path,
    errs: &'a mut Vec<ValidationError>,
}

impl Inserter<'_> {
    fn all<T>(
        &mut self,
        map: &mut BTreeMap<String, T>,
        kind: &'static str,
        items: Vec<T>,
        name: impl Fn(&T) -> &String,
    ) {
        for item in items {
            let n = name(&item).clone();
            if map.contains_key(&n) {
                let first = self
                    .origins
                    .get(&(kind, n.clone()))
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                self.errs.push(ValidationError {
                    file: self.file.to_path_buf(),
                    object: format!("{kind} `{n}`"),
                    message: format!("is declared twice (first in {first})"),
                    hint: "names are unique per kind; rename or remove one".to_string(),
                });
                continue;
            }
            self.origins
                .insert((kind, n.clone()), self.file.to_path_buf());
            map.insert(n, item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs(yaml: &str) -> Definitions {
        Definitions::from_yaml_str(yaml, Path::new("t.yaml")).unwrap()
    }

    const GOOD: &str = r#"
entities:
  - { name: user, join_keys: [user_id] }
sources:
  - { name: s, type: batch, path: data/s.parquet, timestamp_field: ts, created_timestamp_field: created }
feature_views:
  - name: user_stats
    entities: [user]
    source: s
    ttl: 7d
    features:
      - { name: f0, type: float64, classification: personal }
      - { name: i0, type: int64, classification: internal, placement: device_only }
purposes:
  - { name: ranking, allows: [public, internal, personal] }
  - { name: analytics, allows: [public, internal] }
consumers:
  - { name: ranker, token_env: TOK, purposes: [ranking], default_purpose: ranking }
feature_services:
  - { name: ranker_v1, purpose: ranking, features: [user_stats:f0, user_stats:i0] }
"#;

    #[test]
    fn good_definitions_validate() {
        let c = Catalog::build(vec![defs(GOOD)]).unwrap();
        assert_eq!(c.join_keys(c.view("user_stats").unwrap()), vec!["user_id"]);
        let all = c
            .resolve_refs(&[FeatureRef::new("user_stats", "*")])
            .unwrap();
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn every_problem_is_reported_with_file_and_hint() {
        let bad = GOOD
            .replace("source: s\n", "source: nope\n")
            .replace("entities: [user]", "entities: [usr]")
            .replace("purpose: ranking, features", "purpose: analytics, features");
        let errs = Catalog::build_from_files(vec![(PathBuf::from("features/u.yaml"), defs(&bad))])
            .unwrap_err();
        let text = errs.to_string();
        assert!(
            text.contains("features/u.yaml: feature_view `user_stats`: unknown source `nope`"),
            "{text}"
        );
        assert!(text.contains("unknown entity `usr`"), "{text}");
        assert!(
            text.contains("does not allow `user_stats:f0`, which is classified `personal`"),
            "{text}"
        );
        assert!(text.contains("hint:"), "{text}");
    }

    #[test]
    fn duplicates_across_files_are_reported() {
        let errs = Catalog::build_from_files(vec![
            (PathBuf::from("a.yaml"), defs(GOOD)),
            (
                PathBuf::from("b.yaml"),
                defs("entities: [{ name: user, join_keys: [x] }]"),
            ),
        ])
        .unwrap_err();
        assert!(
            errs.to_string()
                .contains("b.yaml: entity `user`: is declared twice (first in a.yaml)"),
            "{errs}"
        );
    }
}
