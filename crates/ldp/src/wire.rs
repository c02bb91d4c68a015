//! The compact binary format of a batch of reports, as a device sends it.
//!
//! ```text
//! batch  = "TLDP" version:u8(=1) mechanism:u8(1 cms, 2 hcms) name_len:u16 name:utf8
//!          epsilon:f64 k:u32 m:u32 count:u32 report*count        (integers big endian)
//! cms    = row:u16 bits:ceil(m/8) bytes   (coordinate i = bit i%8 of byte i/8; 1 = +1)
//! hcms   = row:u16 index:u16 bit:u8       (1 = +1, 0 = −1)
//! ```
//!
//! The batch holds the report's name and parameters (so the server checks the
//! device uses the registered ones) and the reports: nothing about the device.

use crate::error::{malformed, Result};
use crate::params::{LdpParams, Mechanism};
use crate::report::{CmsReport, HcmsReport, Report};
use crate::sketch::Sketch;

const MAGIC: &[u8; 4] = b"TLDP";
const VERSION: u8 = 1;

/// The media type of the binary format.
pub const CONTENT_TYPE: &str = "application/x-tessera-ldp";

/// The header of a decoded batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchHeader {
    /// The report definition's name.
    pub report: String,
    /// The parameters the device used.
    pub params: LdpParams,
    /// How many reports follow.
    pub count: u32,
}

