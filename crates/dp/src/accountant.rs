//! The privacy accountant: what each (consumer, purpose) has spent of its ρ-zCDP budget in
//! the current period, kept in an append-only journal under the repository's `.tessera/`.
//!
//! Every release appends one line (`{"at_us":…,"consumer":…,"purpose":…,"rho":…,"delta":…,
//! "release":…}`) and syncs it to disk **before** its answer is returned, so a crash can only
//! lose the charge of an answer nobody saw. The check and the append run under an
//! exclusive file lock (`budget.lock`), so concurrent processes (two CLIs, a CLI and a
//! server) serialise and never both spend the last of a budget. A line torn by a crash
//! (the file does not end with a newline) is ignored by readers and cut off by the next
//! writer. Costs compose by addition (zCDP composition): the spent ρ is the sum of the
//! ρ of the period's lines.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::budget::{Budget, Cost};
use crate::error::{Error, Result};

/// The journal, relative to the repository root.
pub const BUDGET_JOURNAL: &str = ".tessera/dp/budget.jsonl";
/// The lock file next to it.
const LOCK_FILE: &str = "budget.lock";

/// One charged release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalLine {
    /// When it was charged (µs since the epoch).
    pub at_us: i64,
    /// Who released.
    pub consumer: String,
    /// For which purpose.
    pub purpose: String,
    /// Its ρ (zCDP).
    pub rho: f64,
    /// Its δ (group selection by thresholding); 0 for the others.
    #[serde(default)]
    pub delta: f64,
    /// The release's name or query.
    pub release: String,
}

/// A budget's state in the period that holds a given instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetStatus {
    /// The consumer.
    pub consumer: String,
    /// The purpose.
    pub purpose: String,
    /// The budget per period.
    pub budget: Budget,
    /// ρ spent in this period.
    pub spent_rho: f64,
    /// δ spent in this period.
    pub spent_delta: f64,
    /// Releases charged in this period.
    pub releases: u64,
    /// This period's start (µs since the epoch).
    pub period_start_us: i64,
    /// Its end, when the budget resets (µs since the epoch).
    pub period_end_us: i64,
}

impl BudgetStatus {
    /// ρ left (never negative).
    pub fn remaining_rho(&self) -> f64 {
        (self.budget.rho - self.spent_rho).max(0.0)
    }

    /// δ left (never negative).
    pub fn remaining_delta(&self) -> f64 {
        (self.budget.delta - self.spent_delta).max(0.0)
    }

    /// When the budget resets, RFC 3339.
    pub fn resets_at(&self) -> String {
        format_us(self.period_end_us)
    }

    /// Refuses `cost` when it exceeds what is left.
    pub fn check(&self, cost: &Cost) -> Result<()> {
        // A relative slack of 1e-9 absorbs the rounding of summed decimal costs.
        let over_rho = self.spent_rho + cost.rho > self.budget.rho * (1.0 + 1e-9);
        let over_delta =
            cost.delta > 0.0 && self.spent_delta + cost.delta > self.budget.delta * (1.0 + 1e-9);
        if over_rho || over_delta {
            return Err(Error::BudgetExceeded {
                consumer: self.consumer.clone(),
                purpose: self.purpose.clone(),
                cost: cost.describe(),
                left: if self.budget.delta > 0.0 {
                    format!(
                        "ρ = {} (δ = {}) of ρ = {} (δ = {})",
                        round(self.remaining_rho()),
                        round(self.remaining_delta()),
                        round(self.budget.rho),
                        round(self.budget.delta)
                    )
                } else {
                    format!(
                        "ρ = {} of ρ = {}",
                        round(self.remaining_rho()),
                        round(self.budget.rho)
                    )
                },
                resets_at: self.resets_at(),
            });
        }
        Ok(())
    }
}

/// Rounds for messages (9 significant digits).
pub(crate) fn round(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = 9 - x.abs().log10().ceil() as i32;
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// RFC 3339 (UTC, seconds) of µs since the epoch.
pub(crate) fn format_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| us.to_string())
}

/// The accountant of one repository.
#[derive(Debug, Clone)]
pub struct Accountant {
    journal: PathBuf,
}

