//! [`DenseGroups`]: rows grouped by a dense group id with a counting sort.

/// Rows grouped by group id: `O(rows + groups)`, each group's rows in row order. The window
/// join groups scanned events by spine key this way, and the stream engine a batch's
/// events by entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenseGroups {
    offsets: Vec<usize>,
    order: Vec<u32>,
}

impl DenseGroups {
    /// Groups row `i` under `ids[i]` (`< groups`); rows whose id is `skip` (or any id not
    /// below `groups`) belong to no group. Rows are numbered from 0 and must fit in `u32`
    /// (callers check; larger inputs are split first).
    pub fn new(ids: &[u32], groups: usize, skip: u32) -> Self {
        let mut offsets = vec![0usize; groups + 1];
        let valid = |id: u32| id != skip && (id as usize) < groups;
        for &id in ids.iter().filter(|&&id| valid(id)) {
            offsets[id as usize + 1] += 1;
        }
        for i in 0..groups {
            offsets[i + 1] += offsets[i];
        }
        let mut next = offsets[..groups].to_vec();
        let mut order = vec![0u32; offsets[groups]];
        for (row, &id) in ids.iter().enumerate() {
            if valid(id) {
                let at = &mut next[id as usize];
                order[*at] = row as u32;
                *at += 1;
            }
        }
        DenseGroups { offsets, order }
    }

    /// The rows of group `g`, in row order (empty past the last group).
    pub fn rows(&self, g: usize) -> &[u32] {
        match (self.offsets.get(g), self.offsets.get(g + 1)) {
            (Some(&a), Some(&b)) => &self.order[a..b],
            _ => &[],
        }
    }

    /// Group `g`'s rows, to reorder in place (e.g. by time).
    pub fn rows_mut(&mut self, g: usize) -> &mut [u32] {
        match (self.offsets.get(g), self.offsets.get(g + 1)) {
            (Some(&a), Some(&b)) => &mut self.order[a..b],
            _ => &mut [],
        }
    }

    /// The number of groups.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_rows_in_order_and_skips() {
        let g = DenseGroups::new(&[2, 0, 9, 2, u32::MAX, 0, 2], 3, u32::MAX);
        assert_eq!(g.len(), 3);
        assert_eq!(g.rows(0), [1, 5]);
        assert_eq!(g.rows(1), [] as [u32; 0]);
        assert_eq!(g.rows(2), [0, 3, 6]);
        assert_eq!(g.rows(3), [] as [u32; 0]);
        assert!(DenseGroups::new(&[], 0, u32::MAX).is_empty());
    }
}