/// Encodes reports of the definition `report` made with `params`.
pub fn encode_batch(report: &str, params: &LdpParams, reports: &[Report]) -> Result<Vec<u8>> {
    let name = report.as_bytes();
    let name_len = u16::try_from(name.len())
        .map_err(|_| malformed("a report name longer than 65535 bytes"))?;
    let count = u32::try_from(reports.len())
        .map_err(|_| malformed("more than 2^32 reports in one batch"))?;
    let per = match params.mechanism() {
        Mechanism::Cms => 2 + (params.m() as usize).div_ceil(8),
        Mechanism::Hcms => 5,
    };
    let mut out = Vec::with_capacity(32 + name.len() + per * reports.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(params.mechanism().code());
    out.extend_from_slice(&name_len.to_be_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&params.epsilon().to_bits().to_be_bytes());
    out.extend_from_slice(&params.k().to_be_bytes());
    out.extend_from_slice(&params.m().to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    let bytes_per_cms = (params.m() as usize).div_ceil(8);
    for report in reports {
        report.check(params)?;
        match report {
            Report::Cms(r) => {
                out.extend_from_slice(&(r.row as u16).to_be_bytes());
                let start = out.len();
                for word in &r.bits {
                    out.extend_from_slice(&word.to_le_bytes());
                }
                out.truncate(start + bytes_per_cms);
            }
            Report::Hcms(r) => {
                out.extend_from_slice(&(r.row as u16).to_be_bytes());
                out.extend_from_slice(&(r.index as u16).to_be_bytes());
                out.push(u8::from(r.plus));
            }
        }
    }
    Ok(out)
}

/// Decodes a batch's header; the reports start at the returned offset.
pub fn decode_header(bytes: &[u8]) -> Result<(BatchHeader, usize)> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != MAGIC {
        return Err(malformed(
            "not a Tessera local-DP batch (it does not start with `TLDP`)",
        ));
    }
    let version = r.take(1)?[0];
    if version != VERSION {
        return Err(malformed(format!(
            "batch format version {version} is not supported (this server reads version {VERSION})"
        )));
    }
    let code = r.take(1)?[0];
    let mechanism = Mechanism::from_code(code)
        .ok_or_else(|| malformed(format!("unknown mechanism code {code}")))?;
    let name_len = u16::from_be_bytes(arr(r.take(2)?)) as usize;
    let report = std::str::from_utf8(r.take(name_len)?)
        .map_err(|_| malformed("the report name is not UTF-8"))?
        .to_string();
    let epsilon = f64::from_bits(u64::from_be_bytes(arr(r.take(8)?)));
    let k = u32::from_be_bytes(arr(r.take(4)?));
    let m = u32::from_be_bytes(arr(r.take(4)?));
    let count = u32::from_be_bytes(arr(r.take(4)?));
    let params = LdpParams::new(mechanism, epsilon, k, m)?;
    Ok((
        BatchHeader {
            report,
            params,
            count,
        },
        r.at,
    ))
}

/// Decodes a whole batch into a sketch of its reports (all or nothing: a bad
/// report anywhere rejects the batch). Merge the result into the stored sketch.
pub fn decode_batch(bytes: &[u8]) -> Result<(BatchHeader, Sketch)> {
    let (header, start) = decode_header(bytes)?;
    let params = header.params;
    let per = match params.mechanism() {
        Mechanism::Cms => 2 + (params.m() as usize).div_ceil(8),
        Mechanism::Hcms => 5,
    };
    let body = &bytes[start..];
    let expected = per as u64 * u64::from(header.count);
    if body.len() as u64 != expected {
        return Err(malformed(format!(
            "the batch declares {} reports of {per} bytes ({expected} bytes) but holds {} bytes after its header",
            header.count,
            body.len()
        )));
    }
    let mut sketch = Sketch::new(params);
    let mut cms = Report::Cms(CmsReport::default());
    for chunk in body.chunks_exact(per) {
        let row = u32::from(u16::from_be_bytes([chunk[0], chunk[1]]));
        match params.mechanism() {
            Mechanism::Cms => {
                if let Report::Cms(r) = &mut cms {
                    r.row = row;
                    r.bits.clear();
                    for word in chunk[2..].chunks(8) {
                        let mut full = [0u8; 8];
                        full[..word.len()].copy_from_slice(word);
                        r.bits.push(u64::from_le_bytes(full));
                    }
                }
                sketch.add(&cms)?;
            }
            Mechanism::Hcms => {
                let index = u32::from(u16::from_be_bytes([chunk[2], chunk[3]]));
                let plus = match chunk[4] {
                    0 => false,
                    1 => true,
                    other => {
                        return Err(malformed(format!(
                            "an hcms bit must be 0 or 1, not {other}"
                        )))
                    }
                };
                sketch.add(&Report::Hcms(HcmsReport { row, index, plus }))?;
            }
        }
    }
    Ok((header, sketch))
}

/// The m coordinates of a CMS report as hex (the JSON form): byte i/8 holds
/// coordinate i at bit i%8, bytes in order, two lowercase hex digits each.
pub fn cms_bits_to_hex(report: &CmsReport, m: u32) -> String {
    let mut bytes = Vec::with_capacity(report.bits.len() * 8);
    for word in &report.bits {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    bytes.truncate((m as usize).div_ceil(8));
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads [`cms_bits_to_hex`] back into a checked report.
pub fn cms_report_from_hex(params: &LdpParams, row: u32, hex: &str) -> Result<CmsReport> {
    let want = (params.m() as usize).div_ceil(8);
    if hex.len() != want * 2 || !hex.is_ascii() {
        return Err(malformed(format!(
            "`bits` must be {} hex digits for m = {}, got {} characters",
            want * 2,
            params.m(),
            hex.len()
        )));
    }
    let mut bytes = Vec::with_capacity(want);
    for pair in hex.as_bytes().chunks(2) {
        let text = std::str::from_utf8(pair).map_err(|_| malformed("`bits` is not hex"))?;
        bytes.push(u8::from_str_radix(text, 16).map_err(|_| malformed("`bits` is not hex"))?);
    }
    let bits = bytes
        .chunks(8)
        .map(|c| {
            let mut full = [0u8; 8];
            full[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(full)
        })
        .collect();
    CmsReport::new(params, row, bits)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at + n).ok_or_else(|| {
            malformed(format!(
                "the batch ends at byte {} inside its header",
                self.bytes.len()
            ))
        })?;
        self.at += n;
        Ok(slice)
    }
}

fn arr<const N: usize>(slice: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(slice);
    out
}