impl Accountant {
    /// The accountant of the repository at `root` (its journal is created on first charge).
    pub fn for_repo(root: &Path) -> Self {
        Self {
            journal: root.join(BUDGET_JOURNAL),
        }
    }

    /// The journal's path.
    pub fn journal(&self) -> &Path {
        &self.journal
    }

    /// The state of (`consumer`, `purpose`)'s budget in the period holding `now_us`.
    pub fn status(
        &self,
        consumer: &str,
        purpose: &str,
        budget: &Budget,
        now_us: i64,
    ) -> Result<BudgetStatus> {
        let text = match std::fs::read(&self.journal) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(self.io("reading", source)),
        };
        self.status_in(&text, consumer, purpose, budget, now_us)
    }

    /// Charges `cost` to (`consumer`, `purpose`) at `now_us` if it fits in what is left,
    /// under the lock, synced to disk before it returns; refuses it otherwise
    /// ([`Error::BudgetExceeded`]). Returns the state after the charge.
    pub fn charge(
        &self,
        consumer: &str,
        purpose: &str,
        budget: &Budget,
        cost: &Cost,
        release: &str,
        now_us: i64,
    ) -> Result<BudgetStatus> {
        let dir = self.journal.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io("creating the directory of", e))?;
        let _lock = lock(&dir.join(LOCK_FILE)).map_err(|e| self.io("locking", e))?;
        let existed = self.journal.exists();
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.journal)
            .map_err(|e| self.io("opening", e))?;
        let mut text = Vec::new();
        f.read_to_end(&mut text)
            .map_err(|e| self.io("reading", e))?;
        let before = self.status_in(&text, consumer, purpose, budget, now_us)?;
        before.check(cost)?;
        // Cut a line torn by a crash, so ours starts on a line of its own.
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole < text.len() {
            f.set_len(whole as u64)
                .map_err(|e| self.io("cutting the torn last line of", e))?;
        }
        f.seek(SeekFrom::Start(whole as u64))
            .map_err(|e| self.io("seeking in", e))?;
        let line = JournalLine {
            at_us: now_us,
            consumer: consumer.to_string(),
            purpose: purpose.to_string(),
            rho: cost.rho,
            delta: cost.delta,
            release: release.to_string(),
        };
        let mut bytes =
            serde_json::to_vec(&line).map_err(|e| Error::BadParameter(e.to_string()))?;
        bytes.push(b'\n');
        f.write_all(&bytes)
            .map_err(|e| self.io("appending to", e))?;
        f.sync_data().map_err(|e| self.io("syncing", e))?;
        if !existed {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        let mut after = before;
        after.spent_rho += cost.rho;
        after.spent_delta += cost.delta;
        after.releases += 1;
        Ok(after)
    }

    fn status_in(
        &self,
        text: &[u8],
        consumer: &str,
        purpose: &str,
        budget: &Budget,
        now_us: i64,
    ) -> Result<BudgetStatus> {
        let (start, end) = budget.period_at(now_us);
        let mut status = BudgetStatus {
            consumer: consumer.to_string(),
            purpose: purpose.to_string(),
            budget: budget.clone(),
            spent_rho: 0.0,
            spent_delta: 0.0,
            releases: 0,
            period_start_us: start,
            period_end_us: end,
        };
        for line in complete_lines(text) {
            let (n, l) = line;
            if l.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let j: JournalLine = serde_json::from_slice(l).map_err(|e| Error::Damaged {
                path: self.journal.clone(),
                line: n + 1,
                reason: e.to_string(),
            })?;
            if j.consumer == consumer && j.purpose == purpose && j.at_us >= start && j.at_us < end {
                status.spent_rho += j.rho;
                status.spent_delta += j.delta;
                status.releases += 1;
            }
        }
        Ok(status)
    }

    fn io(&self, what: &'static str, source: std::io::Error) -> Error {
        Error::Journal {
            what,
            path: self.journal.clone(),
            source,
        }
    }
}

/// The complete (newline-terminated) lines of `text`, numbered from 0: a last line without
/// its newline was torn by a crash and is left out.
fn complete_lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    text[..whole]
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
}

/// An exclusive lock on `path`, held until the returned file is dropped.
fn lock(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    #[cfg(unix)]
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(f)
}
