//! Each feature's effective form for a read: which minimisation entry applies (the
//! purpose's, else the feature service's, else the feature's default) and its result type.

use std::fmt;

use crate::catalog::Catalog;
use crate::error::Result;
use crate::feature_ref::FeatureRef;
use crate::feature_type::FeatureType;
use crate::minimise::minimiser::Minimiser;
use crate::minimise::spec::MinimiseSpec;
use crate::minimise::transform::Transform;

/// Where a feature's minimisation comes from, most specific first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MinimiseOrigin {
    /// The purpose's `minimise` entry (the only one that lets a purpose read a
    /// classification it does not `allow`).
    Purpose,
    /// The feature service's `minimise` entry.
    Service(String),
    /// The default on the feature in its view.
    Feature,
}

impl fmt::Display for MinimiseOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MinimiseOrigin::Purpose => f.write_str("purpose"),
            MinimiseOrigin::Service(s) => write!(f, "feature service `{s}`"),
            MinimiseOrigin::Feature => f.write_str("feature default"),
        }
    }
}

/// One feature's minimisation in a read, known at plan time.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedForm {
    /// The feature.
    pub feature: FeatureRef,
    /// The transform.
    pub transform: Transform,
    /// Which entry named it.
    pub origin: MinimiseOrigin,
    /// The feature's declared type.
    pub input: FeatureType,
    /// The type of the minimised values.
    pub output: FeatureType,
}

impl PlannedForm {
    /// The minimiser for reads for `purpose` (reads a pseudonymisation key from its
    /// environment variable).
    pub fn minimiser(&self, purpose: &str) -> Result<Minimiser> {
        Minimiser::new(self.transform.clone(), &self.input, purpose)
    }
}

impl fmt::Display for PlannedForm {
    /// `user_profile:age → bucketize[18,25,35,50,65] → string`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {} → {}", self.feature, self.transform, self.output)
    }
}

impl Catalog {
    /// The minimisation entry that applies to `feature` read for `purpose` (through the
    /// feature service `service`, if any): the purpose's entry, else the service's, else the
    /// feature's default; `None` when the feature is read raw.
    pub fn minimise_entry(
        &self,
        purpose: &str,
        service: Option<&str>,
        feature: &FeatureRef,
    ) -> Option<(&MinimiseSpec, MinimiseOrigin)> {
        let key = feature.to_string();
        if let Some(spec) = self
            .purposes
            .get(purpose)
            .and_then(|p| p.minimise.get(&key))
        {
            return Some((spec, MinimiseOrigin::Purpose));
        }
        if let Some(name) = service {
            if let Some(spec) = self
                .feature_services()
                .get(name)
                .and_then(|s| s.minimise.get(&key))
            {
                return Some((spec, MinimiseOrigin::Service(name.to_string())));
            }
        }
        let resolved = self.feature(feature).ok()?;
        resolved
            .feature
            .minimise
            .as_ref()
            .map(|spec| (spec, MinimiseOrigin::Feature))
    }

    /// The planned form of `feature` for `purpose` (see [`Catalog::minimise_entry`]),
    /// checked against its type; `None` when it is read raw.
    pub fn planned_form(
        &self,
        purpose: &str,
        service: Option<&str>,
        feature: &FeatureRef,
    ) -> Result<Option<PlannedForm>> {
        let Some((spec, origin)) = self.minimise_entry(purpose, service, feature) else {
            return Ok(None);
        };
        let input = self.feature(feature)?.feature.dtype.clone();
        let transform = Transform::from_spec(spec)?;
        let output = transform.result_type(&input)?;
        Ok(Some(PlannedForm {
            feature: feature.clone(),
            transform,
            origin,
            input,
            output,
        }))
    }

    /// Whether `purpose` has its own `minimise` entry for `feature`.
    pub fn purpose_minimises(&self, purpose: &str, feature: &FeatureRef) -> bool {
        self.purposes.get(purpose).is_some_and(|p| {
            !p.minimise.is_empty() && p.minimise.contains_key(&feature.to_string())
        })
    }
}
