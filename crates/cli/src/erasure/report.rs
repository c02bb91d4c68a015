//! [`TierReport`] and [`EraseReport`]: what an erasure removed, tier by tier, as text and
//! as JSON (`--json`).

use serde_json::{json, Value};

/// What one tier did.
#[derive(Debug, Clone)]
pub(crate) struct TierReport {
    pub tier: String,
    pub detail: String,
    pub json: Value,
    pub ms: f64,
    pub skipped: bool,
}

impl TierReport {
    pub(crate) fn new(tier: &str, detail: &str, json: Value) -> Self {
        Self {
            tier: tier.to_string(),
            detail: detail.to_string(),
            json,
            ms: 0.0,
            skipped: false,
        }
    }

    /// A tier an earlier, interrupted run finished.
    pub(crate) fn already_done(tier: &str) -> Self {
        Self {
            skipped: true,
            ..Self::new(
                tier,
                "done by an earlier run of this erasure (journal)",
                json!({}),
            )
        }
    }
}

/// The whole erasure.
#[derive(Debug, Clone, Default)]
pub(crate) struct EraseReport {
    pub entities: Vec<String>,
    pub journal: String,
    pub resumed: bool,
    pub tiers: Vec<TierReport>,
    pub total_ms: f64,
    pub verify: Option<super::byte_scan::ScanReport>,
}

impl EraseReport {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "entities": self.entities,
            "journal": self.journal,
            "resumed": self.resumed,
            "total_ms": self.total_ms,
            "tiers": self.tiers.iter().map(|t| {
                let mut j = t.json.clone();
                if !j.is_object() { j = json!({}); }
                j["tier"] = json!(t.tier);
                j["detail"] = json!(t.detail);
                j["ms"] = json!(t.ms);
                j["skipped"] = json!(t.skipped);
                j
            }).collect::<Vec<_>>(),
            "verify": self.verify.as_ref().map(super::byte_scan::ScanReport::to_json),
        })
    }

    pub(crate) fn to_text(&self) -> String {
        let mut out = format!(
            "Erased {} entit{} (keyed hashes {}){}:\n",
            self.entities.len(),
            if self.entities.len() == 1 { "y" } else { "ies" },
            self.entities
                .iter()
                .map(|d| &d[..16.min(d.len())])
                .collect::<Vec<_>>()
                .join(", "),
            if self.resumed {
                ", resuming an interrupted run"
            } else {
                ""
            }
        );
        for t in &self.tiers {
            out.push_str(&format!(
                "  {:<13} {:>9.1} ms  {}\n",
                t.tier, t.ms, t.detail
            ));
        }
        out.push_str(&format!(
            "  total         {:>9.1} ms  journal {}\n",
            self.total_ms, self.journal
        ));
        if let Some(v) = &self.verify {
            out.push_str(&v.to_text());
        }
        out
    }
}
