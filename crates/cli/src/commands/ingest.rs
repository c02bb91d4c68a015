//! `tessera ingest`: consume the repository's stream sources from NATS JetStream into the
//! online store (and their offline logs) until SIGTERM or Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use tessera_stream::{StreamConfig, StreamEngine};

use super::registered_catalog;
use crate::engine_owner::EngineOwner;

/// Arguments of `tessera ingest`.
#[derive(Debug, Clone, Args)]
pub(crate) struct IngestArgs {
    /// The feature repository (uses its latest registered version).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Only these stream sources (default: every source with `stream.nats`).
    #[arg(long, value_delimiter = ',')]
    pub sources: Vec<String>,
    /// Print a line every N batches (0: only at the end).
    #[arg(long, default_value_t = 50)]
    pub report_every: u64,
}

/// The repository's tombstones (erased entities), as the engine and the server check them.
pub(crate) fn tombstones(repo: &std::path::Path) -> Result<Arc<tessera_access::Tombstones>> {
    Ok(Arc::new(tessera_access::Tombstones::open(
        repo.join(crate::erasure::tombstones::TOMBSTONES),
        super::serve::privacy_hasher(repo)?,
    )))
}

/// Opens the stream engine of a repository over its online store, after claiming it for
/// this process (`command` says what runs it, e.g. `tessera serve`): a second process on
/// the same repository is refused with the first one's pid and address.
pub(crate) async fn open_engine(
    repo: &std::path::Path,
    catalog: Arc<tessera_core::Catalog>,
    store: Arc<dyn tessera_online::OnlineStore>,
    command: &str,
    tombstones: Arc<tessera_access::Tombstones>,
) -> Result<(Arc<StreamEngine>, EngineOwner)> {
    let owner = EngineOwner::claim(repo, command)?;
    let cfg = tessera_core::FeatureRepo::load_config(repo)?;
    let config = StreamConfig {
        future: tessera_online::FutureBound::of_repo(&cfg),
        // Events of erased entities are dropped: a redelivery cannot bring them back.
        erased: Some(Arc::new(move |name: &str, text: &str| {
            tombstones.is_erased(name, text)
        })),
        ..StreamConfig::default()
    };
    let engine = StreamEngine::open(repo, catalog, store, config)
        .await
        .context("opening the stream engine")?;
    let engine = Arc::new(engine);
    spawn_compaction(&engine, &cfg.offline_log);
    Ok((engine, owner))
}

/// Compacts the offline logs every `offline_log.compact_every` while the engine lives.
fn spawn_compaction(engine: &Arc<StreamEngine>, cfg: &tessera_core::OfflineLogConfig) {
    let every = cfg.compact_every.0;
    if every.is_zero() {
        return;
    }
    let settings = tessera_stream::CompactionSettings::from(cfg);
    let engine = Arc::downgrade(engine);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(engine) = engine.upgrade() else {
                return;
            };
            match engine.compact_logs(&settings).await {
                Ok(reports) => {
                    for r in reports
                        .iter()
                        .filter(|r| r.written_files + r.removed_files > 0)
                    {
                        eprintln!(
                            "compact: {}: merged {} files into {} ({} rows), deleted {} superseded; {} files to read",
                            r.source, r.merged_files, r.written_files, r.rows, r.removed_files, r.live_files
                        );
                    }
                }
                Err(e) => eprintln!(
                    "compact: the offline log compaction failed (retried in {}): {e}",
                    cfg_span(every)
                ),
            }
        }
    });
}

fn cfg_span(d: std::time::Duration) -> String {
    tessera_core::Span(d).to_string()
}

/// On clean shutdown: writes the states still on their way to the online store and a
/// snapshot of the changed ones (so the next start replays nothing).
pub(crate) async fn finish_engine(engine: &StreamEngine) -> Result<()> {
    engine
        .flush()
        .await
        .context("writing the last aggregation states to the online store")?;
    engine
        .snapshot()
        .await
        .context("writing the stream checkpoint's snapshot")
}

