//! `ldp_reports:` — frequencies a device reports under local differential privacy
//! (Count-Mean-Sketch or Hadamard Count-Mean-Sketch; the mechanisms are in
//! `tessera-ldp`, see `docs/LOCAL_DP.md`).
//!
//! ```yaml
//! ldp_reports:
//!   - name: genre_plays
//!     feature: device_taste:genre         # a feature of a view over a `type: device` source
//!     domain: { values: [pop, rock, jazz] } # or { open: true }: candidates given at estimate time
//!     mechanism: cms                      # or hcms
//!     epsilon: 4                          # ε of one report
//!     k: 16                               # hash functions (sketch rows)
//!     m: 1024                             # sketch columns
//!     cap: { epsilon: 8, per: 1d }        # the device refuses more than this per sliding day
//! ```

use serde::{Deserialize, Serialize};

/// One local-DP report definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdpReportDef {
    /// Unique name; also the key of the hash family (device and server agree on it).
    pub name: String,
    /// What the device reports: `view:feature` of a view over a `type: device` source,
    /// read from the device's local store.
    pub feature: String,
    /// The values the server estimates.
    pub domain: LdpDomainDef,
    /// `cms` or `hcms`.
    pub mechanism: String,
    /// ε of one report.
    pub epsilon: f64,
    /// Hash functions (sketch rows).
    pub k: u32,
    /// Sketch columns (a power of two for `hcms`).
    pub m: u32,
    /// The most ε one device spends on this report in any window of `per`.
    pub cap: LdpCapDef,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The domain of a report: a candidate list, or open (any value hashes into the
/// sketch; the candidates are given when estimating).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdpDomainDef {
    /// The candidate values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// `true`: no list; `tessera ldp estimate --candidates FILE` gives the candidates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open: bool,
}

/// A device's cap on one report: `{ epsilon: 8, per: 1d }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdpCapDef {
    /// ε allowed per window.
    pub epsilon: f64,
    /// The window (a duration: `1d`, `12h`, `7d`).
    pub per: String,
}

impl LdpReportDef {
    /// The mechanism's checked parameters.
    pub fn params(&self) -> Result<tessera_ldp::LdpParams, tessera_ldp::Error> {
        tessera_ldp::LdpParams::new(
            tessera_ldp::Mechanism::parse(&self.mechanism)?,
            self.epsilon,
            self.k,
            self.m,
        )
    }

    /// The device's cap, checked.
    pub fn epsilon_cap(&self) -> Result<tessera_ldp::EpsilonCap, String> {
        let per = crate::duration::parse_duration(&self.cap.per).map_err(|e| e.to_string())?;
        let seconds = i64::try_from(per.as_secs()).unwrap_or(i64::MAX);
        tessera_ldp::EpsilonCap::new(self.cap.epsilon, seconds, self.cap.per.clone())
            .map_err(|e| e.to_string())
    }
}
