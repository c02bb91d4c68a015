//! The server side: the sketch that accumulates reports. Mergeable (merging two
//! sketches gives the sketch of the union of their reports), exact (integer
//! counts), and serialisable.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::params::{LdpParams, Mechanism};
use crate::report::Report;

const MAGIC: &[u8; 4] = b"TLDS";
const VERSION: u8 = 1;

/// The accumulated reports of one report definition.
///
/// Per row j it counts the reports that chose j, and per cell (j, i):
/// for CMS the number of reports of row j whose coordinate i is +1; for HCMS the
/// sum of the ±1 bits of reports of row j that chose coefficient i. Apple's
/// real-valued sketch matrix follows from these counts (see [`crate::Estimator`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Sketch {
    params: LdpParams,
    reports: u64,
    row_reports: Vec<u64>,
    cells: Vec<i64>,
}

impl Sketch {
    /// An empty sketch.
    pub fn new(params: LdpParams) -> Self {
        Self {
            params,
            reports: 0,
            row_reports: vec![0; params.k() as usize],
            cells: vec![0; params.k() as usize * params.m() as usize],
        }
    }

    /// The parameters.
    pub fn params(&self) -> &LdpParams {
        &self.params
    }

    /// The number of reports accumulated.
    pub fn reports(&self) -> u64 {
        self.reports
    }

    pub(crate) fn row_reports(&self) -> &[u64] {
        &self.row_reports
    }

    pub(crate) fn cells(&self) -> &[i64] {
        &self.cells
    }

    /// Adds one report (checked against the sketch's parameters first; a bad
    /// report changes nothing).
    pub fn add(&mut self, report: &Report) -> Result<()> {
        report.check(&self.params)?;
        let m = self.params.m() as usize;
        match report {
            Report::Cms(r) => {
                let base = r.row as usize * m;
                for (w, &word) in r.bits.iter().enumerate() {
                    let mut rest = word;
                    while rest != 0 {
                        let bit = rest.trailing_zeros() as usize;
                        self.cells[base + w * 64 + bit] += 1;
                        rest &= rest - 1;
                    }
                }
                self.row_reports[r.row as usize] += 1;
            }
            Report::Hcms(r) => {
                let cell = r.row as usize * m + r.index as usize;
                self.cells[cell] += if r.plus { 1 } else { -1 };
                self.row_reports[r.row as usize] += 1;
            }
        }
        self.reports += 1;
        Ok(())
    }

    /// Adds every report of `other` (same parameters): the result is the sketch of
    /// the union of both sets of reports.
    pub fn merge(&mut self, other: &Sketch) -> Result<()> {
        self.params.check_same(&other.params)?;
        self.reports += other.reports;
        for (a, b) in self.row_reports.iter_mut().zip(&other.row_reports) {
            *a += b;
        }
        for (a, b) in self.cells.iter_mut().zip(&other.cells) {
            *a += b;
        }
        Ok(())
    }

    /// The sketch as bytes: a header with the parameters, the counts (little
    /// endian), and a SHA-256 of everything before it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + 8 * (self.row_reports.len() + self.cells.len()));
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(self.params.mechanism().code());
        out.extend_from_slice(&self.params.epsilon().to_bits().to_le_bytes());
        out.extend_from_slice(&self.params.k().to_le_bytes());
        out.extend_from_slice(&self.params.m().to_le_bytes());
        out.extend_from_slice(&self.reports.to_le_bytes());
        for v in &self.row_reports {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in &self.cells {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    /// Reads [`Sketch::to_bytes`] back; `origin` names the bytes in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let corrupt = |reason: &str| Error::CorruptSketch {
            path: origin.to_string(),
            reason: reason.to_string(),
        };
        if bytes.len() < 4 + 2 + 8 + 4 + 4 + 8 + 32 || &bytes[..4] != MAGIC {
            return Err(corrupt("not a Tessera sketch (no `TLDS` header)"));
        }
        let (body, digest) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != digest {
            return Err(corrupt("its checksum does not match (torn or altered)"));
        }
        if body[4] != VERSION {
            return Err(corrupt("unknown sketch format version"));
        }
        let mechanism =
            Mechanism::from_code(body[5]).ok_or_else(|| corrupt("unknown mechanism"))?;
        let mut at = 6;
        let mut take = |n: usize| -> Result<&[u8]> {
            let slice = body
                .get(at..at + n)
                .ok_or_else(|| corrupt("shorter than its header says"))?;
            at += n;
            Ok(slice)
        };
        let epsilon = f64::from_bits(u64::from_le_bytes(arr(take(8)?)));
        let k = u32::from_le_bytes(arr(take(4)?));
        let m = u32::from_le_bytes(arr(take(4)?));
        let params = LdpParams::new(mechanism, epsilon, k, m)
            .map_err(|e| corrupt(&format!("bad parameters: {e}")))?;
        let reports = u64::from_le_bytes(arr(take(8)?));
        let mut sketch = Sketch::new(params);
        sketch.reports = reports;
        for v in sketch.row_reports.iter_mut() {
            *v = u64::from_le_bytes(arr(take(8)?));
        }
        for v in sketch.cells.iter_mut() {
            *v = i64::from_le_bytes(arr(take(8)?));
        }
        if at != body.len() {
            return Err(corrupt("longer than its header says"));
        }
        if sketch.row_reports.iter().sum::<u64>() != reports {
            return Err(corrupt("its row counts do not add up to its report count"));
        }
        Ok(sketch)
    }
}

fn arr<const N: usize>(slice: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(slice);
    out
}
