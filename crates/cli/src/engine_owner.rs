//! One owner per repository for the stream engine: the process that opens it writes
//! `.tessera/stream/owner.json` (its pid, command and address), and a second `tessera
//! serve` or `tessera ingest` on the same repository refuses at start, naming the owner,
//! instead of failing later on a locked database file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;

/// Where the owner record lives, relative to the repository.
pub(crate) const OWNER_FILE: &str = ".tessera/stream/owner.json";

/// The claim of this process on a repository's stream engine; released when dropped.
#[derive(Debug)]
pub(crate) struct EngineOwner {
    path: PathBuf,
    command: String,
}

/// Whether a process with this pid is running (Linux: `/proc/<pid>`; elsewhere it is
/// assumed to run, so a stale file must be removed by hand, as the message says).
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

fn describe(record: &serde_json::Value) -> String {
    let pid = record["pid"].as_u64().unwrap_or(0);
    let command = record["command"].as_str().unwrap_or("tessera");
    match record["address"].as_str() {
        Some(addr) => format!("process {pid} (`{command}`, serving on {addr})"),
        None => format!("process {pid} (`{command}`)"),
    }
}

impl EngineOwner {
    /// Claims the stream engine of `repo` for this process (`command` names what it runs,
    /// e.g. `tessera serve`), or fails naming the running process that holds it.
    pub(crate) fn claim(repo: &Path, command: &str) -> Result<Self> {
        let path = repo.join(OWNER_FILE);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => {
                    let owner = Self {
                        path,
                        command: command.to_string(),
                    };
                    owner.write(file, None)?;
                    return Ok(owner);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let record: serde_json::Value =
                        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
                    let pid = record["pid"].as_u64().and_then(|p| u32::try_from(p).ok());
                    match pid {
                        Some(pid) if pid != std::process::id() && alive(pid) => bail!(
                            "the stream engine of {} is already open in {} (hint: stop that process first, or send events to it over HTTP (POST /v1/push) instead of starting a second one; `tessera get` and `tessera explain-request` work while it runs; if no such process runs, delete {})",
                            repo.display(),
                            describe(&record),
                            path.display()
                        ),
                        // A record of a process that is gone (or unreadable): take over.
                        _ => std::fs::remove_file(&path)
                            .with_context(|| format!("removing the stale {}", path.display()))?,
                    }
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
        bail!(
            "cannot claim the stream engine of {}: {} keeps reappearing (hint: another tessera process is starting; try again)",
            repo.display(),
            path.display()
        )
    }

    /// Records the address this process serves on, for the message a second process gets.
    pub(crate) fn set_address(&self, address: &str) -> Result<()> {
        let file = std::fs::File::create(&self.path)
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.write(file, Some(address))
    }

    fn write(&self, mut file: std::fs::File, address: Option<&str>) -> Result<()> {
        let mut record = json!({
            "pid": std::process::id(),
            "command": self.command,
            "started": chrono::Utc::now().to_rfc3339(),
        });
        if let Some(a) = address {
            record["address"] = json!(a);
        }
        writeln!(file, "{record}").with_context(|| format!("writing {}", self.path.display()))
    }
}

impl Drop for EngineOwner {
    fn drop(&mut self) {
        // Only our own record: never remove another process's claim.
        let ours = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|r| r["pid"].as_u64())
            == Some(u64::from(std::process::id()));
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_names_the_first_and_a_released_one_is_free() {
        let d = tempfile::tempdir().unwrap();
        let first = EngineOwner::claim(d.path(), "tessera serve").unwrap();
        first.set_address("127.0.0.1:6566").unwrap();
        // Same pid: a record of this very process is taken over (the test cannot fork),
        // so simulate another live process: pid 1 always runs on Linux.
        std::fs::write(
            d.path().join(OWNER_FILE),
            r#"{"pid": 1, "command": "tessera serve", "address": "127.0.0.1:6566"}"#,
        )
        .unwrap();
        if cfg!(target_os = "linux") {
            let e = EngineOwner::claim(d.path(), "tessera ingest")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("process 1") && e.contains("127.0.0.1:6566"),
                "{e}"
            );
        }
        drop(first); // not ours any more: left in place
        assert!(d.path().join(OWNER_FILE).exists());
        // A record of a process that is gone is taken over.
        std::fs::write(d.path().join(OWNER_FILE), r#"{"pid": 4294967295}"#).unwrap();
        let again = EngineOwner::claim(d.path(), "tessera ingest").unwrap();
        drop(again);
        assert!(!d.path().join(OWNER_FILE).exists());
    }
}
