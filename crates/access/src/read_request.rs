//! [`ReadRequest`]: what a caller asks the access layer for.

use crate::caller::Caller;
use crate::entity_rows::EntityRows;
use crate::error::{Error, Result};
use crate::provider::RequestContext;

/// Which features a read asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FeatureSelection {
    /// `view:feature` references (`view:*` for every feature of a view), as the caller wrote
    /// them; they are parsed and resolved by the access layer, which names every bad one.
    Features(Vec<String>),
    /// A feature service by name: its features, and its purpose unless the request names one.
    Service(String),
}

impl FeatureSelection {
    /// The selection from a request that may carry a feature list, a service name, or both
    /// (which is refused, as is neither).
    pub fn from_parts(features: Option<Vec<String>>, service: Option<String>) -> Result<Self> {
        match (features, service) {
            (Some(f), None) if !f.is_empty() => Ok(FeatureSelection::Features(f)),
            (Some(f), Some(s)) if f.is_empty() => Ok(FeatureSelection::Service(s)),
            (None, Some(s)) => Ok(FeatureSelection::Service(s)),
            (Some(_), Some(_)) => Err(Error::FeaturesAndService),
            _ => Err(Error::NoFeatures),
        }
    }
}

/// One read: features for entities, by a caller, for a purpose.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// The features.
    pub features: FeatureSelection,
    /// The entities, as join-key columns.
    pub entities: EntityRows,
    /// Request-context fields (for on-demand features); empty when there are none.
    pub context: RequestContext,
    /// Why the data is read. When `None`: the feature service's purpose, else the consumer's
    /// `default_purpose`, else (anonymous callers) the server's default, else an error.
    pub purpose: Option<String>,
    /// Who reads.
    pub caller: Caller,
}
