//! `tessera doctor`: checks a repository and its environment and says what to fix —
//! `tessera.yaml`, the definitions, the sources' data, the registry, the online store, the
//! consumers' tokens and the services the stream sources need.

use std::time::Duration;

use anyhow::{bail, Result};
use tessera_core::{Catalog, FeatureRepo, OnlineStoreConfig};
use tessera_registry::Registry;

use super::RepoArgs;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

/// The report being printed.
#[derive(Debug, Default)]
struct Report {
    ok: usize,
    warnings: usize,
    failures: usize,
}

impl Report {
    fn line(&mut self, level: Level, what: &str, fix: Option<&str>) {
        let tag = match level {
            Level::Ok => {
                self.ok += 1;
                "ok  "
            }
            Level::Warn => {
                self.warnings += 1;
                "warn"
            }
            Level::Fail => {
                self.failures += 1;
                "FAIL"
            }
        };
        println!("  {tag}  {what}");
        if let Some(fix) = fix {
            println!("        fix: {fix}");
        }
    }
}

/// Runs every check; fails (exit status 1) when any check failed.
pub(crate) async fn run(args: &RepoArgs) -> Result<()> {
    let repo = &args.repo;
    println!("Checking the feature repository {}:", repo.display());
    let mut r = Report::default();
    let config = match FeatureRepo::load_config(repo) {
        Ok(c) => {
            r.line(
                Level::Ok,
                &format!("tessera.yaml reads (project `{}`)", c.project),
                None,
            );
            c
        }
        Err(e) => {
            r.line(
                Level::Fail,
                &e.to_string(),
                Some("create one with `tessera init DIR`, or pass --repo"),
            );
            return finish(&r);
        }
    };
    let catalog = check_definitions(args, &mut r).await;
    if let Some(catalog) = &catalog {
        check_registry(args, catalog, &mut r);
        check_tokens(catalog, &mut r);
        check_pseudonym_keys(catalog, &mut r);
        check_nats(catalog, &mut r).await;
    }
    check_online_store(&config, repo, &mut r).await;
    finish(&r)
}

