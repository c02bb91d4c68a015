//! The definitions a device runs with.
//!
//! A device needs the cloud's definitions (to know which features the server answers, and
//! their types) and its own (the `type: device` sources and the views over them). From a
//! feature repository, [`catalog_from_repo`] takes the cloud's from the latest registered
//! version — what `tessera serve` serves, with aggregation column types filled in by
//! `tessera apply` — and adds the working copy's device sources, the views over them and
//! any entity, purpose, consumer, feature service or on-demand view the registry does not
//! hold. Without a
//! registered version it uses the working copy alone.

use std::collections::BTreeSet;
use std::path::Path;

use tessera_core::{Catalog, Definitions, FeatureRepo, SourceType};
use tessera_registry::{FileRegistry, Registry};

use crate::error::{Error, Result};

/// Validates definitions given as YAML text (e.g. compiled into the app with
/// `include_str!`).
pub fn catalog_from_yaml(yaml: &str) -> Result<Catalog> {
    let defs = Definitions::from_yaml_str(yaml, Path::new("<device definitions>"))
        .map_err(Error::Definitions)?;
    Catalog::build(vec![defs]).map_err(Error::Definitions)
}

/// The registered cloud definitions of `repo` plus its working copy's device definitions
/// (see the module docs).
pub fn catalog_from_repo(repo: &Path) -> Result<Catalog> {
    let (config, files) = FeatureRepo::read_definitions(repo).map_err(Error::Definitions)?;
    let registry = FileRegistry::new(&repo.join(&config.registry));
    let registered = registry.latest().map_err(|e| Error::BadInput {
        message: format!("cannot read the registry of {}: {e}", repo.display()),
        hint: "check `registry:` in tessera.yaml, or run `tessera apply`".into(),
    })?;
    let Some(registered) = registered else {
        return FeatureRepo::from_definitions(repo, config, files)
            .map(|r| r.catalog)
            .map_err(Error::Definitions);
    };
    let base = registered.definitions;
    let names = |it: &mut dyn Iterator<Item = &String>| it.cloned().collect::<BTreeSet<String>>();
    let on_demand = names(&mut base.on_demand_views.iter().map(|e| &e.name));
    let (entities, sources, views, purposes, consumers, services) = (
        names(&mut base.entities.iter().map(|e| &e.name)),
        names(&mut base.sources.iter().map(|e| &e.name)),
        names(&mut base.feature_views.iter().map(|e| &e.name)),
        names(&mut base.purposes.iter().map(|e| &e.name)),
        names(&mut base.consumers.iter().map(|e| &e.name)),
        names(&mut base.feature_services.iter().map(|e| &e.name)),
    );
    let device_sources: BTreeSet<String> = files
        .iter()
        .flat_map(|(_, d)| d.sources.iter())
        .filter(|s| s.source_type == SourceType::Device)
        .map(|s| s.name.clone())
        .collect();
    let mut out = vec![(repo.join(&config.registry), base)];
    for (path, d) in files {
        let extra = Definitions {
            entities: d
                .entities
                .into_iter()
                .filter(|e| !entities.contains(&e.name))
                .collect(),
            sources: d
                .sources
                .into_iter()
                .filter(|s| s.source_type == SourceType::Device && !sources.contains(&s.name))
                .collect(),
            feature_views: d
                .feature_views
                .into_iter()
                .filter(|v| device_sources.contains(&v.source) && !views.contains(&v.name))
                .collect(),
            purposes: d
                .purposes
                .into_iter()
                .filter(|p| !purposes.contains(&p.name))
                .collect(),
            consumers: d
                .consumers
                .into_iter()
                .filter(|c| !consumers.contains(&c.name))
                .collect(),
            feature_services: d
                .feature_services
                .into_iter()
                .filter(|s| !services.contains(&s.name))
                .collect(),
            // On-demand views the device adds (over device features and its context).
            on_demand_views: d
                .on_demand_views
                .into_iter()
                .filter(|v| !on_demand.contains(&v.name))
                .collect(),
            // Local-DP reports come from the registered version only: the server accepts
            // reports only for the parameters it registered.
            ldp_reports: Vec::new(),
            // Releases are central (server-side) DP; a device has none.
            releases: Vec::new(),
        };
        out.push((path, extra));
    }
    Catalog::build_from_files(out).map_err(|e| Error::Definitions(tessera_core::Error::Invalid(e)))
}
