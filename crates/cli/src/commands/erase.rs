//! `tessera erase`: erases entities from every tier Tessera manages (see `docs/ERASURE.md`
//! and [`crate::erasure`]), tier by tier under a journal, reports what each tier removed,
//! and with `--verify` proves it by scanning the bytes of every managed file.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use tessera_core::{EntityHasher, FeatureRepo, RepoConfig};

use super::registered_catalog;
use crate::engine_owner::EngineOwner;
use crate::erasure::byte_scan::{self, Needle};
use crate::erasure::journal::{self, Journal};
use crate::erasure::report::{EraseReport, TierReport};
use crate::erasure::subject::Subject;
use crate::erasure::tiers::{self, Erasure, Values, TIERS};

/// Arguments of `tessera erase`.
#[derive(Debug, Args)]
pub(crate) struct EraseArgs {
    /// The feature repository (a directory with tessera.yaml).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// An entity to erase: `join_key=value` (`user_id=42`); repeat for more. Without any,
    /// lists the erasures an earlier run left unfinished.
    #[arg(long = "entity")]
    pub entities: Vec<String>,
    /// Also rewrite the files of batch sources (which Tessera does not own) without the
    /// entities' rows, atomically. Without it they are left as they are and every offline
    /// read skips the entities by their tombstones.
    #[arg(long)]
    pub rewrite_sources: bool,
    /// After erasing, scan every file Tessera manages for the key and the entity's string
    /// values (collected before erasing, kept in memory); exit non-zero if any is found.
    #[arg(long)]
    pub verify: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tessera erase`; fails (after printing the report) when `--verify` found something.
pub(crate) async fn run(args: &EraseArgs) -> Result<()> {
    let root = args.repo.clone();
    if args.entities.is_empty() {
        return list_unfinished(&root, args.json);
    }
    let (catalog, _) = registered_catalog(&root)?;
    let cfg = FeatureRepo::load_config(&root)?;
    let _owner = EngineOwner::claim(&root, "tessera erase").context(
        "erasure needs the repository's stores to itself (hint: stop the server first; a running server erases through POST /v1/erase)",
    )?;
    let hasher = EntityHasher::for_repo(&root).context("opening the repository's privacy key")?;
    let subjects = args
        .entities
        .iter()
        .map(|t| Subject::parse(t, &hasher))
        .collect::<Result<Vec<_>>>()?;
    let digests: Vec<String> = subjects.iter().map(|s| s.digest.clone()).collect();
    let started = Instant::now();
    let mut journal = Journal::begin(&root, &digests)?;
    let mut report = EraseReport {
        entities: digests.clone(),
        journal: journal.path().display().to_string(),
        resumed: journal.resumed(),
        ..EraseReport::default()
    };
    let values = Arc::new(Mutex::new(Values::default()));
    let erasure = Erasure {
        root: &root,
        cfg: &cfg,
        catalog: &catalog,
        subjects: &subjects,
        values: values.clone(),
    };
    for tier in TIERS {
        if journal.is_done(tier) {
            report.tiers.push(TierReport::already_done(tier));
            continue;
        }
        let t0 = Instant::now();
        let mut t = tiers::run(tier, &erasure, args.rewrite_sources)
            .await
            .with_context(|| format!("erasure tier `{tier}` failed (hint: fix the cause and run the same command again: the journal resumes where it stopped)"))?;
        t.ms = t0.elapsed().as_secs_f64() * 1e3;
        report.tiers.push(t);
        journal.mark(tier)?;
    }
    journal.finish()?;
    report.total_ms = started.elapsed().as_secs_f64() * 1e3;
    audit_erasure(&root, &cfg, &digests, &report);
    if args.verify {
        let needles = needles(&subjects, &values)?;
        let files = managed_files(&erasure, args.rewrite_sources);
        report.verify = Some(
            tokio::task::spawn_blocking(move || byte_scan::scan(&files, &needles))
                .await
                .context("the byte scan failed")?,
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.to_text());
    }
    if let Some(v) = report.verify.as_ref().filter(|v| !v.clean()) {
        bail!(
            "the byte scan found the erased entity in {} place(s), listed above (hint: a file listed there still holds it; if it is not Tessera's, remove it yourself)",
            v.findings.len()
        );
    }
    Ok(())
}

/// One audit record of the erasure itself: keyed hashes only.
fn audit_erasure(
    root: &std::path::Path,
    cfg: &RepoConfig,
    digests: &[String],
    report: &EraseReport,
) {
    let log = super::audit::open_log(root, cfg);
    let mut r = tessera_audit::AuditRecord::now("erase", &super::local_user(), "erasure");
    r.rows = digests.len() as u64;
    r.latency_us = (report.total_ms * 1e3) as u64;
    r.detail = Some(format!("entities (keyed hashes): {}", digests.join(",")));
    if let Err(e) = log.append(&r) {
        eprintln!("warning: the erasure could not be audited: {e}");
    }
}

/// The needles of the byte scan: the key in its stored forms, and the entity's distinctive
/// string values (at least 4 bytes, never met in another entity's rows).
fn needles(subjects: &[Subject], values: &Mutex<Values>) -> Result<Vec<Needle>> {
    let mut out = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        for k in s.store_keys()? {
            out.push(Needle {
                label: format!("entity #{} key (store encoding)", i + 1),
                bytes: k.encode(),
            });
        }
        for (_, v) in &s.parts {
            // An integer key's text is only distinctive when long enough.
            if v.parse::<i64>().is_err() || v.len() >= 6 {
                out.push(Needle {
                    label: format!("entity #{} key (text)", i + 1),
                    bytes: v.as_bytes().to_vec(),
                });
            }
        }
    }
    let keys: Vec<&str> = subjects
        .iter()
        .flat_map(|s| s.parts.iter().map(|(_, v)| v.as_str()))
        .collect();
    let g = values
        .lock()
        .map_err(|_| anyhow::anyhow!("internal error: the collected values are poisoned"))?;
    for (i, v) in g
        .own
        .iter()
        .filter(|v| v.len() >= 4 && !g.shared.contains(*v) && !keys.contains(&v.as_str()))
        .enumerate()
    {
        out.push(Needle {
            label: format!("string value #{}", i + 1),
            bytes: v.as_bytes().to_vec(),
        });
    }
    Ok(out)
}

/// Every file Tessera manages: `.tessera/` (the privacy key excepted), the offline logs,
/// the audit log, and the sources this run rewrote.
fn managed_files(e: &Erasure<'_>, rewrote_sources: bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    byte_scan::files_under(&e.root.join(".tessera"), &mut files);
    for d in tiers::log_dirs(e) {
        byte_scan::files_under(&d, &mut files);
    }
    byte_scan::files_under(
        &RepoConfig::resolve(e.root, &e.cfg.audit_log.path),
        &mut files,
    );
    if rewrote_sources {
        files.extend(tiers::source_files(e));
    }
    let key = e.root.join(tessera_core::PRIVACY_KEY_FILE);
    files.retain(|f| *f != key);
    files.sort();
    files.dedup();
    files
}

fn list_unfinished(root: &std::path::Path, json: bool) -> Result<()> {
    let open = journal::unfinished(root)?;
    if json {
        let list: Vec<_> = open
            .iter()
            .map(|(p, e, d)| serde_json::json!({"journal": p.display().to_string(), "entities": e, "done": d}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if open.is_empty() {
        println!("No unfinished erasure. (hint: erase with --entity user_id=42)");
        return Ok(());
    }
    for (p, e, d) in &open {
        println!(
            "unfinished: {} — {} entit(ies), tiers done: {} (hint: run `tessera erase` again with the same --entity arguments to complete it)",
            p.display(),
            e.len(),
            if d.is_empty() { "none".to_string() } else { d.join(", ") }
        );
    }
    Ok(())
}