/// The stream sources that consume from NATS, with their settings.
pub(crate) fn nats_sources(
    catalog: &tessera_core::Catalog,
    only: &[String],
) -> Result<Vec<(String, tessera_core::NatsDef)>> {
    for s in only {
        match catalog.sources().get(s) {
            None => bail!(
                "unknown source `{s}` (hint: {}`tessera catalog` lists the sources)",
                tessera_core::did_you_mean(s, catalog.sources().keys().map(String::as_str))
                    .map_or(String::new(), |c| format!("did you mean `{c}`? "))
            ),
            Some(d) if d.stream.as_ref().and_then(|st| st.nats.as_ref()).is_none() => {
                bail!("source `{s}` has no `stream.nats` settings (hint: add `nats: {{ subject: ..., durable: ... }}` under its `stream:`)")
            }
            Some(_) => {}
        }
    }
    Ok(catalog
        .sources()
        .values()
        .filter(|s| only.is_empty() || only.contains(&s.name))
        .filter_map(|s| {
            let n = s.stream.as_ref()?.nats.clone()?;
            Some((s.name.clone(), n))
        })
        .collect())
}

/// Runs `tessera ingest`.
pub(crate) async fn run(args: &IngestArgs) -> Result<()> {
    let (catalog, version) = registered_catalog(&args.repo)?;
    let cfg = tessera_core::FeatureRepo::load_config(&args.repo)?;
    let sources = nats_sources(&catalog, &args.sources)?;
    if sources.is_empty() {
        bail!("no stream source consumes from NATS (hint: declare `type: stream` with `stream: {{ nats: {{ subject: ..., durable: ... }} }}`, or push events over HTTP with `tessera serve`)");
    }
    let store = tessera_online::open_store(&cfg, &args.repo)
        .await
        .context("opening the online store")?;
    let catalog = Arc::new(catalog);
    let (engine, _owner) = open_engine(
        &args.repo,
        catalog,
        store.clone(),
        "tessera ingest",
        tombstones(&args.repo)?,
    )
    .await?;
    eprintln!(
        "ingesting {} from NATS into the {} online store (registry version {version}); stop with Ctrl-C or SIGTERM",
        sources
            .iter()
            .map(|(s, n)| format!("`{s}` (subject {}, durable {})", n.subject, n.durable))
            .collect::<Vec<_>>()
            .join(", "),
        store.name()
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        tessera_server::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (name, nats) in sources {
        let engine = engine.clone();
        let mut rx = stop_rx.clone();
        let every = args.report_every;
        tasks.push(tokio::spawn(async move {
            let batches = std::sync::atomic::AtomicU64::new(0);
            let stats = tessera_stream::nats_source::consume(
                &engine,
                &name,
                &nats,
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                },
                |s| {
                    let b = batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if every > 0 && b.is_multiple_of(every) {
                        println!(
                            "{name}: {} messages, {} applied, {} duplicates, {} late/future, {} malformed",
                            s.messages, s.applied, s.duplicates, s.dropped, s.bad
                        );
                    }
                },
            )
            .await;
            (name, stats)
        }));
    }
    let mut failed: Option<anyhow::Error> = None;
    let mut stopped = Vec::new();
    for t in tasks {
        stopped.push(t.await.context("an ingest task panicked")?);
    }
    // Acked batches are durable already; this writes the states still on their way to the
    // online store and a snapshot, so the next start replays nothing.
    if let Err(e) = finish_engine(&engine).await {
        eprintln!("{e:#}");
        failed.get_or_insert(e);
    }
    for (name, stats) in stopped {
        match stats {
            Ok(s) => println!(
                "{name}: stopped after {:.1}s: {} messages, {} applied, {} duplicates, {} late/future, {} malformed",
                started.elapsed().as_secs_f64(),
                s.messages,
                s.applied,
                s.duplicates,
                s.dropped,
                s.bad
            ),
            Err(e) => {
                // Errors can quote the events' text, which publishers chose.
                eprintln!("{name}: {}", crate::terminal_text::escaped(&e.to_string()));
                failed = Some(e.into());
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
