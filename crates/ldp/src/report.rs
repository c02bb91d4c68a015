//! What a device sends: one privatised report.

use crate::error::{malformed, Result};
use crate::params::{LdpParams, Mechanism};

/// A Count-Mean-Sketch report: the row `j` of the hash function used, and the m
/// randomised ±1 coordinates packed as bits (bit `i` of word `i / 64` set = +1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CmsReport {
    pub(crate) row: u32,
    pub(crate) bits: Vec<u64>,
}

impl CmsReport {
    /// A report from its parts, checked against the parameters: `row < k`, exactly
    /// `ceil(m / 64)` words, no bit set at or beyond m.
    pub fn new(params: &LdpParams, row: u32, bits: Vec<u64>) -> Result<Self> {
        let report = Self { row, bits };
        report.check(params)?;
        Ok(report)
    }

    /// The row index j.
    pub fn row(&self) -> u32 {
        self.row
    }

    /// The packed coordinates.
    pub fn bits(&self) -> &[u64] {
        &self.bits
    }

    /// Whether coordinate `i` is +1.
    pub fn is_plus(&self, i: u32) -> bool {
        let i = i as usize;
        self.bits
            .get(i / 64)
            .is_some_and(|word| word >> (i % 64) & 1 == 1)
    }

    pub(crate) fn check(&self, params: &LdpParams) -> Result<()> {
        if self.row >= params.k() {
            return Err(malformed(format!(
                "row {} is out of range for k = {}",
                self.row,
                params.k()
            )));
        }
        let m = params.m() as usize;
        if self.bits.len() != m.div_ceil(64) {
            return Err(malformed(format!(
                "a cms report for m = {m} holds {} bits, not {}",
                m.div_ceil(64) * 64,
                self.bits.len() * 64
            )));
        }
        if m & 63 != 0 {
            let last = self.bits.last().copied().unwrap_or(0);
            if last >> (m % 64) != 0 {
                return Err(malformed(format!("a cms report sets bits beyond m = {m}")));
            }
        }
        Ok(())
    }
}

/// A Hadamard Count-Mean-Sketch report: the row `j`, the Hadamard coefficient `l`
/// and one randomised bit (`true` = +1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HcmsReport {
    pub(crate) row: u32,
    pub(crate) index: u32,
    pub(crate) plus: bool,
}

impl HcmsReport {
    /// A report from its parts, checked against the parameters.
    pub fn new(params: &LdpParams, row: u32, index: u32, plus: bool) -> Result<Self> {
        let report = Self { row, index, plus };
        report.check(params)?;
        Ok(report)
    }

    /// The row index j.
    pub fn row(&self) -> u32 {
        self.row
    }

    /// The Hadamard coefficient index l.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The randomised bit: `true` = +1, `false` = −1.
    pub fn plus(&self) -> bool {
        self.plus
    }

    pub(crate) fn check(&self, params: &LdpParams) -> Result<()> {
        if self.row >= params.k() {
            return Err(malformed(format!(
                "row {} is out of range for k = {}",
                self.row,
                params.k()
            )));
        }
        if self.index >= params.m() {
            return Err(malformed(format!(
                "index {} is out of range for m = {}",
                self.index,
                params.m()
            )));
        }
        Ok(())
    }
}

/// One report of either mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Count-Mean-Sketch.
    Cms(CmsReport),
    /// Hadamard Count-Mean-Sketch.
    Hcms(HcmsReport),
}

impl Report {
    /// The mechanism the report was made with.
    pub fn mechanism(&self) -> Mechanism {
        match self {
            Report::Cms(_) => Mechanism::Cms,
            Report::Hcms(_) => Mechanism::Hcms,
        }
    }

    /// Checks the report against the parameters of a sketch.
    pub fn check(&self, params: &LdpParams) -> Result<()> {
        if self.mechanism() != params.mechanism() {
            return Err(crate::error::Error::ParameterMismatch {
                reason: format!(
                    "a {} report cannot join a {} sketch",
                    self.mechanism(),
                    params.mechanism()
                ),
            });
        }
        match self {
            Report::Cms(r) => r.check(params),
            Report::Hcms(r) => r.check(params),
        }
    }
}
