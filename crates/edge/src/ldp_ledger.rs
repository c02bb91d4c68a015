//! The device's own local-DP budget: one ledger file per report under `DIR/ldp/`
//! (`NAME.ledger`), replaced atomically and synced *before* a report leaves the device,
//! so no restart, crash or clock change lets a device exceed its cap.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tessera_ldp::{CapLedger, EpsilonCap};

use crate::error::{Error, Result};

/// The ledgers of a device directory.
#[derive(Debug)]
pub(crate) struct LdpLedgers {
    dir: PathBuf,
    /// Serialises charges (read, check, write) within this process.
    lock: Mutex<()>,
}

impl LdpLedgers {
    pub(crate) fn new(device_dir: &Path) -> Self {
        Self {
            dir: device_dir.join("ldp"),
            lock: Mutex::new(()),
        }
    }

    fn path(&self, report: &str) -> PathBuf {
        self.dir.join(format!("{report}.ledger"))
    }

    fn io(&self, path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The ledger of `report` (empty when the device never reported it).
    pub(crate) fn load(&self, report: &str) -> Result<CapLedger> {
        let path = self.path(report);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(CapLedger::from_bytes(&bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CapLedger::new()),
            Err(e) => Err(self.io(&path, e)),
        }
    }

    /// Charges `cost` to `report` at `now_s` (Unix seconds) if its cap allows it and
    /// stores the ledger durably; returns the ε left in the window. Refused
    /// ([`tessera_ldp::Error::CapExceeded`]) beyond the cap, storing nothing.
    pub(crate) fn charge(
        &self,
        report: &str,
        cap: &EpsilonCap,
        cost: f64,
        now_s: i64,
    ) -> Result<f64> {
        let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut ledger = self.load(report)?;
        ledger.charge(report, cap, cost, now_s)?;
        self.save(report, &ledger)?;
        Ok((cap.epsilon() - ledger.spent(cap, now_s)).max(0.0))
    }

    fn save(&self, report: &str, ledger: &CapLedger) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        let path = self.path(report);
        let tmp = path.with_extension("ledger.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(|e| self.io(&tmp, e))?;
        file.write_all(&ledger.to_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| self.io(&tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(|e| self.io(&path, e))?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            d.sync_all().map_err(|e| self.io(&self.dir, e))?;
        }
        Ok(())
    }
}
