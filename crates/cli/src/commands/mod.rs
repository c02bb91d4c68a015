//! One module per subcommand.

pub(crate) mod audit;
pub(crate) mod budget;
pub(crate) mod catalog;
pub(crate) mod compact;
pub(crate) mod consent;
pub(crate) mod consent_sync;
pub(crate) mod content;
pub(crate) mod demo;
pub(crate) mod demo_device;
mod demo_dp;
mod demo_ldp;
pub(crate) mod demo_online;
mod demo_privacy;
pub(crate) mod doctor;
pub(crate) mod erase;
pub(crate) mod explain_request;
pub(crate) mod get;
pub(crate) mod ingest;
pub(crate) mod init;
pub(crate) mod ldp;
mod ldp_estimate;
pub(crate) mod manual;
pub(crate) mod materialize;
pub(crate) mod minimise_listing;
pub(crate) mod online_repair;
pub(crate) mod plan_apply;
pub(crate) mod registry;
pub(crate) mod release;
pub(crate) mod retention;
pub(crate) mod retention_pass;
pub(crate) mod serve;
pub(crate) mod serve_releases;
pub(crate) mod serve_retention;
pub(crate) mod subject_report;
pub(crate) mod training_set;
pub(crate) mod training_set_entities;
pub(crate) mod unregistered;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use tessera_core::{Catalog, FeatureRepo};
use tessera_registry::{FileRegistry, Registry};

/// The `--repo` argument shared by most commands.
#[derive(Debug, Clone, Args)]
pub(crate) struct RepoArgs {
    /// The feature repository (a directory with tessera.yaml).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
}

/// The registry of a repository.
pub(crate) fn registry_of(repo: &Path) -> Result<(FileRegistry, tessera_core::RepoConfig)> {
    let cfg = FeatureRepo::load_config(repo)?;
    let dir = tessera_core::RepoConfig::resolve(repo, &cfg.registry);
    Ok((FileRegistry::new(&dir), cfg))
}

/// The catalog of the latest registered version.
pub(crate) fn registered_catalog(repo: &Path) -> Result<(Catalog, u64)> {
    let (reg, _) = registry_of(repo)?;
    let Some(latest) = reg.latest()? else {
        bail!(
            "nothing is registered in {} yet (hint: run `tessera apply --repo {}`)",
            repo.display(),
            repo.display()
        );
    };
    let catalog = Catalog::build(vec![latest.definitions])
        .context("the registered definitions no longer validate")?;
    Ok((catalog, latest.version))
}

/// The local user, as an audit consumer name: `local:<login>`, from `$USER`, else
/// `$LOGNAME`, else the name of this process's uid (`/etc/passwd`), else `uid<N>`.
pub(crate) fn local_user() -> String {
    let from_env = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|u| !u.trim().is_empty());
    format!("local:{}", from_env.unwrap_or_else(uid_name))
}

/// The name of this process's uid, or `uid<N>` (`unknown` where there are no uids).
fn uid_name() -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
            return "unknown".to_string();
        };
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        user_of_uid(&passwd, uid).unwrap_or_else(|| format!("uid{uid}"))
    }
    #[cfg(not(unix))]
    {
        "unknown".to_string()
    }
}

/// The login name of `uid` in an `/etc/passwd` text.
fn user_of_uid(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_uid_has_its_passwd_name() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nana:x:1000:1000::/home/ana:/bin/sh\n";
        assert_eq!(super::user_of_uid(passwd, 1000).as_deref(), Some("ana"));
        assert_eq!(super::user_of_uid(passwd, 0).as_deref(), Some("root"));
        assert_eq!(super::user_of_uid(passwd, 7), None);
    }
}
