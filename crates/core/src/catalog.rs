use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::definitions::{
    ConsumerDef, Definitions, EntityDef, FeatureDef, FeatureServiceDef, FeatureViewDef, PurposeDef,
    SourceDef, SourceType,
};
use crate::error::{known_hint, Error, Result, ValidationError, ValidationErrors};
use crate::feature_ref::FeatureRef;
use crate::on_demand::{OnDemandView, OnDemandViewDef};

/// Validated definitions, indexed by name. Every other crate works from this.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Entities by name.
    pub entities: BTreeMap<String, EntityDef>,
    /// Sources by name.
    pub sources: BTreeMap<String, SourceDef>,
    /// Feature views by name.
    pub feature_views: BTreeMap<String, FeatureViewDef>,
    /// Purposes by name.
    pub purposes: BTreeMap<String, PurposeDef>,
    /// Consumers by name.
    pub consumers: BTreeMap<String, ConsumerDef>,
    /// Feature services by name.
    pub feature_services: BTreeMap<String, FeatureServiceDef>,
    /// On-demand feature views by name, checked and compiled.
    pub on_demand_views: BTreeMap<String, OnDemandView>,
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

const ENTITY: &str = "entity";
const SOURCE: &str = "source";
const VIEW: &str = "feature_view";
const PURPOSE: &str = "purpose";
const CONSUMER: &str = "consumer";
const ON_DEMAND: &str = "on_demand_view";
const SERVICE: &str = "feature_service";

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
        let mut c = Catalog::default();
        let mut errs = Vec::new();
        let mut on_demand: BTreeMap<String, OnDemandViewDef> = BTreeMap::new();
        for (file, defs) in files {
            let d = defs;
            insert_all(
                &mut on_demand,
                &mut c.origins,
                ON_DEMAND,
                &file,
                d.on_demand_views,
                |e| &e.name,
                &mut errs,
            );
            insert_all(
                &mut c.entities,
                &mut c.origins,
                ENTITY,
                &file,
                d.entities,
                |e| &e.name,
                &mut errs,
            );
            insert_all(
                &mut c.sources,
                &mut c.origins,
                SOURCE,
                &file,
                d.sources,
                |e| &e.name,
                &mut errs,
            );
            insert_all(
                &mut c.feature_views,
                &mut c.origins,
                VIEW,
                &file,
                d.feature_views,
                |e| &e.name,
                &mut errs,
            );
            insert_all(
                &mut c.purposes,
                &mut c.origins,
                PURPOSE,
                &file,
                d.purposes,
                |e| &e.name,
                &mut errs,
            );
            insert_all(
                &mut c.consumers,
                &mut c.origins,
                CONSUMER,
                &file,
                d.consumers,
                |e| &e.name,
                &mut errs,
            );
            insert_all(
                &mut c.feature_services,
                &mut c.origins,
                SERVICE,
                &file,
                d.feature_services,
                |e| &e.name,
                &mut errs,
            );
        }
        c.derive_aggregation_features(&mut errs);
        c.check_on_demand(on_demand, &mut errs);
        c.validate(&mut errs);
        if errs.is_empty() {
            Ok(c)
        } else {
            Err(ValidationErrors(errs))
        }
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
        }
        .sorted()
    }

    /// An on-demand view by name.
    pub fn on_demand(&self, name: &str) -> Option<&OnDemandView> {
        self.on_demand_views.get(name)
    }

    /// Checks and compiles the on-demand views.
    fn check_on_demand(
        &mut self,
        defs: BTreeMap<String, OnDemandViewDef>,
        errs: &mut Vec<ValidationError>,
    ) {
        for (name, def) in defs {
            let mut problems = Vec::new();
            if self.feature_views.contains_key(&name) {
                problems.push((
                    "has the name of a feature view".to_string(),
                    "names are unique across feature views and on-demand views; rename one"
                        .to_string(),
                ));
            }
            match crate::on_demand::check(&def, &self.feature_views) {
                Ok(v) if problems.is_empty() => {
                    self.on_demand_views.insert(name.clone(), v);
                }
                Ok(_) => {}
                Err(p) => problems.extend(p),
            }
            for (message, hint) in problems {
                errs.push(ValidationError {
                    file: self.origin(ON_DEMAND, &name).to_path_buf(),
                    object: format!("{ON_DEMAND} `{name}`"),
                    message,
                    hint,
                });
            }
        }
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
                hint: known_hint(self.sources.keys().map(String::as_str)),
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
            hint: known_hint(view.features.iter().map(|f| f.name.as_str())),
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
                hint: known_hint(self.feature_services.keys().map(String::as_str)),
            })
    }

    /// A purpose by name.
    pub fn purpose(&self, name: &str) -> Result<&PurposeDef> {
        self.purposes.get(name).ok_or_else(|| Error::Unknown {
            kind: "purpose",
            name: name.to_string(),
            hint: known_hint(self.purposes.keys().map(String::as_str)),
        })
    }

    /// A consumer by name.
    pub fn consumer(&self, name: &str) -> Result<&ConsumerDef> {
        self.consumers.get(name).ok_or_else(|| Error::Unknown {
            kind: "consumer",
            name: name.to_string(),
            hint: known_hint(self.consumers.keys().map(String::as_str)),
        })
    }

    /// Expands every view's `aggregations:` into derived features.
    fn derive_aggregation_features(&mut self, errs: &mut Vec<ValidationError>) {
        let names: Vec<String> = self.feature_views.keys().cloned().collect();
        for name in names {
            let Some(mut view) = self.feature_views.remove(&name) else {
                continue;
            };
            let source = self.sources.get(&view.source);
            let mut problems = Vec::new();
            crate::aggregation_catalog::derive_features(&mut view, source, &mut problems);
            let declared = source.and_then(|s| {
                let stream = s.stream.as_ref().map(|st| (s, "stream", &st.schema));
                stream.or(s.device.as_ref().map(|d| (s, "device", &d.schema)))
            });
            if let Some((s, kind, schema)) = declared {
                for col in self.aggregation_columns(&view) {
                    if col != s.timestamp_field && !schema.contains_key(&col) {
                        problems.push((
                            format!(
                                "reads column `{col}`, which {kind} source `{}` does not declare",
                                s.name
                            ),
                            format!(
                                "add it to the source's `{kind}.schema` (declared: {})",
                                schema.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                }
            }
            if let Some(s) = source.filter(|s| s.device.is_some()) {
                problems.extend(crate::device_def::check_device_view(&view, s));
            }
            for (message, hint) in problems {
                errs.push(ValidationError {
                    file: self.origin(VIEW, &name).to_path_buf(),
                    object: format!("{VIEW} `{name}`"),
                    message,
                    hint,
                });
            }
            self.feature_views.insert(name, view);
        }
    }

    fn validate(&self, errs: &mut Vec<ValidationError>) {
        crate::token_env_check::check_shared_token_envs(self, errs);
        let err = |kind: &'static str, name: &str, message: String, hint: &str| ValidationError {
            file: self.origin(kind, name).to_path_buf(),
            object: format!("{kind} `{name}`"),
            message,
            hint: hint.to_string(),
        };
        for e in self.entities.values() {
            check_name(&e.name, ENTITY, self, errs);
            if e.join_keys.is_empty() {
                errs.push(err(
                    ENTITY,
                    &e.name,
                    "has no join keys".into(),
                    "list the key columns, e.g. `join_keys: [user_id]`",
                ));
            }
            let uniq: BTreeSet<_> = e.join_keys.iter().collect();
            if uniq.len() != e.join_keys.len() {
                errs.push(err(
                    ENTITY,
                    &e.name,
                    "lists a join key twice".into(),
                    "remove the duplicate",
                ));
            }
            if e.join_keys.iter().any(|k| k.trim().is_empty()) {
                errs.push(err(
                    ENTITY,
                    &e.name,
                    "has an empty join key".into(),
                    "name each key column",
                ));
            }
        }
        for s in self.sources.values() {
            check_name(&s.name, SOURCE, self, errs);
            if s.source_type == SourceType::Device {
                // No files: checked by `check_device_source` below.
            } else if s.path.trim().is_empty() {
                errs.push(err(
                    SOURCE,
                    &s.name,
                    "has an empty `path`".into(),
                    "give a Parquet or CSV file or directory, relative to the repository",
                ));
            } else if s.resolved_format().is_none() {
                errs.push(err(
                    SOURCE,
                    &s.name,
                    format!("cannot tell the format of `{}`", s.path),
                    "add `format: parquet` or `format: csv`",
                ));
            }
            if s.timestamp_field.trim().is_empty() {
                errs.push(err(
                    SOURCE,
                    &s.name,
                    "has an empty `timestamp_field`".into(),
                    "name the event-time column",
                ));
            }
            for (message, hint) in crate::stream_check::check_stream_source(s)
                .into_iter()
                .chain(crate::device_def::check_device_source(s))
            {
                errs.push(err(SOURCE, &s.name, message, &hint));
            }
        }
        for v in self.feature_views.values() {
            check_name(&v.name, VIEW, self, errs);
            if v.provider == crate::definitions::ViewProvider::Content {
                let stream = self
                    .sources
                    .get(&v.source)
                    .is_some_and(|s| s.stream.is_some());
                if stream || !v.aggregations.is_empty() || !v.online {
                    errs.push(err(
                        VIEW,
                        &v.name,
                        "has `provider: content` but is not a plain online view over a batch source".into(),
                        "content views hold features (not aggregations) of a `type: batch` source and are online; drop `provider: content` or change the view",
                    ));
                }
            }
            if v.entities.is_empty() {
                errs.push(err(
                    VIEW,
                    &v.name,
                    "has no entities".into(),
                    "list the entities it describes, e.g. `entities: [user]`",
                ));
            }
            let mut keys = BTreeSet::new();
            for e in &v.entities {
                match self.entities.get(e) {
                    None => errs.push(err(
                        VIEW,
                        &v.name,
                        format!("unknown entity `{e}`"),
                        &format!(
                            "declare it under `entities:` or fix the name{}",
                            known_hint(self.entities.keys().map(String::as_str))
                        ),
                    )),
                    Some(ent) => keys.extend(ent.join_keys.iter().cloned()),
                }
            }
            let source = self.sources.get(&v.source);
            if source.is_none() {
                errs.push(err(
                    VIEW,
                    &v.name,
                    format!("unknown source `{}`", v.source),
                    &format!(
                        "declare it under `sources:` or fix the name{}",
                        known_hint(self.sources.keys().map(String::as_str))
                    ),
                ));
            }
            if v.features.is_empty() && v.aggregations.is_empty() {
                errs.push(err(
                    VIEW,
                    &v.name,
                    "has no features".into(),
                    "list at least one feature under `features:`",
                ));
            }
            let mut names = BTreeSet::new();
            for f in &v.features {
                if !names.insert(f.name.as_str()) {
                    errs.push(err(
                        VIEW,
                        &v.name,
                        format!("declares feature `{}` twice", f.name),
                        "rename or remove one",
                    ));
                }
                if !is_identifier(&f.name) {
                    errs.push(err(
                        VIEW,
                        &v.name,
                        format!("feature name `{}` is not an identifier", f.name),
                        "use letters, digits and `_`, starting with a letter or `_`",
                    ));
                }
                if f.derived.is_some() {
                    continue; // aggregations may read any column; checked where derived
                }
                if keys.contains(f.source_column()) {
                    errs.push(err(
                        VIEW,
                        &v.name,
                        format!(
                            "feature `{}` reads the join key column `{}`",
                            f.name,
                            f.source_column()
                        ),
                        "join keys are not features; remove it or read another column",
                    ));
                }
                if let Some(s) = source {
                    if f.source_column() == s.timestamp_field
                        || s.created_timestamp_field.as_deref() == Some(f.source_column())
                    {
                        errs.push(err(
                            VIEW,
                            &v.name,
                            format!(
                                "feature `{}` reads the timestamp column `{}`",
                                f.name,
                                f.source_column()
                            ),
                            "timestamps are not features; set `column:` to another column",
                        ));
                    }
                }
            }
        }
        for p in self.purposes.values() {
            check_name(&p.name, PURPOSE, self, errs);
        }
        for c in self.consumers.values() {
            check_name(&c.name, CONSUMER, self, errs);
            if c.token_env.trim().is_empty() {
                errs.push(err(
                    CONSUMER,
                    &c.name,
                    "has an empty `token_env`".into(),
                    "name the environment variable that holds its bearer token",
                ));
            }
            for p in &c.purposes {
                if !self.purposes.contains_key(p) {
                    errs.push(err(
                        CONSUMER,
                        &c.name,
                        format!("unknown purpose `{p}`"),
                        &format!(
                            "declare it under `purposes:`{}",
                            known_hint(self.purposes.keys().map(String::as_str))
                        ),
                    ));
                }
            }
            if let Some(d) = &c.default_purpose {
                if !c.purposes.contains(d) {
                    errs.push(err(
                        CONSUMER,
                        &c.name,
                        format!("default purpose `{d}` is not one of its purposes"),
                        "add it to `purposes:` or change `default_purpose`",
                    ));
                }
            }
            for w in &c.writes {
                if !self.feature_views.contains_key(w) && !self.sources.contains_key(w) {
                    let known = self.feature_views.keys().chain(self.sources.keys());
                    errs.push(err(
                        CONSUMER,
                        &c.name,
                        format!(
                            "`writes:` names `{w}`, which is neither a feature view nor a source"
                        ),
                        &format!(
                            "list the feature views and sources it may push to{}",
                            known_hint(known.map(String::as_str))
                        ),
                    ));
                }
            }
        }
        for s in self.feature_services.values() {
            check_name(&s.name, SERVICE, self, errs);
            let purpose = self.purposes.get(&s.purpose);
            if purpose.is_none() {
                errs.push(err(
                    SERVICE,
                    &s.name,
                    format!("unknown purpose `{}`", s.purpose),
                    &format!(
                        "declare it under `purposes:`{}",
                        known_hint(self.purposes.keys().map(String::as_str))
                    ),
                ));
            }
            if s.features.is_empty() {
                errs.push(err(
                    SERVICE,
                    &s.name,
                    "has no features".into(),
                    "list `view:feature` references",
                ));
            }
            for r in &s.features {
                let Some(view) = self.feature_views.get(&r.view) else {
                    errs.push(err(
                        SERVICE,
                        &s.name,
                        format!("unknown feature view `{}` in `{r}`", r.view),
                        &format!(
                            "fix the reference{}",
                            known_hint(self.feature_views.keys().map(String::as_str))
                        ),
                    ));
                    continue;
                };
                let feats: Vec<&FeatureDef> = if r.feature == "*" {
                    view.features.iter().collect()
                } else {
                    match view.feature(&r.feature) {
                        Some(f) => vec![f],
                        None => {
                            errs.push(err(
                                SERVICE,
                                &s.name,
                                format!("unknown feature `{r}`"),
                                &format!(
                                    "fix the reference{}",
                                    known_hint(view.features.iter().map(|f| f.name.as_str()))
                                ),
                            ));
                            continue;
                        }
                    }
                };
                if let Some(p) = purpose {
                    for f in feats {
                        if !p.allows.contains(&f.classification) {
                            errs.push(err(SERVICE, &s.name, format!("its purpose `{}` does not allow `{}:{}`, which is classified `{}`", p.name, view.name, f.name, f.classification), &format!("drop the feature, reclassify it, or add `{}` to purpose `{}`'s `allows`", f.classification, p.name)));
                        }
                    }
                }
            }
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_name(name: &str, kind: &'static str, c: &Catalog, errs: &mut Vec<ValidationError>) {
    let ok = match kind {
        // Views and entities appear in `view:feature` and in `view__feature` columns.
        VIEW | ENTITY => is_identifier(name) && !name.contains("__"),
        _ => {
            !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
        }
    };
    if !ok {
        errs.push(ValidationError {
            file: c.origin(kind, name).to_path_buf(),
            object: format!("{kind} `{name}`"),
            message: "is not a valid name".to_string(),
            hint: "use letters, digits and `_` (views and entities: start with a letter, no `__`)"
                .to_string(),
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_all<T>(
    map: &mut BTreeMap<String, T>,
    origins: &mut BTreeMap<(&'static str, String), PathBuf>,
    kind: &'static str,
    file: &Path,
    items: Vec<T>,
    name: impl Fn(&T) -> &String,
    errs: &mut Vec<ValidationError>,
) {
    for item in items {
        let n = name(&item).clone();
        if map.contains_key(&n) {
            let first = origins
                .get(&(kind, n.clone()))
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            errs.push(ValidationError {
                file: file.to_path_buf(),
                object: format!("{kind} `{n}`"),
                message: format!("is declared twice (first in {first})"),
                hint: "names are unique per kind; rename or remove one".to_string(),
            });
            continue;
        }
        origins.insert((kind, n.clone()), file.to_path_buf());
        map.insert(n, item);
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
