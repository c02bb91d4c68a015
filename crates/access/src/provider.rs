//! [`Provider`]: where the access layer gets the values of a share of a request's features.
//!
//! The planner assigns every requested feature to one provider kind (see
//! [`crate::ReadPlan::assignments`]); the access layer calls each provider once per read,
//! concurrently, with that provider's share of the features in request order, and merges
//! the columns back in request order before the audit. Providers never see the policy
//! gate's work: the gate has already allowed every feature they are asked for.
//!
//! | kind | answers | built in |
//! |---|---|---|
//! | [`ProviderKind::Device`] | features placed `device` / `device_only`, from a device's local store | no: the device runtime registers one |
//! | [`ProviderKind::Online`] | cloud features, from an [`tessera_online::OnlineStore`] | yes: [`crate::AccessLayerBuilder::online_store`] |
//! | [`ProviderKind::Content`] | views over content metadata, from an in-memory table | no: `tessera serve` registers one |
//! | [`ProviderKind::OnDemand`] | on-demand features, computed from other features and the request context | yes: always |
//! | [`ProviderKind::Remote`] | cloud features, from a Tessera server over the network | no: the device runtime registers one |

use std::collections::BTreeMap;
use std::fmt;

use tessera_core::FeatureRef;
use tessera_online::Value;

use crate::caller::Caller;
use crate::entity_rows::EntityRows;
use crate::error::Result;
use crate::read_result::FeatureColumn;
use crate::view_read::ViewRead;

/// Request-context fields: values the caller sends with a read (the hour of day, the
/// network type …), named as the on-demand views' `request:` fields. Each value applies to
/// every entity of the request.
pub type RequestContext = BTreeMap<String, Value>;

/// The kinds of provider, in the order the planner prefers them for a feature that more
/// than one could answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    /// A device's local store: device signals and their window aggregations.
    Device,
    /// The online store (materialised and streamed cloud features).
    Online,
    /// Content metadata (an in-memory table of the latest row per key).
    Content,
    /// On-demand features, evaluated from other features and request-context fields.
    OnDemand,
    /// A remote Tessera server (a device's view of the cloud).
    Remote,
}

impl ProviderKind {
    /// Every kind.
    pub const ALL: [ProviderKind; 5] = [
        ProviderKind::Device,
        ProviderKind::Online,
        ProviderKind::Content,
        ProviderKind::OnDemand,
        ProviderKind::Remote,
    ];

    /// `device`, `online`, `content`, `on_demand`, `remote`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProviderKind::Device => "device",
            ProviderKind::Online => "online",
            ProviderKind::Content => "content",
            ProviderKind::OnDemand => "on_demand",
            ProviderKind::Remote => "remote",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One provider's share of a read.
#[derive(Debug, Clone, Copy)]
pub struct ProviderRequest<'a> {
    /// This provider's share of the features, in request order.
    pub features: &'a [FeatureRef],
    /// The entities of the whole request, as the caller gave them.
    pub entities: &'a EntityRows,
    /// The request-context fields.
    pub context: &'a RequestContext,
    /// The purpose the read was allowed for.
    pub purpose: &'a str,
    /// Who reads.
    pub caller: &'a Caller,
    /// The share's features grouped by view, as the plan worked them out (the built-in
    /// online and content providers read by it; empty when a request comes without one).
    pub(crate) views: &'a [ViewRead],
}

/// A source of feature values for the access layer.
///
/// Implementations answer every feature of `req.features` for every entity: one
/// [`FeatureColumn`] per feature, in the order given, each with one value, status and event
/// time per entity. A value the provider cannot give is a status (`Missing`, `Stale`,
/// `Unavailable` …), not an error; an error fails the whole read (the online store failing,
/// say). The access layer bounds every call with [`crate::AccessConfig::store_timeout`]: a
/// provider other than [`ProviderKind::Online`] that does not answer in time gives
/// [`crate::ValueStatus::Unavailable`] for its share, so a slow provider never hangs a read.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// Which kind of provider this is; the planner routes features by kind.
    fn kind(&self) -> ProviderKind;
    /// A name for plans, logs and metrics (`embedded`, `redis`, `content`, `https://…`).
    fn name(&self) -> &str;
    /// One column per feature of `req.features`, each with one value per entity.
    async fn fetch(&self, req: ProviderRequest<'_>) -> Result<Vec<FeatureColumn>>;
}
