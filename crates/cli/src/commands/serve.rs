//! `tessera serve`: the feature server (Feast-compatible and native HTTP APIs) over the
//! repository's registered definitions and online store.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use arrow::datatypes::DataType;
use clap::{Args, ValueEnum};
use tessera_access::{AccessConfig, AccessLayer, KeyType};
use tessera_audit::{AuditLog, AuditSink, SinkConfig};
use tessera_core::{Catalog, FeatureRepo, RepoConfig};
use tessera_server::{
    flush_audit, serve_grpc, serve_http, shutdown_signal, AppState, Auth, Limits, Metrics,
    TokenTable,
};

use super::registered_catalog;

/// How `tessera serve` authenticates requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// `Authorization: Bearer <token>`; each consumer's token is read at startup from the
    /// environment variable its `token_env` names.
    Bearer,
    /// No authentication: every request is anonymous (local development only; reads still
    /// need a purpose, from the request or --default-purpose).
    None,
}

/// Arguments of `tessera serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
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
    /// The largest request body, in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// How long one online-store call may take, in milliseconds (503 beyond).
    #[arg(long, default_value_t = 2000)]
    pub store_timeout_ms: u64,
    /// How long a client may take to send a request body, in seconds (408 beyond).
    #[arg(long, default_value_t = 10)]
    pub body_timeout_secs: u64,
    /// How long a client may take to send request headers, and how long idle keep-alive
    /// connections are kept, in seconds.
    #[arg(long, default_value_t = 30)]
    pub header_timeout_secs: u64,
    /// Connections served at once.
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
    /// On SIGTERM / Ctrl-C, how long to wait for in-flight requests, in seconds.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout_secs: u64,
}

/// What [`prepare`] builds: the server state over the registered definitions.
pub struct Prepared {
    /// Shared by the HTTP and gRPC servers.
    pub state: AppState,
    /// The registry version served.
    pub version: u64,
    /// The online store's name (`embedded`, `redis`).
    pub store_name: &'static str,
}

/// Opens the registered catalog, the online store and the audit log and builds the server
/// state. `auth` overrides `--auth` (the demo hands in its own tokens).
pub async fn prepare(args: &ServeArgs, auth: Option<Auth>) -> Result<Prepared> {
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
    let audit_dir = RepoConfig::resolve(&args.repo, &cfg.audit_log);
    let audit = Arc::new(
        AuditSink::spawn(AuditLog::new(&audit_dir), SinkConfig::default())
            .context("opening the audit log")?,
    );
    let metrics = Arc::new(Metrics::new(store.name()));
    let store_name = store.name();
    let access = AccessLayer::new(
        Arc::new(catalog),
        store,
        audit.clone(),
        AccessConfig {
            max_entities: args.max_entities,
            max_write_rows: args.max_entities.saturating_mul(10),
            store_timeout: Duration::from_millis(args.store_timeout_ms),
            key_types,
            anonymous_purpose: args.default_purpose.clone(),
        },
    )
    .with_observer(metrics.clone());
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        body_read_timeout: Duration::from_secs(args.body_timeout_secs),
        header_read_timeout: Duration::from_secs(args.header_timeout_secs),
        max_connections: args.max_connections,
        drain_timeout: Duration::from_secs(args.drain_timeout_secs),
    };
    let state = AppState::new(Arc::new(access), auth, limits, metrics);
    Ok(Prepared {
        state,
        version,
        store_name,
    })
}

impl ServeArgs {
    /// The defaults of `tessera serve --repo REPO` (as the command line would give them).
    pub fn for_repo(repo: &Path) -> Result<Self> {
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
pub async fn run(args: &ServeArgs) -> Result<()> {
    init_logging();
    let Prepared {
        state,
        version,
        store_name,
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
        "serving registry version {version} of {} on http://{} (online store: {store_name}; audit log: {})",
        args.repo.display(),
        listener.local_addr().unwrap_or(args.addr),
        state.access.audit().path().display()
    );
    eprintln!("routes: POST /get-online-features, /push, /write-to-online-store, /v1/features; GET /health, /metrics. Stop with Ctrl-C or SIGTERM.");
    // One signal stops every server; the audit log is flushed once all have drained.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let http = serve_http(listener, state.clone(), stopped(stop_rx.clone()));
    match grpc_listener {
        Some(l) => {
            eprintln!(
                "gRPC: tessera.serving.v1.FeatureService on {}",
                l.local_addr()
                    .map_or_else(|_| "?".to_string(), |a| a.to_string())
            );
            let grpc = serve_grpc(l, state.clone(), stopped(stop_rx));
            let ((), grpc) = tokio::join!(http, grpc);
            grpc?;
        }
        None => http.await,
    }
    flush_audit(&state).await?;
    eprintln!("stopped; the audit log is flushed");
    Ok(())
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
    for view in catalog.feature_views.values().filter(|v| v.online) {
        let Ok(source) = catalog.source_of(view) else {
            continue;
        };
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
