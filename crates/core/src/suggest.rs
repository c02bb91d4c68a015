//! "Did you mean": the closest known name to an unknown one, by edit distance. Every place
//! that looks a name up and does not find it suggests through here.

/// The Levenshtein distance between two strings (insertions, deletions, substitutions of
/// characters).
///
/// ```
/// assert_eq!(tessera_core::edit_distance("ranker", "rankr"), 1);
/// ```
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The known name closest to `name`, if it is close enough to be a likely typo: at most a
/// third of the name's length away (at least 1, at most 3 edits), case-insensitively.
///
/// ```
/// let known = ["user_stats", "item_stats"];
/// assert_eq!(tessera_core::did_you_mean("user_stat", known), Some("user_stats"));
/// assert_eq!(tessera_core::did_you_mean("zzz", known), None);
/// ```
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    let lower = name.to_lowercase();
    known
        .into_iter()
        .filter(|k| *k != name)
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), k))
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggests_only_close_names() {
        let known = ["ranking", "analytics", "user_stats"];
        assert_eq!(did_you_mean("rankng", known), Some("ranking"));
        assert_eq!(did_you_mean("Analytics", known), Some("analytics"));
        assert_eq!(did_you_mean("marketing", known), None);
        assert_eq!(did_you_mean("x", known), None);
    }
}
