//! One retention pass over every tier Tessera manages (see `docs/RETENTION.md`): the
//! offline logs of stream sources, the stream engine's stored states, the online store,
//! and a device's local store when one is given. Run by `tessera retention apply` and,
//! every `--retention-every`, inside `tessera serve` (through the server's own store and
//! stream engine).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use tessera_core::{retention, Catalog};
use tessera_online::OnlineStore;
use tessera_stream::{LogRetentionReport, StreamEngine};

/// Removed (or, in a dry run, to remove) per tier.
#[derive(Debug, Default)]
pub(crate) struct RetentionReport {
    /// Only counted, nothing deleted.
    pub dry_run: bool,
    /// The instant the cutoffs are computed from (µs since the epoch).
    pub now_us: i64,
    /// Per stream source with a retention: its offline log.
    pub logs: Vec<(LogRetentionReport, i64)>,
    /// Per view with a retention: states of the stream engine removed.
    pub states: Vec<(String, u64)>,
    /// Per view with a retention: online-store rows removed, with the cutoff.
    pub online: Vec<(String, u64, i64)>,
    /// Per device view with a retention: local-store rows removed.
    pub device: Vec<(String, u64)>,
    /// Tiers left alone, and why.
    pub notes: Vec<String>,
}

impl RetentionReport {
    /// Rows (and states) removed in all.
    pub(crate) fn total(&self) -> u64 {
        self.logs.iter().map(|(l, _)| l.removed_rows).sum::<u64>()
            + self.states.iter().map(|s| s.1).sum::<u64>()
            + self.online.iter().map(|o| o.1).sum::<u64>()
            + self.device.iter().map(|d| d.1).sum::<u64>()
    }

    /// One line for the audit record's detail.
    pub(crate) fn summary(&self) -> String {
        let files: usize = self
            .logs
            .iter()
            .map(|(l, _)| l.dropped_files + l.rewritten_files)
            .sum();
        format!(
            "{}offline_log_rows={} offline_log_files={} stream_states={} online_rows={} device_rows={}",
            if self.dry_run { "dry_run " } else { "" },
            self.logs.iter().map(|(l, _)| l.removed_rows).sum::<u64>(),
            files,
            self.states.iter().map(|s| s.1).sum::<u64>(),
            self.online.iter().map(|o| o.1).sum::<u64>(),
            self.device.iter().map(|d| d.1).sum::<u64>(),
        )
    }
}

/// A stream source with a retention: (source, log directory, event-time column, cutoff).
type SourceCut = (String, PathBuf, String, i64);

/// The [`SourceCut`] of every stream source with a retention, and the (view, cutoff) of
/// every view with one.
fn cutoffs(root: &Path, catalog: &Catalog, now_us: i64) -> (Vec<SourceCut>, Vec<(String, i64)>) {
    let sources = catalog
        .sources()
        .values()
        .filter(|s| s.stream.is_some())
        .filter_map(|s| {
            let r = retention::of_source(s)?;
            Some((
                s.name.clone(),
                s.resolved_path(root),
                s.timestamp_field.clone(),
                retention::cutoff_us(r, now_us),
            ))
        })
        .collect();
    let views = catalog
        .feature_views()
        .values()
        .filter_map(|v| {
            Some((
                v.name.clone(),
                retention::cutoff_us(retention::of_view(catalog, v)?, now_us),
            ))
        })
        .collect();
    (sources, views)
}

/// Where a pass runs: the online store, and the stream engine when this process runs one
/// (else the engine's files are opened, if no other process holds them).
pub(crate) struct Tiers<'a> {
    pub root: &'a Path,
    pub catalog: &'a Catalog,
    pub store: Option<Arc<dyn OnlineStore>>,
    pub engine: Option<&'a StreamEngine>,
    pub device_dir: Option<&'a Path>,
}

