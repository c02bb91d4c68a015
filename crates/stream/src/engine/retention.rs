//! Retention applied by a running engine, through the files it holds: the offline logs of
//! its sources and its snapshot of states ([`crate::log_retention`],
//! [`crate::state_retention`]).

use std::sync::Arc;

use super::StreamEngine;
use crate::error::{Error, Result};
use crate::log_retention::{apply_log_retention, LogRetentionReport};

/// What a retention pass of the engine removed (or, without `drop`, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamRetentionReport {
    /// Per source with a retention: its offline log.
    pub logs: Vec<LogRetentionReport>,
    /// Per view with a retention: stored states older than it.
    pub states: Vec<(String, u64)>,
}

impl StreamEngine {
    /// Applies retention: `sources` are (source, cutoff µs) for the offline logs, `views`
    /// (view, cutoff µs) for the stored states. Each source's log is handled while the
    /// source ingests nothing (its lock is held), so no batch is written meanwhile.
    pub async fn apply_retention(
        &self,
        sources: &[(String, i64)],
        views: &[(String, i64)],
        drop: bool,
    ) -> Result<StreamRetentionReport> {
        let mut report = StreamRetentionReport::default();
        for (source, cutoff) in sources {
            let Some(rt) = self.sources.get(source) else {
                continue;
            };
            let rt = rt.lock().await;
            let dir = rt.log_dir.clone();
            let ts = rt.schema.arrow.field(0).name().clone();
            let (source, cutoff) = (source.clone(), *cutoff);
            let log = tokio::task::spawn_blocking(move || {
                apply_log_retention(&dir, &source, &ts, cutoff, drop)
            })
            .await
            .map_err(|e| Error::Task {
                task: "retention of an offline log",
                source: e,
            })??;
            drop_guard(rt);
            report.logs.push(log);
        }
        if !views.is_empty() {
            let snapshots = Arc::clone(&self.snapshots);
            let views = views.to_vec();
            report.states = tokio::task::spawn_blocking(move || snapshots.prune(&views, drop))
                .await
                .map_err(|e| Error::Task {
                    task: "retention of stored states",
                    source: e,
                })??;
        }
        Ok(report)
    }
}

fn drop_guard<T>(_guard: T) {}