fn finish(r: &Report) -> Result<()> {
    println!(
        "{} passed, {} warning{}, {} problem{}",
        r.ok,
        r.warnings,
        if r.warnings == 1 { "" } else { "s" },
        r.failures,
        if r.failures == 1 { "" } else { "s" }
    );
    if r.failures > 0 {
        bail!(
            "tessera doctor found {} problem{} (see `fix:` above)",
            r.failures,
            if r.failures == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// The definitions validate, and every source's data is readable and matches them.
async fn check_definitions(args: &RepoArgs, r: &mut Report) -> Option<Catalog> {
    let repo = match tessera_offline::load_repo(&args.repo).await {
        Ok(repo) => repo,
        Err(e) => {
            r.line(Level::Fail, &format!("the definitions do not validate: {e}"), Some("fix each problem listed (each names its file and a hint), then run `tessera plan`"));
            return None;
        }
    };
    let c = &repo.catalog;
    r.line(
        Level::Ok,
        &format!(
            "definitions valid: {} entities, {} sources, {} feature views, {} purposes, {} consumers, {} feature services",
            c.entities().len(),
            c.sources().len(),
            c.feature_views().len(),
            c.purposes().len(),
            c.consumers().len(),
            c.feature_services().len()
        ),
        None,
    );
    match tessera_offline::check_sources(&tessera_offline::session(1), &repo.root, c).await {
        Ok(()) => r.line(
            Level::Ok,
            "every source is readable and holds the declared columns",
            None,
        ),
        Err(e) => r.line(
            Level::Fail,
            &format!("sources: {e}"),
            Some("fix the paths, columns or types named above"),
        ),
    }
    Some(repo.catalog)
}

/// The registry holds the working copy's definitions.
fn check_registry(args: &RepoArgs, catalog: &Catalog, r: &mut Report) {
    let result = super::registry_of(&args.repo).and_then(|(reg, _)| {
        let latest = reg.latest()?.map(|v| v.version);
        let diff = reg.plan(&catalog.definitions())?;
        Ok((latest, diff))
    });
    match result {
        Ok((None, _)) => r.line(
            Level::Warn,
            "nothing is registered yet",
            Some(&format!(
                "run `tessera apply --repo {}`",
                args.repo.display()
            )),
        ),
        Ok((Some(v), diff)) if diff.is_empty() => r.line(
            Level::Ok,
            &format!("registry version {v} matches the definitions"),
            None,
        ),
        Ok((Some(v), _)) => r.line(
            Level::Warn,
            &format!(
                "the definitions changed since registered version {v} (`tessera plan` shows how)"
            ),
            Some(&format!(
                "run `tessera apply --repo {}` to register them",
                args.repo.display()
            )),
        ),
        Err(e) => r.line(
            Level::Fail,
            &format!("the registry cannot be read: {e}"),
            Some("check `registry:` in tessera.yaml"),
        ),
    }
}

/// Every consumer's token variable is set (the server needs it to authenticate them).
fn check_tokens(catalog: &Catalog, r: &mut Report) {
    for c in catalog.consumers().values() {
        match std::env::var(&c.token_env) {
            Ok(t) if !t.trim().is_empty() => r.line(
                Level::Ok,
                &format!("consumer `{}`: its token is set (${})", c.name, c.token_env),
                None,
            ),
            _ => r.line(
                Level::Warn,
                &format!(
                    "consumer `{}`: ${} is not set, so it cannot call `tessera serve`",
                    c.name, c.token_env
                ),
                Some(&format!(
                    "export {}=<a long random secret> before `tessera serve`",
                    c.token_env
                )),
            ),
        }
    }
}

/// Every `pseudonymise` key variable (of a purpose, a feature service or a feature's
/// default) is set and at least [`tessera_core::MIN_PSEUDONYM_KEY_BYTES`] bytes long; one
/// line per (owner, variable).
fn check_pseudonym_keys(catalog: &Catalog, r: &mut Report) {
    let mut uses: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    let mut add = |owner: String, feature: &str, spec: &tessera_core::MinimiseSpec| {
        if let Some(p) = &spec.pseudonymise {
            uses.entry((owner, p.key_env.trim().to_string()))
                .or_default()
                .push(feature.to_string());
        }
    };
    for p in catalog.purposes().values() {
        for (f, spec) in &p.minimise {
            add(format!("purpose `{}`", p.name), f, spec);
        }
    }
    for s in catalog.feature_services().values() {
        for (f, spec) in &s.minimise {
            add(format!("feature service `{}`", s.name), f, spec);
        }
    }
    for v in catalog.feature_views().values() {
        for f in &v.features {
            if let Some(spec) = &f.minimise {
                add(
                    format!("feature view `{}`", v.name),
                    &format!("{}:{}", v.name, f.name),
                    spec,
                );
            }
        }
    }
    let min = tessera_core::MIN_PSEUDONYM_KEY_BYTES;
    for ((owner, env), features) in uses {
        let what = format!(
            "{owner}: pseudonymises {} with the key in ${env}",
            features.join(", ")
        );
        let fix = format!("export {env}=$(openssl rand -hex 32) wherever the purpose is read (`tessera serve`, `tessera training-set`, `tessera get`, devices), the same value everywhere and one key per purpose");
        match std::env::var(&env) {
            Ok(k) if k.len() >= min => r.line(Level::Ok, &format!("{what}: set ({} bytes)", k.len()), None),
            Ok(k) if !k.is_empty() => r.line(
                Level::Fail,
                &format!("{what}: it is only {} bytes long (at least {min} are needed: a short key can be guessed, linking pseudonyms back to values)", k.len()),
                Some(&fix),
            ),
            _ => r.line(
                Level::Fail,
                &format!("{what}: it is not set, so reads of these features fail"),
                Some(&fix),
            ),
        }
    }
}

/// The NATS servers of the stream sources that consume from NATS are reachable.
async fn check_nats(catalog: &Catalog, r: &mut Report) {
    for s in catalog.sources().values() {
        let Some(nats) = s.stream.as_ref().and_then(|st| st.nats.as_ref()) else {
            continue;
        };
        let url = nats
            .url
            .clone()
            .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
        let what = format!("source `{}`: NATS at {url}", s.name);
        match reachable(&url, 4222).await {
            Ok(()) => r.line(Level::Ok, &format!("{what} is reachable"), None),
            Err(e) => r.line(Level::Fail, &format!("{what} is not reachable ({e})"), Some("start NATS with JetStream (`nats-server -js`; in a clone of Tessera: `scripts/services.sh`), or fix `stream.nats.url`")),
        }
    }
}

/// The online store opens (embedded) or answers (Redis).
async fn check_online_store(
    config: &tessera_core::RepoConfig,
    repo: &std::path::Path,
    r: &mut Report,
) {
    let what = match &config.online_store {
        OnlineStoreConfig::Embedded { path } => format!("embedded online store at {path}"),
        OnlineStoreConfig::Redis { url } => format!("Redis online store at {url}"),
    };
    match tessera_online::open_store(config, repo).await {
        Ok(_) => r.line(Level::Ok, &format!("the {what} opens"), None),
        Err(e) => {
            let fix = match &config.online_store {
                OnlineStoreConfig::Redis { .. } => "start Redis (in a clone of Tessera: `scripts/services.sh`) or fix `online_store.url` in tessera.yaml",
                OnlineStoreConfig::Embedded { .. } => "the embedded store is one file that one process opens at a time: if `tessera serve` runs on this repository, read through it (curl, Feast SDK); otherwise check the directory's permissions",
            };
            r.line(
                Level::Fail,
                &format!("the {what} does not open: {e}"),
                Some(fix),
            );
        }
    }
}

/// Connects to the host and port of `url` (`scheme://host:port/...`) within 2 seconds.
async fn reachable(url: &str, default_port: u16) -> std::result::Result<(), String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    match tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
        Err(_) => Err(format!("{addr}: no answer within 2 s")),
    }
}
