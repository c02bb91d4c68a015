//! `tessera registry history|show`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Subcommand;
use tessera_registry::Registry;

use super::registry_of;

/// Registry subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCommand {
    /// List every registered version, oldest first.
    History {
        /// The feature repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
    /// Print one version's definitions (the latest by default) as YAML or JSON.
    #[command(disable_version_flag = true)]
    Show {
        /// The feature repository.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The version to print.
        #[arg(long = "version", id = "registry_version")]
        version: Option<u64>,
        /// Output format.
        #[arg(long, value_parser = ["yaml", "json"], default_value = "yaml")]
        format: String,
    },
}

/// Runs a registry subcommand.
pub(crate) fn run(cmd: RegistryCommand) -> Result<()> {
    match cmd {
        RegistryCommand::History { repo } => {
            let (reg, _) = registry_of(&repo)?;
            let hist = reg.history()?;
            if hist.is_empty() {
                println!("No versions registered yet (run `tessera apply`).");
            }
            for v in hist {
                println!(
                    "v{:<4} {}  by {:<10} {}",
                    v.version, v.applied_at, v.applied_by, v.summary
                );
                for c in &v.diff.changes {
                    let sign = match c.kind {
                        tessera_core::ChangeKind::Added => "+",
                        tessera_core::ChangeKind::Removed => "-",
                        tessera_core::ChangeKind::Changed => "~",
                    };
                    let br = if c.breaking.is_empty() {
                        ""
                    } else {
                        "  (breaking)"
                    };
                    println!("        {sign} {} `{}`{br}", c.object, c.name);
                }
            }
        }
        RegistryCommand::Show {
            repo,
            version,
            format,
        } => {
            let (reg, _) = registry_of(&repo)?;
            let v = match version {
                Some(n) => reg.get(n)?,
                None => match reg.latest()? {
                    Some(v) => v,
                    None => bail!("nothing is registered yet (hint: run `tessera apply`)"),
                },
            };
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "# version {} applied {} by {}",
                    v.version, v.applied_at, v.applied_by
                );
                print!("{}", serde_yaml_string(&v.definitions)?);
            }
        }
    }
    Ok(())
}

fn serde_yaml_string(defs: &tessera_core::Definitions) -> Result<String> {
    Ok(serde_yaml::to_string(defs)?)
}
