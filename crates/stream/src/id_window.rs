//! [`IdWindow`]: the event ids the engine still has to recognise as duplicates, in memory,
//! grouped by the batch that applied them (the checkpoint stores the same groups).
//!
//! An id matters only while an event carrying it could still be applied: once every event
//! of a batch is older than the lateness horizon (newest event time minus the allowed
//! lateness and the future tolerance), a redelivery of any of them would be refused as
//! late anyway, and the batch's ids are forgotten. Memory is therefore bounded by the
//! events of that horizon (in event time), not by the stream's length.

use std::collections::VecDeque;

use hashbrown::HashSet;

/// Ids of applied events, by batch, oldest batch first.
#[derive(Debug, Default)]
pub(crate) struct IdWindow {
    ids: HashSet<Vec<u8>>,
    /// (batch sequence, newest event time of its ids, its ids)
    batches: VecDeque<(u64, i64, Vec<Vec<u8>>)>,
}

impl IdWindow {
    /// Whether an event with this id was applied (and not yet forgotten).
    pub(crate) fn contains(&self, id: &[u8]) -> bool {
        self.ids.contains(id)
    }

    /// Remembers the ids of batch `seq`.
    pub(crate) fn add(&mut self, seq: u64, ids: &[(Vec<u8>, i64)]) {
        if ids.is_empty() {
            return;
        }
        let max = ids.iter().map(|(_, t)| *t).max().unwrap_or(i64::MIN);
        let list: Vec<Vec<u8>> = ids.iter().map(|(id, _)| id.clone()).collect();
        self.ids.extend(list.iter().cloned());
        self.batches.push_back((seq, max, list));
    }

    /// The batches, from the oldest, whose ids are all older than `cut`.
    pub(crate) fn expired(&self, cut: i64) -> Vec<u64> {
        self.batches
            .iter()
            .take_while(|(_, max, _)| *max < cut)
            .map(|(seq, _, _)| *seq)
            .collect()
    }

    /// Forgets the oldest `n` batches (those [`IdWindow::expired`] returned).
    pub(crate) fn forget_oldest(&mut self, n: usize) {
        for _ in 0..n {
            if let Some((_, _, list)) = self.batches.pop_front() {
                for id in list {
                    self.ids.remove(&id);
                }
            }
        }
    }

    /// Ids remembered.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_whole_batches_in_order() {
        let mut w = IdWindow::default();
        w.add(0, &[(b"a".to_vec(), 10), (b"b".to_vec(), 20)]);
        w.add(1, &[(b"c".to_vec(), 15)]);
        w.add(2, &[(b"d".to_vec(), 40)]);
        assert!(w.contains(b"a") && w.contains(b"d"));
        // batch 0's newest id (20) is not older than 20: nothing goes.
        assert!(w.expired(20).is_empty());
        assert_eq!(w.expired(21), vec![0, 1]);
        w.forget_oldest(2);
        assert!(!w.contains(b"a") && !w.contains(b"c") && w.contains(b"d"));
        assert_eq!(w.len(), 1);
    }
}
