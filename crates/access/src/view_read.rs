//! [`ViewRead`]: the part of a provider's share of a read that reads one feature view —
//! worked out once, when the plan is made (and cached with it), so a repeated read neither
//! groups its features again nor hashes its feature list a second time.

use std::sync::Arc;

use tessera_core::{Catalog, FeatureRef, Ttl};

use crate::error::{Error, Result};

/// The part of a read that reads one feature view.
#[derive(Debug)]
pub(crate) struct ViewRead {
    /// The view.
    pub(crate) name: String,
    pub(crate) ttl: Ttl,
    /// The view's join keys sorted by name: the order of an encoded entity key's parts.
    pub(crate) sorted_keys: Vec<Arc<str>>,
    /// (output column within the share, feature name), in request order.
    pub(crate) features: Vec<(usize, String)>,
    /// For an aggregation view: its spec, and the spec position of each of `features`.
    pub(crate) aggregate: Option<(Arc<tessera_core::aggregate::ViewSpec>, Vec<usize>)>,
}

impl ViewRead {
    /// The names of the stored values to decode: the features, or the state of an
    /// aggregation view.
    pub(crate) fn stored_names(&self) -> Vec<&str> {
        if self.aggregate.is_some() {
            vec![tessera_online::STATE_FEATURE]
        } else {
            self.features.iter().map(|(_, f)| f.as_str()).collect()
        }
    }
}

/// Groups a share's features by view, keeping each one's position.
pub(crate) fn group(catalog: &Catalog, features: &[FeatureRef]) -> Result<Vec<ViewRead>> {
    let mut views: Vec<ViewRead> = Vec::new();
    for (col, r) in features.iter().enumerate() {
        let resolved = catalog.feature(r).map_err(|e| Error::UnknownFeatures {
            problems: vec![e.to_string()],
        })?;
        let idx = match views.iter().position(|v| v.name == r.view) {
            Some(i) => i,
            None => {
                let aggregate = catalog
                    .view_spec(resolved.view)
                    .map_err(|e| Error::UnknownFeatures {
                        problems: vec![e.to_string()],
                    })?
                    .map(|spec| (Arc::new(spec), Vec::new()));
                let mut sorted_keys: Vec<Arc<str>> = catalog
                    .join_keys(resolved.view)
                    .into_iter()
                    .map(|k| Arc::from(k.as_str()))
                    .collect();
                sorted_keys.sort();
                views.push(ViewRead {
                    name: r.view.clone(),
                    ttl: tessera_core::retention::online_ttl(catalog, resolved.view),
                    sorted_keys,
                    features: Vec::new(),
                    aggregate,
                });
                views.len() - 1
            }
        };
        views[idx].features.push((col, r.feature.clone()));
        if let Some((_, positions)) = &mut views[idx].aggregate {
            let pos = resolved
                .view
                .features
                .iter()
                .filter(|f| f.derived.is_some())
                .position(|f| f.name == r.feature)
                .ok_or_else(|| Error::UnknownFeatures {
                    problems: vec![format!("{r} is not an aggregation of its view")],
                })?;
            positions.push(pos);
        }
    }
    Ok(views)
}
