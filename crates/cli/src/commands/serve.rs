//! `tessera serve`: the feature server (Feast-compatible and native HTTP APIs) over the
//! repository's registered definitions and online store.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use arrow::datatypes::DataType;
use clap::{Args, ValueEnum};
use tessera_access::{AccessConfig, AccessLayer, KeyType};
use tessera_audit::AuditSink;
use tessera_core::{Catalog, FeatureRepo};
use tessera_server::{
    flush_audit, serve_grpc, serve_http, shutdown_signal, AppState, Auth, Limits, Metrics,
    TokenTable,
};
use tokio::sync::watch;

use super::registered_catalog;

/// How `tessera serve` authenticates requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AuthMode {
    /// `Authorization: Bearer <token>`; each consumer's token is read at startup from the
    /// environment variable its `token_env` names.
    Bearer,
    /// No authentication: every request is anonymous (local development only; reads still
    /// need a purpose, from the request or --default-purpose).
    None,
}

/// Arguments of `tessera serve`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// The feature repository (serves its latest registered version).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Address to listen on (HTTP).
    #[arg(long, default_value = "127.0.0.1:6566")]
    pub addr: SocketAddr,
    /// Also serve the gRPC API (tessera.serving.v1.FeatureService) on this address.
    #[arg(long)]
    pub grpc_addr: Option<SocketAddr>,
    /// How requests are authenticated. `none` is for local development only.
    #[arg(long, value_enum, default_value_t = AuthMode::Bearer)]
    pub auth: AuthMode,
    /// With `--auth none`: the purpose of reads that name none.
    #[arg(long)]
    pub default_purpose: Option<String>,
    /// The most entities one read may ask for (and rows one push may carry, x10).
    #[arg(long, default_value_t = 1000)]
    pub max_entities: usize,
    /// The largest request body (or gRPC message), in bytes [default: 4194304, or
    /// `server.max_body_bytes` in tessera.yaml].
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// How long one online-store call may take (503 beyond); a duration: `500ms`, `2s`.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = tessera_core::parse_duration_flag)]
    pub store_timeout: Duration,
    /// How long a client may take to send a request body; a duration [default: 10s, or
    /// `server.body_read_timeout`].
    #[arg(long, value_name = "DURATION", value_parser = tessera_core::parse_duration_flag)]
    pub body_timeout: Option<Duration>,
    /// How long a client may take to send request headers; a duration [default: 10s, or
    /// `server.header_read_timeout`].
    #[arg(long, value_name = "DURATION", value_parser = tessera_core::parse_duration_flag)]
    pub header_timeout: Option<Duration>,
    /// How long a connection with no request in progress stays open; a duration
    /// [default: 60s, or `server.idle_timeout`].
    #[arg(long, value_name = "DURATION", value_parser = tessera_core::parse_duration_flag)]
    pub idle_timeout: Option<Duration>,
    /// Connections served at once [default: 4096, or `server.max_connections`]; a reserve
    /// beyond them (`server.reserved_connections`, default 64) answers only /health and
    /// /metrics.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Do not consume stream sources from NATS. HTTP pushes to stream sources are still
    /// applied by this server's stream engine, which holds the repository's stream
    /// checkpoint: only one process may ingest a repository's streams, so `tessera ingest`
    /// cannot run beside it.
    #[arg(long)]
    pub no_nats: bool,
    /// On SIGTERM / Ctrl-C, how long to wait for in-flight requests; a duration [default:
    /// 30s, or `server.drain_timeout`].
    #[arg(long, value_name = "DURATION", value_parser = tessera_core::parse_duration_flag)]
    pub drain_timeout: Option<Duration>,
    /// How often to delete data older than its retention (`retention:` on sources and
    /// views), as `tessera retention apply` does; `0s` turns it off.
    #[arg(long, value_name = "DURATION", default_value = super::serve_retention::DEFAULT_EVERY, value_parser = tessera_core::parse_duration_flag)]
    pub retention_every: Duration,
}

