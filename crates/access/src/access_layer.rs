//! [`AccessLayer`]: the one read path and the one write path every protocol goes through.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use tessera_audit::{AuditDecision, AuditRecord, AuditSink, FeatureList};
use tessera_core::Catalog;
use tessera_online::{OnlineStore, WriteBatch};

use crate::access_layer_builder::AccessLayerBuilder;
use crate::entity_rows::{EntityRows, KeyType};
use crate::error::{Error, Result};
use crate::observer::{AccessObserver, StoreOp};
use crate::online_provider::OnlineProvider;
use crate::provider::{Provider, ProviderKind, ProviderRequest, RequestContext};
use crate::read_plan::{plan, Kinds, PlanCache, PlanKey, ReadPlan, Share};
use crate::read_request::{FeatureSelection, ReadRequest};
use crate::read_result::{FeatureColumn, ReadResult, ValueStatus};
use crate::write_request::{
    check_write_permission, device_only_refusals, target_views, view_batch, WriteOutcome,
    WriteRequest, WriteTarget,
};

/// Limits and settings of an [`AccessLayer`].
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// The most entities one read may ask for.
    pub max_entities: usize,
    /// The most rows one write may carry.
    pub max_write_rows: usize,
    /// How long one store call may take before the request fails as unavailable; also the
    /// bound on every other provider's answer (after which its values are `unavailable`).
    pub store_timeout: Duration,
    /// The value type of join keys, when known (from source schemas); values of another type
    /// are refused with a message instead of silently reading nothing.
    pub key_types: HashMap<String, KeyType>,
    /// The purpose of anonymous reads that name none (servers with authentication off).
    pub anonymous_purpose: Option<String>,
    /// Rows stamped beyond this bound ahead of the clock are refused (`writes.max_future`).
    pub future: tessera_online::FutureBound,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            max_entities: 1000,
            max_write_rows: 10_000,
            store_timeout: Duration::from_secs(2),
            key_types: HashMap::new(),
            anonymous_purpose: None,
            future: tessera_online::FutureBound::default(),
        }
    }
}

/// The audit `action` of online reads.
pub const ACTION_READ: &str = "online_read";
/// The audit `action` of online writes.
pub const ACTION_WRITE: &str = "online_write";
/// The audit `purpose` of writes, which name none.
const WRITE_PURPOSE: &str = "-";

/// Resolves, plans by provider, gates, fetches, merges and audits. Share it behind an `Arc`.
#[derive(Debug)]
pub struct AccessLayer {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) store: Option<Arc<dyn OnlineStore>>,
    /// At most one provider per kind, in [`ProviderKind`] order.
    pub(crate) providers: Vec<Arc<dyn Provider>>,
    pub(crate) audit: Arc<AuditSink>,
    pub(crate) config: AccessConfig,
    pub(crate) plans: PlanCache,
    pub(crate) observer: Arc<dyn AccessObserver>,
    pub(crate) ingest: Option<Arc<dyn crate::event_ingest::EventIngest>>,
    /// Consent per (entity, purpose), for purposes with `requires_consent` (`consent_gate.rs`).
    pub(crate) consent: Option<Arc<tessera_consent::ConsentStore>>,
    /// Hashes the entities of each read into its audit record (none recorded without).
    pub(crate) entity_hasher: Option<Arc<tessera_core::EntityHasher>>,
    /// Erased entities, read as `erased` (`tombstone_gate.rs`).
    pub(crate) tombstones: Option<Arc<crate::tombstone_gate::Tombstones>>,
}

impl AccessLayer {
    /// An access layer over a catalog (the registered definitions), an online store (the
    /// [`ProviderKind::Online`] provider, and the target of writes) and an audit sink.
    pub fn new(
        catalog: Arc<Catalog>,
        store: Arc<dyn OnlineStore>,
        audit: Arc<AuditSink>,
        config: AccessConfig,
    ) -> Self {
        Self::builder(catalog, audit, config)
            .online_store(store)
            .build()
    }

    /// An access layer with the providers you choose: a device registers a
    /// [`ProviderKind::Device`] and a [`ProviderKind::Remote`] provider and no online store.
    pub fn builder(
        catalog: Arc<Catalog>,
        audit: Arc<AuditSink>,
        config: AccessConfig,
    ) -> AccessLayerBuilder {
        AccessLayerBuilder::new(catalog, audit, config)
    }