/// Runs one pass at `now_us`; with `drop` false, only counts.
pub(crate) async fn run_pass(t: Tiers<'_>, now_us: i64, drop: bool) -> Result<RetentionReport> {
    let (sources, views) = cutoffs(t.root, t.catalog, now_us);
    let mut report = RetentionReport {
        dry_run: !drop,
        now_us,
        ..Default::default()
    };
    let device_views: std::collections::HashSet<&str> = t
        .catalog
        .feature_views()
        .values()
        .filter(|v| {
            t.catalog
                .sources()
                .get(&v.source)
                .is_some_and(|s| s.source_type == tessera_core::SourceType::Device)
        })
        .map(|v| v.name.as_str())
        .collect();
    let stream_views: Vec<(String, i64)> = views
        .iter()
        .filter(|(v, _)| {
            t.catalog.feature_views().get(v).is_some_and(|v| {
                t.catalog
                    .sources()
                    .get(&v.source)
                    .is_some_and(|s| s.stream.is_some())
            })
        })
        .cloned()
        .collect();
    // Offline logs and stream states.
    if let Some(engine) = t.engine {
        let cuts: Vec<(String, i64)> = sources.iter().map(|s| (s.0.clone(), s.3)).collect();
        let r = engine
            .apply_retention(&cuts, &stream_views, drop)
            .await
            .context("applying retention through the stream engine")?;
        for l in r.logs {
            let cut = cuts.iter().find(|c| c.0 == l.source).map_or(0, |c| c.1);
            report.logs.push((l, cut));
        }
        report.states = r.states;
    } else {
        for (name, dir, ts, cut) in &sources {
            let (name2, dir, ts, cut2) = (name.clone(), dir.clone(), ts.clone(), *cut);
            let l = tokio::task::spawn_blocking(move || {
                tessera_stream::apply_log_retention(&dir, &name2, &ts, cut2, drop)
            })
            .await
            .context("the retention task failed")?
            .with_context(|| format!("applying retention to the offline log of `{name}`"))?;
            report.logs.push((l, *cut));
        }
        if !stream_views.is_empty() {
            let root = t.root.to_path_buf();
            let views = stream_views.clone();
            let r = tokio::task::spawn_blocking(move || {
                tessera_stream::apply_state_retention_files(&root, &views, drop)
            })
            .await
            .context("the retention task failed")?;
            match r {
                Ok(states) => report.states = states,
                Err(e) => report.notes.push(format!(
                    "stream states skipped: {e} (a running `tessera serve`/`ingest` applies retention to them itself)"
                )),
            }
        }
    }
    let batch_with_retention: Vec<&str> = t
        .catalog
        .sources()
        .values()
        .filter(|s| s.stream.is_none() && s.source_type != tessera_core::SourceType::Device)
        .filter(|s| retention::of_source(s).is_some())
        .map(|s| s.name.as_str())
        .collect();
    if !batch_with_retention.is_empty() {
        report.notes.push(format!(
            "batch sources {} are not Tessera's files: left as they are, their older rows are filtered out of every read",
            batch_with_retention.join(", ")
        ));
    }
    // The online store.
    if let Some(store) = &t.store {
        for (view, cut) in views
            .iter()
            .filter(|(v, _)| !device_views.contains(v.as_str()))
        {
            let online = t
                .catalog
                .feature_views()
                .get(view)
                .is_some_and(|v| v.online && v.provider == tessera_core::ViewProvider::Online);
            if !online {
                continue;
            }
            let rows = store.rows_before(view, *cut, drop).await.with_context(|| {
                format!(
                    "applying retention to view `{view}` in the {} store",
                    store.name()
                )
            })?;
            report.online.push((view.clone(), rows.len() as u64, *cut));
        }
    }
    // A device's local store.
    if let Some(dir) = t.device_dir {
        let local = tessera_edge::LocalStore::open(&dir.join("store"), Arc::new(t.catalog.clone()))
            .with_context(|| format!("opening the device store in {}", dir.display()))?;
        report.device = local
            .apply_retention(now_us, drop)
            .await
            .context("applying retention to the device store")?;
    }
    Ok(report)
}