/// What [`prepare`] builds: the server state over the registered definitions.
pub(crate) struct Prepared {
    /// Shared by the HTTP and gRPC servers.
    pub state: AppState,
    /// The registry version served.
    pub version: u64,
    /// The online store's name (`embedded`, `redis`).
    pub store_name: &'static str,
    /// The stream engine, when the registered version has stream sources.
    pub engine: Option<Arc<tessera_stream::StreamEngine>>,
    /// This process's claim on the stream engine (released when dropped).
    pub engine_owner: Option<crate::engine_owner::EngineOwner>,
}

/// Opens the registered catalog, the online store and the audit log and builds the server
/// state. `auth` overrides `--auth` (the demo hands in its own tokens).
pub(crate) async fn prepare(args: &ServeArgs, auth: Option<Auth>) -> Result<Prepared> {
    if args.default_purpose.is_some() && args.auth != AuthMode::None {
        bail!("--default-purpose applies only with --auth none (authenticated consumers use their own `default_purpose`)");
    }
    let (catalog, version) = registered_catalog(&args.repo)?;
    let cfg = FeatureRepo::load_config(&args.repo)?;
    if let Some(p) = &args.default_purpose {
        catalog.purpose(p)?;
    }
    let auth = match (auth, args.auth) {
        (Some(auth), _) => auth,
        (None, AuthMode::None) => {
            eprintln!("warning: authentication is OFF (--auth none): every request is served as `anonymous`; use this for local development only");
            Auth::None
        }
        (None, AuthMode::Bearer) => {
            let (table, missing) = TokenTable::from_env(&catalog)?;
            for m in &missing {
                eprintln!("warning: consumer {m} has no token in its environment variable; it cannot call this server");
            }
            eprintln!(
                "auth: bearer tokens for consumers {}",
                table.consumers().collect::<Vec<_>>().join(", ")
            );
            Auth::Bearer(Arc::new(table))
        }
    };
    let store = tessera_online::open_store(&cfg, &args.repo)
        .await
        .context("opening the online store")?;
    let key_types = join_key_types(&catalog, &args.repo).await;
    let audit = Arc::new(
        AuditSink::spawn(
            super::audit::open_log(&args.repo, &cfg),
            super::audit::sink_config(&cfg),
        )
        .context("opening the audit log")?,
    );
    let metrics = Arc::new(Metrics::new(store.name()));
    let store_name = store.name();
    let catalog = Arc::new(catalog);
    let tombstones = super::ingest::tombstones(&args.repo)?;
    let (engine, engine_owner) = if catalog.sources().values().any(|s| s.stream.is_some()) {
        let (engine, owner) = super::ingest::open_engine(
            &args.repo,
            catalog.clone(),
            store.clone(),
            "tessera serve",
            tombstones.clone(),
        )
        .await?;
        (Some(engine), Some(owner))
    } else {
        (None, None)
    };
    let content = super::content::load(&catalog, &args.repo).await?;
    let releaser = super::serve_releases::LiveReleaser {
        root: args.repo.clone(),
        catalog: catalog.clone(),
        hasher: privacy_hasher(&args.repo)?,
    };
    let mut eraser = crate::erasure::live::LiveEraser {
        root: args.repo.clone(),
        store: store.clone(),
        engine: engine.clone(),
        consent: None,
        tombstones: None,
    };
    let mut builder = AccessLayer::builder(
        catalog,
        audit.clone(),
        AccessConfig {
            max_entities: args.max_entities,
            max_write_rows: args.max_entities.saturating_mul(10),
            store_timeout: args.store_timeout,
            key_types,
            anonymous_purpose: args.default_purpose.clone(),
            future: tessera_online::FutureBound::of_repo(&cfg),
        },
    )
    // Reads see the engine's applied states before its background writes land.
    .online_store(match &engine {
        Some(e) => e.serving_store(),
        None => store,
    })
    .observer(metrics.clone())
    .entity_hasher(privacy_hasher(&args.repo)?);
    eraser.tombstones = Some(tombstones.clone());
    if let Some(c) = content {
        builder = builder.provider(c);
    }
    let access = super::consent::attach(builder.build(), &args.repo)?.with_tombstones(tombstones);
    eraser.consent = access.consent().cloned();
    let access = match &engine {
        Some(e) => access.with_ingest(e.clone()),
        None => access,
    };
    let limits = limits(args, &cfg.server);
    let ldp = tessera_server::LdpSketches::new(&args.repo, access.catalog());
    let state = AppState::new(Arc::new(access), auth, limits, metrics)
        .with_eraser(Arc::new(eraser))
        .with_ldp(ldp)
        .with_releaser(Arc::new(releaser));
    Ok(Prepared {
        state,
        version,
        store_name,
        engine,
        engine_owner,
    })
}