    /// Reports store calls and denials to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn AccessObserver>) -> Self {
        if let Some(store) = &self.store {
            let online: Arc<dyn Provider> = Arc::new(OnlineProvider::new(
                self.catalog.clone(),
                store.clone(),
                observer.clone(),
                self.config.store_timeout,
            ));
            self.providers.retain(|p| p.kind() != ProviderKind::Online);
            self.providers.push(online);
            self.providers.sort_by_key(|p| p.kind());
        }
        self.observer = observer;
        self
    }

    /// The provider of a kind, if registered.
    pub fn provider(&self, kind: ProviderKind) -> Option<&Arc<dyn Provider>> {
        self.providers.iter().find(|p| p.kind() == kind)
    }

    pub(crate) fn kinds(&self) -> Kinds {
        let has = |k| self.provider(k).is_some();
        Kinds {
            device: has(ProviderKind::Device),
            online: has(ProviderKind::Online),
            content: has(ProviderKind::Content),
            remote: has(ProviderKind::Remote),
        }
    }

    /// Sends pushes to stream sources to `ingest` (the stream engine), after the same
    /// caller and write-permission checks and with the same audit as other writes.
    pub fn with_ingest(mut self, ingest: Arc<dyn crate::event_ingest::EventIngest>) -> Self {
        self.ingest = Some(ingest);
        self
    }

    /// The catalog requests are resolved against.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The online store, if this access layer has one (a device's has none).
    pub fn store(&self) -> Option<&Arc<dyn OnlineStore>> {
        self.store.as_ref()
    }

    /// The audit sink.
    pub fn audit(&self) -> &AuditSink {
        &self.audit
    }

    /// The settings.
    pub fn config(&self) -> &AccessConfig {
        &self.config
    }

    /// Reads features for entities: resolve → policy gate → plan by provider → one
    /// concurrent fetch per provider → merge in request order with per-value status → audit.
    /// A refused read returns
    /// [`Error::Denied`] naming every refused feature; nothing is partially returned. A read
    /// that cannot be audited is refused.
    pub async fn read(&self, req: ReadRequest) -> Result<ReadResult> {
        let started = Instant::now();
        let ReadRequest {
            features,
            entities,
            context,
            purpose,
            caller,
        } = req;
        let key = PlanKey {
            caller,
            purpose,
            selection: features,
        };
        let entity_count = entities.len();
        let digests = self
            .entity_hasher
            .as_deref()
            .map(|h| crate::entity_digests::entity_digests(h, &entities));
        let outcome = self.read_inner(&key, entities, &context).await;
        let mut record = match &outcome {
            Ok(r) => {
                let mut rec =
                    AuditRecord::now(ACTION_READ, &key.caller.to_string(), r.plan.purpose());
                rec.features = FeatureList::new(r.plan.audit_features.clone());
                rec.transforms =
                    tessera_audit::TransformList::new(r.plan.minimise.transforms.clone());
                rec
            }
            Err(e) => self.failure_record(ACTION_READ, &key, e),
        };
        record.rows = entity_count as u64;
        record.entities = digests.unwrap_or_default();
        record.latency_us = started.elapsed().as_micros() as u64;
        self.audit.record(record).await.map_err(Error::Audit)?;
        outcome
    }

    async fn read_inner(
        &self,
        key: &PlanKey,
        entities: EntityRows,
        context: &RequestContext,
    ) -> Result<ReadResult> {
        if entities.len() > self.config.max_entities {
            return Err(Error::TooManyEntities {
                given: entities.len(),
                max: self.config.max_entities,
            });
        }
        if !self.config.key_types.is_empty() {
            entities.check_types(&self.config.key_types)?;
        }
        let plan = self.plan(key)?;
        for name in entities.names() {
            if !plan.join_keys().iter().any(|k| k.as_ref() == name) {
                return Err(Error::UnusedJoinKey {
                    key: name.to_string(),
                    needed: plan
                        .join_keys()
                        .iter()
                        .map(|k| k.as_ref())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let n = entities.len();
        fn request<'a>(
            share: &'a Share,
            entities: &'a EntityRows,
            context: &'a RequestContext,
            plan: &'a ReadPlan,
            caller: &'a crate::caller::Caller,
        ) -> ProviderRequest<'a> {
            ProviderRequest {
                features: &share.features,
                entities,
                context,
                purpose: plan.purpose(),
                caller,
                views: &share.views,
            }
        }
        let request = |share| request(share, &entities, context, &plan, &key.caller);
        let answers = if plan.shares.len() == 1 {
            let share = &plan.shares[0];
            vec![self.fetch_share(share, request(share)).await?]
        } else {
            try_join_all(
                plan.shares
                    .iter()
                    .map(|share| self.fetch_share(share, request(share))),
            )
            .await?
        };
        let mut columns: Vec<FeatureColumn> = vec![FeatureColumn::default(); plan.working_columns];
        for (share, answer) in plan.shares.iter().zip(answers) {
            for (&col, column) in share.columns.iter().zip(answer) {
                columns[col] = column;
            }
        }
        for od in &plan.on_demand {
            let computed = od.evaluate(&columns, context, n)?;
            columns[od.column] = computed;
        }
        columns.truncate(plan.features().len());
        self.consent_gate(plan.purpose(), &entities, &mut columns)?;
        self.tombstone_gate(&entities, &mut columns);
        crate::minimise_columns::minimise_columns(&plan.minimise, &mut columns);
        self.observer.read_done(n, plan.features().len());
        Ok(ReadResult {
            plan,
            entities,
            columns,
        })
    }

    fn plan(&self, key: &PlanKey) -> Result<Arc<ReadPlan>> {
        if let Some(p) = self.plans.get(key) {
            return Ok(p);
        }
        match plan(
            &self.catalog,
            key,
            self.config.anonymous_purpose.as_deref(),
            self.kinds(),
        ) {
            Ok(p) => {
                let p = Arc::new(p);
                self.plans.insert(key.clone(), p.clone());
                Ok(p)
            }
            Err(e) => {
                if let Error::Denied { refusals, .. } = &e {
                    self.observer.denied(refusals);
                }
                Err(e)
            }
        }
    }

    /// One provider's answer for its share, checked for shape. The online provider bounds
    /// each store call itself (a timeout fails the read, as a failing store does); any
    /// other provider that does not answer within the store timeout gives `unavailable`
    /// values for its share.
    async fn fetch_share(
        &self,
        share: &Share,
        req: ProviderRequest<'_>,
    ) -> Result<Vec<FeatureColumn>> {
        let provider = self.provider(share.kind).ok_or_else(|| Error::NoProvider {
            feature: share
                .features
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
            kind: share.kind,
            hint: "the plan names a provider this access layer does not have",
        })?;
        let n = req.entities.len();
        let columns = if share.kind == ProviderKind::Online {
            provider.fetch(req).await?
        } else {
            match tokio::time::timeout(self.config.store_timeout, provider.fetch(req)).await {
                Ok(answer) => answer?,
                Err(_) => (0..share.features.len())
                    .map(|_| FeatureColumn::filled(n, ValueStatus::Unavailable))
                    .collect(),
            }
        };
        let bad = columns.iter().find(|c| !c.has_len(n));
        if columns.len() != share.features.len() || bad.is_some() {
            return Err(Error::ProviderShape {
                kind: share.kind,
                name: provider.name().to_string(),
                got: columns.len(),
                rows: bad.map_or(0, |c| c.values.len()),
                want: share.features.len(),
                entities: n,
            });
        }
        Ok(columns)
    }

    /// Whether `caller` may write to `target` at all, checked without any rows: the target
    /// exists, is writable, and the consumer's `writes:` covers it. Servers call it before
    /// reading a push body, so a caller that may not push costs no parsing. Not audited:
    /// the caller audits a refusal (as [`AccessLayer::write`] does its own).
    pub fn check_write(&self, caller: &crate::caller::Caller, target: &WriteTarget) -> Result<()> {
        let views = target_views(&self.catalog, target)?;
        check_write_permission(&self.catalog, caller, target, &views)
    }

    /// Writes rows (Feast's push and write-to-online-store): each target view's rows are
    /// checked against its declared types — every problem is reported, nothing is written
    /// unless all rows are good — then written, newer rows winning. A consumer may write
    /// only the views its `writes:` covers ([`Error::WriteDenied`]); device-only features
    /// are refused. Audited like reads.
    pub async fn write(&self, req: WriteRequest) -> Result<WriteOutcome> {
        let started = Instant::now();
        let outcome = self.write_inner(&req).await;
        let rows = req.columns.first().map_or(0, |(_, v)| v.len()) as u64;
        let consumer = req.caller.to_string();
        let mut record = match &outcome {
            Ok((o, features)) => {
                let mut rec = AuditRecord::now(ACTION_WRITE, &consumer, WRITE_PURPOSE);
                rec.features = features.clone().into();
                rec.detail = Some(format!(
                    "written {}, skipped as older {}",
                    o.written(),
                    o.skipped()
                ));
                rec
            }
            Err(e) => {
                let mut rec = AuditRecord::now(ACTION_WRITE, &consumer, WRITE_PURPOSE);
                rec.decision = match e {
                    Error::WriteDenied { .. } => AuditDecision::Deny,
                    e => decision_of(e),
                };
                rec.reasons = reasons_of(e);
                rec.detail = Some(match &req.target {
                    WriteTarget::View(v) => format!("view {}", crate::list_cap::clip(v)),
                    WriteTarget::PushSource(s) => {
                        format!("push source {}", crate::list_cap::clip(s))
                    }
                });
                rec
            }
        };
        record.rows = rows;
        record.latency_us = started.elapsed().as_micros() as u64;
        self.audit.record(record).await.map_err(Error::Audit)?;
        outcome.map(|(o, _)| o)
    }

    async fn write_inner(&self, req: &WriteRequest) -> Result<(WriteOutcome, Vec<String>)> {
        let target_name = match &req.target {
            WriteTarget::View(n) | WriteTarget::PushSource(n) => n.clone(),
        };
        let bad = |problems: Vec<String>| Error::BadRows {
            target: target_name.clone(),
            problems,
        };
        let views = target_views(&self.catalog, &req.target)?;
        check_write_permission(&self.catalog, &req.caller, &req.target, &views)?;
        let rows = req.columns.first().map_or(0, |(_, v)| v.len());
        if req.columns.iter().any(|(_, v)| v.len() != rows) {
            let lengths: Vec<String> = req
                .columns
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.len()))
                .collect();
            return Err(bad(vec![format!(
                "columns have different lengths: {}",
                crate::list_cap::join_capped(&lengths, ", ")
            )]));
        }
        if rows > self.config.max_write_rows {
            return Err(Error::TooManyEntities {
                given: rows,
                max: self.config.max_write_rows,
            });
        }
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(req.columns.len());
        for (i, (name, _)) in req.columns.iter().enumerate() {
            if index.insert(name.as_str(), i).is_some() {
                return Err(bad(vec![format!("column `{name}` is given twice")]));
            }
        }
        let refusals = device_only_refusals(&views, &index);
        if !refusals.is_empty() {
            self.observer.denied(&refusals);
            return Err(Error::Denied {
                consumer: req.caller.to_string(),
                purpose: WRITE_PURPOSE.to_string(),
                refusals,
            });
        }
        if let Some(done) = self.write_stream(req, &views).await? {
            return Ok(done);
        }
        let mut problems = Vec::new();
        let mut used: HashSet<&str> = HashSet::new();
        let mut batches: Vec<WriteBatch> = Vec::with_capacity(views.len());
        let bound = (self.config.future, tessera_online::FutureBound::now_us());
        for v in &views {
            let (batch, u) = view_batch(
                &self.catalog,
                v,
                &req.columns,
                &index,
                &self.config.key_types,
                bound,
                &mut problems,
            );
            used.extend(u);
            batches.extend(batch);
        }
        for (name, _) in &req.columns {
            if !used.contains(name.as_str()) {
                let mut expected: Vec<&str> = used.iter().copied().collect();
                expected.sort_unstable();
                problems.push(format!(
                    "unknown column `{name}` (hint: the columns are the join keys, the event timestamp, the created timestamp and the features: {})",
                    expected.join(", ")
                ));
            }
        }
        if !problems.is_empty() {
            return Err(bad(problems));
        }
        let features: Vec<String> = batches
            .iter()
            .flat_map(|b| b.features.iter().map(move |f| format!("{}:{f}", b.view)))
            .collect();
        let results = try_join_all(batches.into_iter().map(|b| self.write_view(b))).await?;
        Ok((
            WriteOutcome {
                views: results,
                ingest: None,
            },
            features,
        ))
    }

    /// Pushes to a stream source go to the stream engine; aggregation views take no rows.
    async fn write_stream(
        &self,
        req: &WriteRequest,
        views: &[&tessera_core::FeatureViewDef],
    ) -> Result<Option<(WriteOutcome, Vec<String>)>> {
        let source = match &req.target {
            WriteTarget::PushSource(name) => self
                .catalog
                .sources()
                .get(name)
                .filter(|s| s.stream.is_some()),
            WriteTarget::View(_) => None,
        };
        let Some(source) = source else {
            if let Some(v) = views.iter().find(|v| !v.aggregations.is_empty()) {
                return Err(Error::NotWritable {
                    message: format!(
                        "feature view `{}` holds window aggregations, computed from events (hint: push the events to its source `{}`, a `type: stream` source)",
                        v.name, v.source
                    ),
                });
            }
            return Ok(None);
        };
        let Some(ingest) = self.ingest.as_ref().filter(|i| i.handles(&source.name)) else {
            return Err(Error::NotWritable {
                message: format!(
                    "source `{}` is a stream source, but this server runs no stream engine for it (hint: `tessera serve` runs one for every stream source of the registered version; re-apply and restart)",
                    source.name
                ),
            });
        };
        let rows = req.columns.first().map_or(0, |(_, v)| v.len());
        if rows > self.config.max_write_rows {
            return Err(Error::TooManyEntities {
                given: rows,
                max: self.config.max_write_rows,
            });
        }
        let summary = ingest
            .ingest(&source.name, req.columns.clone())
            .await
            .map_err(|e| match e {
                crate::event_ingest::IngestError::BadEvents(m) => Error::BadRows {
                    target: source.name.clone(),
                    problems: vec![m],
                },
                crate::event_ingest::IngestError::Failed(m) => Error::Ingest {
                    source_name: source.name.clone(),
                    message: m,
                },
            })?;
        let features = views
            .iter()
            .flat_map(|v| {
                v.features
                    .iter()
                    .map(move |f| format!("{}:{}", v.name, f.name))
            })
            .collect();
        Ok(Some((
            WriteOutcome {
                views: vec![(
                    source.name.clone(),
                    tessera_online::WriteSummary {
                        written: summary.applied,
                        skipped: summary.duplicates + summary.late + summary.future,
                    },
                )],
                ingest: Some(summary),
            },
            features,
        )))
    }

    async fn write_view(
        &self,
        batch: WriteBatch,
    ) -> Result<(String, tessera_online::WriteSummary)> {
        let view = batch.view.clone();
        let started = Instant::now();
        let Some(online) = &self.store else {
            return Err(Error::NoStore);
        };
        let store = online.name();
        let result = tokio::time::timeout(self.config.store_timeout, online.write(batch)).await;
        let elapsed = started.elapsed();
        match result {
            Ok(Ok(summary)) => {
                self.observer
                    .store_call(store, StoreOp::Write, elapsed, true);
                Ok((view, summary))
            }
            Ok(Err(e)) => {
                self.observer
                    .store_call(store, StoreOp::Write, elapsed, false);
                Err(Error::Store(e))
            }
            Err(_) => {
                self.observer
                    .store_call(store, StoreOp::Write, elapsed, false);
                Err(Error::StoreTimeout {
                    store,
                    after: self.config.store_timeout,
                })
            }
        }
    }

    fn failure_record(&self, action: &str, key: &PlanKey, e: &Error) -> AuditRecord {
        let purpose = match e {
            Error::Denied { purpose, .. } => purpose.clone(),
            _ => key
                .purpose
                .clone()
                .or_else(|| {
                    let c = self.catalog.consumers().get(key.caller.consumer_name()?)?;
                    c.default_purpose.clone()
                })
                .unwrap_or_else(|| "-".to_string()),
        };
        let mut rec = AuditRecord::now(action, &key.caller.to_string(), &purpose);
        // The client's list, not the catalog's: capped (with a count of the rest).
        rec.features = match &key.selection {
            FeatureSelection::Features(list) => crate::list_cap::cap_list(list).into(),
            FeatureSelection::Service(s) => {
                vec![format!("service:{}", crate::list_cap::clip(s))].into()
            }
        };
        rec.decision = decision_of(e);
        rec.reasons = reasons_of(e);
        rec
    }
}

fn decision_of(e: &Error) -> AuditDecision {
    match e {
        Error::Denied { .. } => AuditDecision::Deny,
        _ => AuditDecision::Error,
    }
}

/// Why a request failed, for its audit record: at most [`crate::MAX_LISTED`] refusals (and
/// a count of the rest), and error messages of bounded length.
fn reasons_of(e: &Error) -> Vec<String> {
    match e {
        Error::Denied { refusals, .. } => {
            let all: Vec<String> = refusals.iter().map(ToString::to_string).collect();
            crate::list_cap::cap_list(&all)
        }
        other => {
            // The error and its causes (each error prints its cause or exposes it, not both).
            let mut text = other.to_string();
            let mut cause = std::error::Error::source(other);
            while let Some(c) = cause {
                text.push_str("; caused by: ");
                text.push_str(&c.to_string());
                cause = c.source();
            }
            vec![crate::list_cap::clip_to(&text, MAX_REASON_CHARS).into_owned()]
        }
    }
}

/// Characters kept of one error message in an audit record (the message itself lists at
/// most [`crate::MAX_LISTED`] items).
const MAX_REASON_CHARS: usize = 4096;
