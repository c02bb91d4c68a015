//! [`ConsentHistory`]: the consent changes of one (entity, purpose), and whether consent
//! is in force at an instant. Pure logic: no I/O.

use crate::consent_state::ConsentState;

/// The changes of one (entity, purpose), ordered by time; two changes at the same time
/// are ordered as they were recorded (the later one wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentHistory {
    /// `(at µs, record sequence, state)`, sorted.
    changes: Vec<(i64, u64, ConsentState)>,
}

impl ConsentHistory {
    /// Adds a change made at `at_us`, recorded as number `seq`.
    pub fn add(&mut self, at_us: i64, seq: u64, state: ConsentState) {
        let item = (at_us, seq, state);
        let pos = self
            .changes
            .partition_point(|(a, s, _)| (*a, *s) <= (at_us, seq));
        self.changes.insert(pos, item);
    }

    /// Whether consent is in force at `t_us`: the latest change at or before `t_us` is a
    /// grant. No change before `t_us` means no consent.
    ///
    /// ```
    /// use tessera_consent::{ConsentHistory, ConsentState};
    /// let mut h = ConsentHistory::default();
    /// h.add(10, 0, ConsentState::Granted);
    /// h.add(20, 1, ConsentState::Withdrawn);
    /// assert!(!h.in_force(9) && h.in_force(10) && h.in_force(19) && !h.in_force(20));
    /// ```
    pub fn in_force(&self, t_us: i64) -> bool {
        let n = self.changes.partition_point(|(a, _, _)| *a <= t_us);
        n > 0 && self.changes[n - 1].2 == ConsentState::Granted
    }

    /// The changes, `(at µs, state)`, in order.
    pub fn changes(&self) -> impl Iterator<Item = (i64, ConsentState)> + '_ {
        self.changes.iter().map(|(a, _, s)| (*a, *s))
    }

    /// Whether it holds a change to `state` made at exactly `at_us` (a change already
    /// recorded, when a source of consent events is read again).
    pub fn contains(&self, at_us: i64, state: ConsentState) -> bool {
        let from = self.changes.partition_point(|(a, _, _)| *a < at_us);
        self.changes[from..]
            .iter()
            .take_while(|(a, _, _)| *a == at_us)
            .any(|(_, _, s)| *s == state)
    }

    /// Whether it holds no change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_withdraw_regrant_and_ties() {
        let mut h = ConsentHistory::default();
        // Recorded out of time order.
        h.add(30, 0, ConsentState::Granted);
        h.add(10, 1, ConsentState::Granted);
        h.add(20, 2, ConsentState::Withdrawn);
        let at = |t| h.in_force(t);
        assert_eq!(
            [at(5), at(10), at(15), at(20), at(25), at(30), at(99)],
            [false, true, true, false, false, true, true]
        );
        // Same instant: the later record wins.
        h.add(40, 3, ConsentState::Granted);
        h.add(40, 4, ConsentState::Withdrawn);
        assert!(!h.in_force(40));
    }
}