/// The server's limits: the defaults, then `server:` in tessera.yaml, then the flags given.
fn limits(args: &ServeArgs, settings: &tessera_core::ServerSettings) -> Limits {
    let mut limits = Limits::from_settings(settings);
    if let Some(n) = args.max_body_bytes {
        limits.max_body_bytes = n;
    }
    if let Some(s) = args.body_timeout {
        limits.body_read_timeout = s;
    }
    if let Some(s) = args.header_timeout {
        limits.header_read_timeout = s;
    }
    if let Some(s) = args.idle_timeout {
        limits.idle_timeout = s;
    }
    if let Some(n) = args.max_connections {
        limits.max_connections = n;
    }
    if let Some(s) = args.drain_timeout {
        limits.drain_timeout = s;
    }
    limits
}

impl ServeArgs {
    /// The defaults of `tessera serve --repo REPO` (as the command line would give them).
    pub(crate) fn for_repo(repo: &Path) -> Result<Self> {
        let cmd = <Self as Args>::augment_args(clap::Command::new("serve"));
        let matches = cmd.try_get_matches_from([
            std::ffi::OsStr::new("serve"),
            std::ffi::OsStr::new("--repo"),
            repo.as_os_str(),
        ])?;
        Ok(<Self as clap::FromArgMatches>::from_arg_matches(&matches)?)
    }
}

/// Runs `tessera serve` until SIGTERM or Ctrl-C.
pub(crate) async fn run(args: &ServeArgs) -> Result<()> {
    init_logging();
    let Prepared {
        state,
        version,
        store_name,
        engine,
        engine_owner,
    } = prepare(args, None).await?;
    let bind = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| tessera_server::Error::Bind { addr, source })
    };
    let listener = bind(args.addr).await?;
    let grpc_listener = match args.grpc_addr {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    eprintln!(
        "serving registry version {version} of {} on http://{} (online store: {store_name}; audit log: {}; {} build)",
        args.repo.display(),
        listener.local_addr().unwrap_or(args.addr),
        state.access.audit().path().display(),
        crate::BUILD
    );
    if let Some(owner) = &engine_owner {
        owner.set_address(&format!(
            "http://{}",
            listener.local_addr().unwrap_or(args.addr)
        ))?;
    }
    eprintln!("routes: POST /get-online-features, /push, /write-to-online-store, /v1/features, /v1/push, /v1/consent, /v1/erase, /v1/ldp/reports; GET /v1/ldp/{{report}}/estimates, /health, /metrics. Stop with Ctrl-C or SIGTERM.");
    // One signal stops every server; the audit log is flushed once all have drained.
    let (stop_tx, stop_rx) = watch::channel(false);
    let on_signal = stop_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.send_replace(true);
    });
    // Stream sources with NATS settings are consumed while the server runs.
    let mut consumers = Vec::new();
    if let (Some(engine), false) = (&engine, args.no_nats) {
        for (name, nats) in super::ingest::nats_sources(state.access.catalog(), &[])? {
            eprintln!(
                "ingesting stream source `{name}` from NATS subject {} (durable {})",
                nats.subject, nats.durable
            );
            let (engine, rx, stop) = (engine.clone(), stop_rx.clone(), stop_tx.clone());
            consumers.push(tokio::spawn(async move {
                let r = tessera_stream::nats_source::consume(
                    &engine,
                    &name,
                    &nats,
                    stopped(rx),
                    |_| {},
                )
                .await;
                if let Err(e) = &r {
                    eprintln!("error: NATS ingest of `{name}` failed ({e}); stopping the server");
                    stop.send_replace(true);
                }
                r
            }));
        }
    }
    let retention = super::serve_retention::spawn(
        args.retention_every,
        args.repo.clone(),
        state.access.clone(),
        engine.clone(),
        stop_rx.clone(),
    );
    let consent_sync =
        super::consent_sync::spawn(args.repo.clone(), state.access.clone(), stop_rx.clone())?;
    let http = serve_http(listener, state.clone(), stopped(stop_rx.clone()));
    let grpc = grpc_listener.map(|l| {
        eprintln!(
            "gRPC: tessera.serving.v1.FeatureService on {}",
            l.local_addr()
                .map_or_else(|_| "?".to_string(), |a| a.to_string())
        );
        serve_grpc(l, state.clone(), stopped(stop_rx))
    });
    let served = run_servers(&stop_tx, http, grpc, flush_audit(&state)).await;
    let mut ingest_failed = None;
    for c in consumers {
        if let Ok(Err(e)) = c.await {
            ingest_failed = Some(e);
        }
    }
    if let Some(r) = retention {
        let _ = r.await;
    }
    if let Some(c) = consent_sync {
        let _ = c.await;
    }
    if let Some(engine) = &engine {
        super::ingest::finish_engine(engine).await?;
    }
    served?;
    if let Some(e) = ingest_failed {
        return Err(anyhow::Error::new(e).context("NATS ingest failed"));
    }
    // The server's own log line ("audit log flushed; stopped") says it, once.
    Ok(())
}

