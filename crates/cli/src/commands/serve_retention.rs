//! The periodic retention pass of `tessera serve` (every `--retention-every`, default 1 h;
//! `0s` turns it off): the same pass as `tessera retention apply`, through the server's
//! own online store and stream engine, so it runs beside live traffic. Each run is audited
//! (action `retention`, consumer `server`) and logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tessera_access::AccessLayer;
use tessera_stream::StreamEngine;
use tokio::sync::watch;

use super::retention_pass::{run_pass, Tiers};

/// The default interval of the pass.
pub(crate) const DEFAULT_EVERY: &str = "1h";

/// Starts the pass every `every` until `stop` is set, if any source or view declares a
/// retention.
pub(crate) fn spawn(
    every: Duration,
    root: PathBuf,
    access: Arc<AccessLayer>,
    engine: Option<Arc<StreamEngine>>,
    mut stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let catalog = access.catalog();
    let any = catalog.sources().values().any(|s| s.retention.is_some())
        || catalog
            .feature_views()
            .values()
            .any(|v| v.retention.is_some());
    if every.is_zero() || !any {
        return None;
    }
    eprintln!(
        "retention: applied every {} (--retention-every)",
        humantime_like(every)
    );
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let started = std::time::Instant::now();
            let tiers = Tiers {
                root: &root,
                catalog: access.catalog(),
                store: access.store().cloned(),
                engine: engine.as_deref(),
                device_dir: None,
            };
            match run_pass(tiers, chrono::Utc::now().timestamp_micros(), true).await {
                Ok(report) => {
                    let mut rec = super::retention::audit_record(&report, "server");
                    rec.latency_us = started.elapsed().as_micros() as u64;
                    // Audited first, then logged: whoever sees the log line finds the record.
                    if let Err(e) = access.audit().record(rec).await {
                        tracing::error!("retention pass: the audit record was not written: {e}");
                    }
                    tracing::info!("retention pass: {}", report.summary());
                }
                Err(e) => tracing::error!("retention pass failed: {e:#}"),
            }
        }
    }))
}

fn humantime_like(d: Duration) -> String {
    let us = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    tessera_core::aggregate::Window::duration(us)
        .map_or_else(|_| format!("{d:?}"), |w| w.to_string())
}
