//! A device's own budget: at most `cap` ε of one report definition in any window
//! of `per` (a sliding window, so no burst at a period's boundary).

use crate::error::{invalid, malformed, Error, Result};

/// The cap of a report definition: `cap: { epsilon: 4, per: 1d }`.
#[derive(Debug, Clone, PartialEq)]
pub struct EpsilonCap {
    epsilon: f64,
    per_seconds: i64,
    per_text: String,
}

impl EpsilonCap {
    /// A cap of `epsilon` per `per_seconds` (`per_text` is the period as written,
    /// for messages).
    pub fn new(epsilon: f64, per_seconds: i64, per_text: impl Into<String>) -> Result<Self> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(invalid(
                "cap",
                format!("cap epsilon {epsilon} must be a positive number"),
            ));
        }
        if per_seconds <= 0 {
            return Err(invalid(
                "cap",
                "the cap's period must be positive (e.g. `1d`)",
            ));
        }
        Ok(Self {
            epsilon,
            per_seconds,
            per_text: per_text.into(),
        })
    }

    /// ε allowed per window.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The window, in seconds.
    pub fn per_seconds(&self) -> i64 {
        self.per_seconds
    }
}

/// Tolerance for sums of decimal ε (0.1 + 0.2 …): far below any meaningful ε.
const SLACK: f64 = 1e-9;

/// What a device has spent on one report definition: the (time, ε) of each report
/// still inside the cap's window. Persist it with [`CapLedger::to_bytes`] after
/// every charge, before the report leaves the device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapLedger {
    spends: Vec<(i64, f64)>,
}

impl CapLedger {
    /// An empty ledger (a device that never reported).
    pub fn new() -> Self {
        Self::default()
    }

    /// ε spent in the window ending at `now` (Unix seconds).
    pub fn spent(&self, cap: &EpsilonCap, now: i64) -> f64 {
        self.spends
            .iter()
            .filter(|(t, _)| *t > now - cap.per_seconds)
            .map(|(_, e)| e)
            .sum()
    }

    /// Records a report of `cost` ε at `now` if the cap allows it, or refuses it
    /// with [`Error::CapExceeded`] (and records nothing). Spends that left the
    /// window are dropped. A clock set back cannot free budget: a spend dated in
    /// the future still counts.
    pub fn charge(&mut self, report: &str, cap: &EpsilonCap, cost: f64, now: i64) -> Result<()> {
        self.spends.retain(|(t, _)| *t > now - cap.per_seconds);
        let spent: f64 = self.spends.iter().map(|(_, e)| e).sum();
        if spent + cost > cap.epsilon + SLACK {
            // The earliest time at which enough old spends have left the window.
            let mut by_time = self.spends.clone();
            by_time.sort_by_key(|(t, _)| *t);
            let mut freed = 0.0;
            let mut next = now;
            for (t, e) in &by_time {
                freed += e;
                next = t + cap.per_seconds;
                if spent - freed + cost <= cap.epsilon + SLACK {
                    break;
                }
            }
            return Err(Error::CapExceeded {
                report: report.to_string(),
                cost,
                remaining: (cap.epsilon - spent).max(0.0),
                cap: cap.epsilon,
                period: cap.per_text.clone(),
                next_possible_unix_seconds: next,
            });
        }
        self.spends.push((now, cost));
        Ok(())
    }

    /// The ledger as bytes: `count:u32` then `(time:i64, epsilon:f64)` each, big endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 16 * self.spends.len());
        out.extend_from_slice(&(self.spends.len() as u32).to_be_bytes());
        for (t, e) in &self.spends {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&e.to_bits().to_be_bytes());
        }
        out
    }

    /// Reads [`CapLedger::to_bytes`] back.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = || malformed("a device's epsilon ledger is damaged");
        let count = bytes
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(bad)?;
        if bytes.len() != 4 + 16 * count {
            return Err(bad());
        }
        let spends = bytes[4..]
            .chunks_exact(16)
            .map(|c| {
                let mut t = [0u8; 8];
                let mut e = [0u8; 8];
                t.copy_from_slice(&c[..8]);
                e.copy_from_slice(&c[8..]);
                (i64::from_be_bytes(t), f64::from_bits(u64::from_be_bytes(e)))
            })
            .collect();
        Ok(Self { spends })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_cap_and_frees_with_time() {
        let cap = EpsilonCap::new(4.0, 86_400, "1d").unwrap();
        let mut ledger = CapLedger::new();
        ledger.charge("r", &cap, 2.0, 1000).unwrap();
        ledger.charge("r", &cap, 2.0, 2000).unwrap();
        let err = ledger.charge("r", &cap, 2.0, 3000).unwrap_err();
        match err {
            Error::CapExceeded {
                remaining,
                next_possible_unix_seconds,
                ..
            } => {
                assert_eq!(remaining, 0.0);
                assert_eq!(next_possible_unix_seconds, 1000 + 86_400);
            }
            other => panic!("{other}"),
        }
        // Refusal recorded nothing; once the first spend leaves the window, one more.
        assert_eq!(ledger.spent(&cap, 3000), 4.0);
        ledger.charge("r", &cap, 2.0, 1000 + 86_400).unwrap();
        let round = CapLedger::from_bytes(&ledger.to_bytes()).unwrap();
        assert_eq!(round, ledger);
    }

    #[test]
    fn decimal_epsilons_fill_the_cap_exactly() {
        let cap = EpsilonCap::new(1.0, 60, "1m").unwrap();
        let mut ledger = CapLedger::new();
        for i in 0..10 {
            ledger.charge("r", &cap, 0.1, i).unwrap();
        }
        assert!(ledger.charge("r", &cap, 0.1, 10).is_err());
    }
}