/// The repository's entity hasher, which names entities in audit records.
pub(crate) fn privacy_hasher(repo: &std::path::Path) -> Result<Arc<tessera_core::EntityHasher>> {
    Ok(Arc::new(
        tessera_core::EntityHasher::for_repo(repo).context("reading the privacy key")?,
    ))
}

/// Resolves once `stop` is set.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Runs the HTTP server and, if given, the gRPC server until both have stopped. They stop
/// when `stop` is set (by a signal), and whichever stops first — failed or not — sets it,
/// so a failed server never leaves the other serving alone. Then the audit log is flushed
/// (`flush`), whatever happened, and the first error is returned.
async fn run_servers(
    stop: &watch::Sender<bool>,
    http: impl Future<Output = ()>,
    grpc: Option<impl Future<Output = tessera_server::Result<()>>>,
    flush: impl Future<Output = tessera_server::Result<()>>,
) -> Result<()> {
    let http = async {
        http.await;
        stop.send_replace(true);
    };
    let grpc = async {
        let Some(grpc) = grpc else {
            return Ok(());
        };
        let result = grpc.await;
        if let Err(e) = &result {
            eprintln!("error: the gRPC server failed ({e}); stopping the HTTP server");
        }
        stop.send_replace(true);
        result
    };
    let ((), grpc) = tokio::join!(http, grpc);
    let flushed = flush.await;
    match (grpc, flushed) {
        (Err(e), flushed) => {
            if let Err(f) = flushed {
                eprintln!("error: {f}");
            }
            Err(anyhow::Error::new(e).context("the gRPC server failed"))
        }
        (Ok(()), flushed) => Ok(flushed?),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The value type of each join key, read from the schemas of the sources of online views.
/// Best effort: a source that cannot be read, or a key whose type differs between sources,
/// is left out (and values of any type are then accepted for that key).
async fn join_key_types(catalog: &Catalog, repo: &Path) -> HashMap<String, KeyType> {
    let ctx = tessera_offline::session(1);
    let mut types: HashMap<String, Option<KeyType>> = HashMap::new();
    for view in catalog.feature_views().values().filter(|v| v.online) {
        let Ok(source) = catalog.source_of(view) else {
            continue;
        };
        if source.source_type == tessera_core::SourceType::Device {
            // No files: its signals exist only on devices, and the server reads none of them.
            continue;
        }
        let schema = match tessera_offline::open_source(&ctx, repo, source).await {
            Ok((df, _)) => df.schema().inner().clone(),
            Err(e) => {
                eprintln!("warning: cannot read the schema of source `{}` ({e}); join-key types of view `{}` are not checked", source.name, view.name);
                continue;
            }
        };
        for key in catalog.join_keys(view) {
            let Ok(field) = schema.field_with_name(&key) else {
                continue;
            };
            let t = match field.data_type() {
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64 => Some(KeyType::Int64),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(KeyType::String),
                _ => None,
            };
            types
                .entry(key)
                .and_modify(|old| {
                    if *old != t {
                        *old = None;
                    }
                })
                .or_insert(t);
        }
    }
    types
        .into_iter()
        .filter_map(|(k, t)| t.map(|t| (k, t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_audit::{AuditLog, AuditRecord, SinkConfig};

    fn sink(dir: &Path) -> (AuditLog, Arc<AuditSink>) {
        let log = AuditLog::new(dir);
        let sink = AuditSink::spawn(
            log.clone(),
            SinkConfig {
                flush_interval: Duration::from_millis(200),
                ..SinkConfig::default()
            },
        )
        .unwrap();
        (log, Arc::new(sink))
    }

    async fn flush(sink: &AuditSink) -> tessera_server::Result<()> {
        sink.shutdown()
            .await
            .map_err(tessera_server::Error::AuditFlush)
    }

    #[tokio::test]
    async fn a_failed_grpc_server_stops_http_and_the_audit_log_is_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let (log, audit) = sink(dir.path());
        audit
            .record(AuditRecord::now("online_read", "ranker", "ranking"))
            .await
            .unwrap();
        let (stop, rx) = watch::channel(false);
        let http_stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let http = {
            let done = http_stopped.clone();
            async move {
                stopped(rx).await;
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        };
        let grpc = async {
            Err(tessera_server::Error::Bind {
                addr: "127.0.0.1:1".parse().unwrap(),
                source: std::io::Error::other("the listener broke"),
            })
        };
        let result = tokio::time::timeout(
            Duration::from_secs(10),
            run_servers(&stop, http, Some(grpc), flush(&audit)),
        )
        .await
        .expect("a gRPC failure stops the HTTP server");
        let err = result.unwrap_err();
        assert!(
            format!("{err:#}").contains("the gRPC server failed"),
            "{err:#}"
        );
        assert!(http_stopped.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(
            log.tail(10).unwrap().len(),
            1,
            "the queued record was written"
        );
    }

    #[tokio::test]
    async fn http_stopping_stops_grpc_and_a_signal_stops_both() {
        let dir = tempfile::tempdir().unwrap();
        let (log, audit) = sink(dir.path());
        audit
            .record(AuditRecord::now("online_read", "ranker", "ranking"))
            .await
            .unwrap();
        let (stop, rx) = watch::channel(false);
        // HTTP returns on its own; gRPC waits for the stop.
        let grpc = {
            let rx = rx.clone();
            async move {
                stopped(rx).await;
                Ok(())
            }
        };
        tokio::time::timeout(
            Duration::from_secs(10),
            run_servers(&stop, async {}, Some(grpc), flush(&audit)),
        )
        .await
        .expect("HTTP stopping stops gRPC")
        .unwrap();
        assert_eq!(log.tail(10).unwrap().len(), 1);

        // Without gRPC, HTTP runs until the stop is set.
        let dir = tempfile::tempdir().unwrap();
        let (_, audit) = sink(dir.path());
        let (stop, rx) = watch::channel(false);
        let signal = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            signal.send_replace(true);
        });
        let none: Option<std::future::Ready<tessera_server::Result<()>>> = None;
        run_servers(&stop, stopped(rx), none, flush(&audit))
            .await
            .unwrap();
    }
}
