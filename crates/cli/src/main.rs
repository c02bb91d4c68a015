//! `tessera`: the command-line tool of the Tessera feature platform.
//!
//! Every subcommand works on a feature repository (`--repo`, default `.`): a directory with
//! `tessera.yaml` and definition files. Run `tessera demo` for a guided tour, or
//! `tessera <command> --help` for each command.

mod commands;
mod demo_data;
mod engine_owner;
mod erasure;
mod help_examples;
mod http_client;
mod init_template;
mod progress_bar;
mod terminal_text;
mod terminal_width;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `debug` or `release`: what this binary was built as (said where timings are printed).
pub(crate) const BUILD: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// `tessera --version`: the version and the kind of build.
const VERSION: &str = if cfg!(debug_assertions) {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (debug build: slower; `cargo install --path crates/cli --locked` builds a release)"
    )
} else {
    concat!(env!("CARGO_PKG_VERSION"), " (release build)")
};

/// DataFusion-style workloads allocate and free many large Arrow buffers; mimalloc reuses
/// them instead of returning pages to the kernel and faulting them back in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tessera: a feature platform for personalization.
///
/// Declare entities, sources, feature views, purposes and consumers in YAML; register them;
/// build point-in-time-correct training sets; every read names a purpose and is audited.
#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version = VERSION,
    propagate_version = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scaffold a working feature repository: by default a minimal one (one entity, one CSV
    /// source, one feature view, one purpose, one consumer, one feature service, with
    /// comments); `--template media` writes the full media demo repository instead.
    Init {
        /// Directory to create (must be empty or absent).
        dir: PathBuf,
        /// `minimal` (the default) or `media` (what `tessera demo` uses).
        #[arg(long, value_enum, default_value = "minimal")]
        template: commands::init::Template,
    },
    /// Show what `apply` would change: added, changed and removed objects, breaking changes.
    Plan(commands::RepoArgs),
    /// Validate the definitions (including source schemas) and register a new version.
    Apply(commands::RepoArgs),
    /// Read the registry: `history` lists versions, `show` prints one.
    #[command(subcommand)]
    Registry(commands::registry::RegistryCommand),
    /// Build a point-in-time-correct training set for a spine of (keys, timestamp, label) rows.
    #[command(name = "training-set")]
    TrainingSet(commands::training_set::TrainingSetArgs),
    /// Copy the latest feature values from the sources into the online store.
    Materialize(commands::materialize::MaterializeArgs),
    /// Read the online values of entities, with their status (present, missing, expired).
    Get(commands::get::GetArgs),
    /// Print the plan of a read without reading: each feature's provider, view,
    /// classification, placement and the policy gate's decision.
    #[command(name = "explain-request")]
    ExplainRequest(commands::explain_request::ExplainArgs),
    /// Inspect and repair the online store: `repair` finds rows stamped beyond
    /// `writes.max_future` ahead of the clock and drops them.
    #[command(subcommand)]
    Online(commands::online_repair::OnlineCommand),
    /// Record consent per (entity, purpose) for purposes with `requires_consent`: `set`
    /// one change, `import` a CSV or JSONL file of changes.
    #[command(subcommand)]
    Consent(commands::consent::ConsentCommand),
    /// Merge the small files of the stream sources' offline logs (when no `serve`/`ingest`
    /// runs on the repository; they compact in the background).
    Compact(commands::RepoArgs),
    /// Erase entities from every tier Tessera manages (online stores, stream states,
    /// snapshots, offline logs, and with --rewrite-sources the batch sources), under a
    /// crash-safe journal; --verify proves it by scanning the bytes of every managed file.
    Erase(commands::erase::EraseArgs),
    /// Retention: `apply` deletes data older than the `retention` of its source or view
    /// from every tier (offline logs, stream states, online store, a device store).
    #[command(subcommand)]
    Retention(commands::retention::RetentionCommand),
    /// A differentially private count, sum, mean or histogram (a release declared under
    /// `releases:` by --name, or one described by flags), charged to the consumer's budget
    /// for the purpose; refused when the budget has not enough left.
    Release(commands::release::ReleaseArgs),
    /// Differential-privacy budgets: `show` lists each consumer's spent and remaining budget
    /// per purpose and when it resets.
    #[command(subcommand)]
    Budget(commands::budget::BudgetCommand),
    /// Every value held about one entity on every tier, and every audited read of it (a
    /// subject access report).
    #[command(name = "subject-report")]
    SubjectReport(commands::subject_report::SubjectReportArgs),
    /// Local differential privacy: `simulate` runs simulated devices through the real
    /// CMS/HCMS randomiser and sketch; `estimate` reads the frequencies of a declared
    /// `ldp_reports:` definition from the sketch the server accumulated.
    #[command(subcommand)]
    Ldp(commands::ldp::LdpCommand),
    /// Consume the stream sources from NATS JetStream into the online store and offline log.
    Ingest(commands::ingest::IngestArgs),
    /// Serve features over HTTP: Feast-compatible routes, the native /v1 API, /metrics.
    Serve(commands::serve::ServeArgs),
    /// List the registered feature views and features with owner, classification and placement.
    Catalog(commands::RepoArgs),
    /// Read the audit log.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Simulate a device: record device signals, read device and cloud features through the
    /// device runtime (the same command line as `tessera-device`).
    Device(tessera_edge::cli::DeviceArgs),
    /// Create a demo repository with generated media data and walk through Tessera.
    Demo {
        /// Where to create it (everything the demo writes stays inside).
        #[arg(default_value = "tessera-demo")]
        dir: PathBuf,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory.
    Man {
        /// Write `tessera.1` and `tessera-<command>.1` here instead of printing `tessera.1`.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Check a repository and its environment (definitions, sources, online store, tokens,
    /// services) and say what to fix.
    Doctor(commands::RepoArgs),
}

/// The command line with an example in every command's help.
fn command() -> clap::Command {
    use clap::CommandFactory;
    help_examples::with_examples(Cli::command())
}

fn main() -> ExitCode {
    use clap::FromArgMatches;
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // The device runtime owns its runtime (it is a blocking API), so it runs outside ours.
    let cli = match cli.command {
        Command::Device(args) => {
            return match tessera_edge::cli::run(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    let mut src = std::error::Error::source(&e);
                    while let Some(s) = src {
                        eprintln!("  caused by: {s}");
                        src = s.source();
                    }
                    ExitCode::from(2)
                }
            };
        }
        command => Cli { command },
    };
    if !matches!(cli.command, Command::Serve(_)) {
        // `tessera serve` logs at `info`; other commands say only what goes wrong, unless
        // RUST_LOG asks for more (`RUST_LOG=debug tessera get ...`).
        init_quiet_logging();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Init { dir, template } => commands::init::run(&dir, template).await,
            Command::Plan(a) => commands::plan_apply::plan(&a).await,
            Command::Apply(a) => commands::plan_apply::apply(&a).await,
            Command::Registry(c) => commands::registry::run(c),
            Command::TrainingSet(a) => commands::training_set::run(&a).await,
            Command::Materialize(a) => commands::materialize::run(&a).await,
            Command::Online(c) => commands::online_repair::run(&c).await,
            Command::Compact(a) => commands::compact::run(&a).await,
            Command::Consent(c) => commands::consent::run(&c).await,
            Command::Erase(a) => commands::erase::run(&a).await,
            Command::Retention(c) => commands::retention::run(&c).await,
            Command::Release(a) => commands::release::run(&a).await,
            Command::Budget(c) => commands::budget::run(&c),
            Command::SubjectReport(a) => commands::subject_report::run(&a).await,
            Command::Get(a) => commands::get::run(&a).await,
            Command::ExplainRequest(a) => commands::explain_request::run(&a).await,
            Command::Serve(a) => commands::serve::run(&a).await,
            Command::Ingest(a) => commands::ingest::run(&a).await,
            Command::Ldp(c) => commands::ldp::run(&c),
            Command::Catalog(a) => commands::catalog::run(&a),
            Command::Audit(c) => commands::audit::run(c),
            Command::Demo { dir } => commands::demo::run(&dir).await,
            Command::Completions { shell } => {
                commands::manual::completions(shell, command());
                Ok(())
            }
            Command::Man { dir } => commands::manual::man(command(), dir.as_deref()),
            Command::Doctor(a) => commands::doctor::run(&a).await,
            Command::Device(_) => Ok(()), // handled above, outside this runtime
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            // Every error type either prints its cause or exposes it as its source, never
            // both: the chain is printed as it is.
            let mut src = e.source();
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// Logs warnings and errors to standard error (or what `RUST_LOG` asks for).
fn init_quiet_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
