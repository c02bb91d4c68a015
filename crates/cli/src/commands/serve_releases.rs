//! What runs `POST /v1/releases` for `tessera serve`: declared and ad-hoc releases over
//! the repository's sources, charged to the consumer's budget (`tessera_dp`; an ad-hoc
//! query passes the policy gate first).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use tessera_core::{Catalog, EntityHasher, ReleaseCostDef};
use tessera_dp::sample::ChaChaSource;
use tessera_dp::{ReleaseContext, ReleaseRequest, TimeRange};
use tessera_server::{error_chain, ReleaseCall, ReleaseDone, ReleaseFailure, Releaser};

/// Runs the releases of one repository.
#[derive(Debug)]
pub(crate) struct LiveReleaser {
    /// The repository root.
    pub root: PathBuf,
    /// The catalog the server serves.
    pub catalog: Arc<Catalog>,
    /// The repository's privacy key.
    pub hasher: Arc<EntityHasher>,
}

fn time(field: &str, t: Option<&str>) -> Result<Option<i64>, ReleaseFailure> {
    t.map(|t| {
        tessera_consent::parse_time(t).map_err(|_| {
            ReleaseFailure::Invalid(format!(
                "`{field}` is not a time (hint: RFC 3339, e.g. 2026-01-31T00:00:00Z, or YYYY-MM-DD)"
            ))
        })
    })
    .transpose()
}

#[async_trait::async_trait]
impl Releaser for LiveReleaser {
    async fn release(
        &self,
        consumer: &str,
        purpose: &str,
        call: ReleaseCall,
    ) -> Result<ReleaseDone, ReleaseFailure> {
        let (def, adhoc) = call.release_def(&self.catalog)?;
        let range = TimeRange {
            from_us: time("from", call.from.as_deref())?,
            to_us: time("to", call.to.as_deref())?,
        };
        let erased: HashSet<String> = crate::erasure::tombstones::load(&self.root)
            .map_err(|e| ReleaseFailure::Failed(format!("{e:#}")))?
            .into_iter()
            .collect();
        let cx = ReleaseContext {
            root: &self.root,
            catalog: &self.catalog,
            hasher: self.hasher.clone(),
            erased: &erased,
        };
        let read = match (&def.source, &def.view) {
            (Some(s), _) => format!("source:{s}"),
            (_, Some(v)) => format!("view:{v}"),
            _ => "-".into(),
        };
        let req = ReleaseRequest {
            release: def,
            consumer: consumer.to_string(),
            purpose: purpose.to_string(),
            cost: (call.rho.is_some() || call.epsilon.is_some()).then_some(ReleaseCostDef {
                rho: call.rho,
                epsilon: call.epsilon,
            }),
            range,
            adhoc,
        };
        let mut rng =
            ChaChaSource::from_os().map_err(|e| ReleaseFailure::Failed(error_chain(&e)))?;
        let now = chrono::Utc::now().timestamp_micros();
        match tessera_dp::run_release(&cx, &req, &mut rng, now).await {
            Ok(answer) => Ok(ReleaseDone {
                answer: serde_json::to_value(&answer)
                    .map_err(|e| ReleaseFailure::Failed(e.to_string()))?,
                audit_detail: answer.audit_detail(),
                read,
                groups: answer.groups.len() as u64,
            }),
            Err(e) if e.is_refusal() => Err(ReleaseFailure::Refused(error_chain(&e))),
            Err(
                e @ (tessera_dp::Error::Query { .. }
                | tessera_dp::Error::BadParameter(_)
                | tessera_dp::Error::Core(_)),
            ) => Err(ReleaseFailure::Invalid(error_chain(&e))),
            Err(e) => Err(ReleaseFailure::Failed(error_chain(&e))),
        }
    }
}
