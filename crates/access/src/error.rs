//! The one error type of this crate, and how callers should treat each error.

use std::time::Duration;

use tessera_core::Refusal;

use crate::entity_rows::KeyType;
use crate::provider::ProviderKind;

/// What kind of failure an [`Error`] is, so a protocol layer can pick a status code without
/// matching every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request is wrong; the caller must change it.
    Input,
    /// The request is too large (too many entities); split it.
    TooLarge,
    /// The policy gate refused the read or write.
    Denied,
    /// A dependency (online store, audit log) is unavailable or too slow; retrying may work.
    Unavailable,
    /// A bug or damaged data.
    Internal,
}

/// Errors from the access layer. Every message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The stream engine could not apply pushed events; nothing was acknowledged.
    #[error("the events of stream source `{source_name}` could not be applied: {message} (hint: retry; already applied events are recognised by their id)")]
    Ingest {
        /// The stream source.
        source_name: String,
        /// What failed.
        message: String,
    },
    /// The target cannot take rows this way.
    #[error("{message}")]
    NotWritable {
        /// What to do instead.
        message: String,
    },
    /// Feature references that do not parse or do not resolve; each entry names one.
    #[error("{}", crate::list_cap::join_capped(.problems, "; "))]
    UnknownFeatures {
        /// One message per bad reference, with the known names.
        problems: Vec<String>,
    },
    /// A named object (feature service, feature view, push source, purpose) is not registered.
    #[error("unknown {kind} `{name}`{hint}")]
    Unknown {
        /// `feature service`, `feature view`, `push source`, `purpose`.
        kind: &'static str,
        /// The name given.
        name: String,
        /// The known names, starting with a space, or empty.
        hint: String,
    },
    /// The request names no features.
    #[error("the request names no features (hint: list `view:feature` references in `features`, or name a `feature_service`)")]
    NoFeatures,
    /// The request names both features and a feature service.
    #[error("the request names both `features` and a `feature_service` (hint: send one of them)")]
    FeaturesAndService,
    /// A feature view is not served online.
    #[error("feature view `{view}` is not served online (it is declared with `online: false`)")]
    NotOnline {
        /// The view.
        view: String,
    },
    /// No purpose was given and none could be derived.
    #[error("the request names no purpose and {who} has no default purpose (hint: send the purpose in the `X-Tessera-Purpose` header or the `purpose` field, or set `default_purpose` on the consumer)")]
    MissingPurpose {
        /// `consumer `ranker`` or `this server`.
        who: String,
    },
    /// The policy gate refused the read: nothing is returned, every refusal is listed.
    #[error("{consumer} may not read this for purpose `{purpose}`: {}", list(.refusals))]
    Denied {
        /// The consumer (or `anonymous`).
        consumer: String,
        /// The purpose of the read.
        purpose: String,
        /// Every refused feature (or the whole request) and why.
        refusals: Vec<Refusal>,
    },
    /// Entity columns have different lengths.
    #[error("entity columns have different lengths: {lengths} (hint: give one value per entity in every join-key column)")]
    RaggedEntities {
        /// `user_id: 3, item_id: 2`.
        lengths: String,
    },
    /// A join key is given twice.
    #[error("join key `{key}` is given twice (hint: give each join key once, as one column with a value per entity)")]
    RepeatedJoinKey {
        /// The join key.
        key: String,
    },
    /// A join key a requested view needs is missing.
    #[error("feature view `{view}` needs join key `{key}`, which the request does not give (given: {given})")]
    MissingJoinKey {
        /// The join key.
        key: String,
        /// The view that needs it.
        view: String,
        /// The join keys the request gives.
        given: String,
    },
    /// A join key no requested view uses (often a typo).
    #[error("join key `{key}` is not used by any requested feature view (hint: the requested views use: {needed})")]
    UnusedJoinKey {
        /// The join key given.
        key: String,
        /// The join keys the requested views use.
        needed: String,
    },
    /// A join-key value has the wrong type.
    #[error(
        "join key `{key}` holds {expected} values, but entity {row} is {got} (hint: send {hint})"
    )]
    WrongKeyType {
        /// The join key.
        key: String,
        /// The type it holds.
        expected: KeyType,
        /// The 0-based entity index.
        row: usize,
        /// The value given, described.
        got: String,
        /// How to write it.
        hint: &'static str,
    },
    /// Too many entities in one request.
    #[error("the request has {given} entities; this server accepts at most {max} per request (hint: split it into several requests)")]
    TooManyEntities {
        /// Entities given.
        given: usize,
        /// The limit.
        max: usize,
    },
    /// Two requested features have the same short name.
    #[error("features {first} and {second} are both named `{name}` (hint: ask for full feature names, `view__feature`)")]
    NameCollision {
        /// The shared short name.
        name: String,
        /// The first reference.
        first: String,
        /// The second reference.
        second: String,
    },
    /// Rows to write do not match the view: every problem found (up to a limit) is listed.
    #[error("cannot write to `{target}`: {}", crate::list_cap::join_capped(.problems, "; "))]
    BadRows {
        /// The view or push source.
        target: String,
        /// One message per problem.
        problems: Vec<String>,
    },
    /// The online store failed.
    #[error("the online store failed")]
    Store(#[source] tessera_online::Error),
    /// The online store did not answer in time.
    #[error("the {store} online store did not answer within {after:?}")]
    StoreTimeout {
        /// `embedded`, `redis`.
        store: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// A consumer tried to write to a feature view its `writes:` does not cover; nothing was
    /// written.
    #[error("consumer `{consumer}` may not write to {target}: its `writes:` does not cover {uncovered} (hint: add {hint} to `writes:` of consumer `{consumer}` in the definitions, or write as a consumer that may)")]
    WriteDenied {
        /// The consumer.
        consumer: String,
        /// What the write named: ``push source `s` `` or ``feature view `v` ``.
        target: String,
        /// The target views it may not write: ``feature views `v1`, `v2` ``.
        uncovered: String,
        /// What to add: `` `s` (or the names of its views) ``.
        hint: String,
    },
    /// No provider of this access layer can answer a feature.
    #[error("no {kind} provider can answer {feature} here (hint: {hint})")]
    NoProvider {
        /// The feature.
        feature: String,
        /// The kind of provider it needs.
        kind: ProviderKind,
        /// What to do.
        hint: &'static str,
    },
    /// The access layer has no online store (a device's), so it cannot take writes.
    #[error(
        "this access layer has no online store to write to (hint: write through a Tessera server)"
    )]
    NoStore,
    /// A request-context field an on-demand feature needs is not in the request.
    #[error("{feature} needs the request-context field `{field}` ({expected}), which the request does not give (hint: send it in `context`, e.g. \"context\": {{\"{field}\": …}})")]
    MissingContext {
        /// The on-demand feature.
        feature: String,
        /// The field.
        field: String,
        /// Its declared type.
        expected: tessera_expr::ExprType,
    },
    /// A request-context field of the wrong type.
    #[error("request-context field `{field}` of {feature} must be {expected}, not {got}")]
    BadContext {
        /// The on-demand feature.
        feature: String,
        /// The field.
        field: String,
        /// Its declared type.
        expected: tessera_expr::ExprType,
        /// What was given.
        got: String,
    },
    /// An on-demand expression could not be evaluated (a bug: inputs are typed).
    #[error("evaluating {feature} failed")]
    Expression {
        /// The on-demand feature.
        feature: String,
        /// Why.
        #[source]
        source: tessera_expr::Error,
    },
    /// A provider failed; nothing is returned.
    #[error("the {kind} provider `{name}` failed")]
    Provider {
        /// Its kind.
        kind: ProviderKind,
        /// Its name.
        name: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A provider answered with the wrong shape (a bug in the provider).
    #[error("the {kind} provider `{name}` answered {got} columns of {rows} values for {want} features of {entities} entities")]
    ProviderShape {
        /// Its kind.
        kind: ProviderKind,
        /// Its name.
        name: String,
        /// Columns returned.
        got: usize,
        /// Values in the first wrong column (or 0).
        rows: usize,
        /// Features asked for.
        want: usize,
        /// Entities asked for.
        entities: usize,
    },
    /// A feature's minimisation cannot be applied in this process (its pseudonymisation
    /// key is unset); nothing is returned, never the raw value.
    #[error("cannot minimise `{feature}`")]
    Minimise {
        /// The feature.
        feature: String,
        /// Why.
        #[source]
        source: tessera_core::Error,
    },
    /// The read or write could not be audited, so it was refused (reads fail closed).
    #[error("the audit log is unavailable, so the request was refused")]
    Audit(#[source] tessera_audit::Error),
    /// The consent log cannot be read, so a read for a purpose that requires consent was
    /// refused (it fails closed).
    #[error("the consent log is unavailable, so the read was refused")]
    Consent(#[source] tessera_consent::Error),
}

fn list(refusals: &[Refusal]) -> String {
    let items: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    crate::list_cap::join_capped(&items, "; ")
}

impl Error {
    /// How a caller should treat this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::UnknownFeatures { .. }
            | Error::Unknown { .. }
            | Error::NoFeatures
            | Error::FeaturesAndService
            | Error::NotOnline { .. }
            | Error::MissingPurpose { .. }
            | Error::RaggedEntities { .. }
            | Error::RepeatedJoinKey { .. }
            | Error::MissingJoinKey { .. }
            | Error::UnusedJoinKey { .. }
            | Error::WrongKeyType { .. }
            | Error::NameCollision { .. }
            | Error::BadRows { .. } => ErrorClass::Input,
            Error::TooManyEntities { .. } => ErrorClass::TooLarge,
            Error::Denied { .. } | Error::WriteDenied { .. } => ErrorClass::Denied,
            Error::StoreTimeout { .. }
            | Error::Audit(_)
            | Error::Minimise { .. }
            | Error::Consent(_)
            | Error::Ingest { .. } => ErrorClass::Unavailable,
            Error::NotWritable { .. }
            | Error::NoProvider { .. }
            | Error::NoStore
            | Error::MissingContext { .. }
            | Error::BadContext { .. } => ErrorClass::Input,
            Error::Provider { .. } => ErrorClass::Unavailable,
            Error::ProviderShape { .. } | Error::Expression { .. } => ErrorClass::Internal,
            Error::Store(e) => match e {
                tessera_online::Error::InvalidKey { .. }
                | tessera_online::Error::BadBatch { .. } => ErrorClass::Input,
                tessera_online::Error::Backend { .. } | tessera_online::Error::Open { .. } => {
                    ErrorClass::Unavailable
                }
                _ => ErrorClass::Internal,
            },
        }
    }

    /// A stable, machine-readable code: `unknown_feature`, `denied`, …
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownFeatures { .. } => "unknown_feature",
            Error::Unknown { kind, .. } => match *kind {
                "feature service" => "unknown_feature_service",
                "feature view" => "unknown_feature_view",
                "push source" => "unknown_push_source",
                "purpose" => "unknown_purpose",
                _ => "unknown_name",
            },
            Error::NoFeatures => "no_features",
            Error::FeaturesAndService => "features_and_service",
            Error::NotOnline { .. } => "view_not_online",
            Error::MissingPurpose { .. } => "missing_purpose",
            Error::Denied { .. } => "denied",
            Error::WriteDenied { .. } => "write_denied",
            Error::RaggedEntities { .. } => "ragged_entities",
            Error::RepeatedJoinKey { .. } => "repeated_join_key",
            Error::MissingJoinKey { .. } => "missing_join_key",
            Error::UnusedJoinKey { .. } => "unused_join_key",
            Error::WrongKeyType { .. } => "wrong_key_type",
            Error::TooManyEntities { .. } => "too_many_entities",
            Error::NameCollision { .. } => "feature_name_collision",
            Error::BadRows { .. } => "bad_rows",
            Error::Store(_) => "store_failed",
            Error::StoreTimeout { .. } => "store_timeout",
            Error::Audit(_) => "audit_unavailable",
            Error::Consent(_) => "consent_unavailable",
            Error::Ingest { .. } => "ingest_failed",
            Error::NotWritable { .. } => "not_writable",
            Error::NoProvider { .. } => "no_provider",
            Error::NoStore => "no_online_store",
            Error::MissingContext { .. } => "missing_context",
            Error::BadContext { .. } => "bad_context",
            Error::Expression { .. } => "internal",
            Error::Provider { .. } => "provider_failed",
            Error::ProviderShape { .. } => "internal",
            Error::Minimise { .. } => "minimise_unavailable",
        }
    }
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
