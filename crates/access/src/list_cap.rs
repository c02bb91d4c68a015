//! Bounded echoes of client input: error messages and audit records list at most
//! [`MAX_LISTED`] items, each at most [`MAX_ITEM_CHARS`] characters, and say how many more
//! there were. A request naming 100,000 unknown features gets a short answer and a short
//! audit line, not megabytes of both.

/// Items listed before the rest are only counted.
pub const MAX_LISTED: usize = 20;

/// Characters kept of one listed item (a feature name, a problem) before it is cut.
pub(crate) const MAX_ITEM_CHARS: usize = 500;

/// `s`, cut to `MAX_ITEM_CHARS` (500) characters with a note of how many were dropped.
pub fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    clip_to(s, MAX_ITEM_CHARS)
}

/// `s`, cut to `max` characters with a note of how many were dropped.
pub fn clip_to(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((cut, _)) => {
            let rest = s[cut..].chars().count();
            std::borrow::Cow::Owned(format!("{}… ({rest} more characters)", &s[..cut]))
        }
    }
}

/// The first [`MAX_LISTED`] items joined with `sep` (each clipped), then "… and N more"
/// when there were more.
pub fn join_capped<S: AsRef<str>>(items: &[S], sep: &str) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().take(MAX_LISTED).enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&clip(item.as_ref()));
    }
    if items.len() > MAX_LISTED {
        out.push_str(&format!(
            "{sep}… and {} more (only the first {MAX_LISTED} are listed)",
            items.len() - MAX_LISTED
        ));
    }
    out
}

/// The first [`MAX_LISTED`] items (each clipped), then one item "… and N more" when there
/// were more: for lists kept as lists, such as an audit record's features.
pub fn cap_list(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = items
        .iter()
        .take(MAX_LISTED)
        .map(|s| clip(s).into_owned())
        .collect();
    if items.len() > MAX_LISTED {
        out.push(format!("… and {} more", items.len() - MAX_LISTED));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_capped_with_a_count_of_the_rest() {
        let items: Vec<String> = (0..100).map(|i| format!("f{i}")).collect();
        let joined = join_capped(&items, ", ");
        assert!(joined.starts_with("f0, f1, "), "{joined}");
        assert!(joined.contains("f19, … and 80 more"), "{joined}");
        assert!(!joined.contains("f20"), "{joined}");
        let capped = cap_list(&items);
        assert_eq!(capped.len(), MAX_LISTED + 1);
        assert_eq!(capped[MAX_LISTED], "… and 80 more");
        assert_eq!(cap_list(&items[..3]), items[..3].to_vec());
        assert_eq!(join_capped(&items[..2], "; "), "f0; f1");
    }

    #[test]
    fn long_items_are_clipped_on_a_char_boundary() {
        let long = "é".repeat(MAX_ITEM_CHARS + 7);
        let c = clip(&long);
        assert!(c.ends_with("… (7 more characters)"), "{c}");
        assert_eq!(clip("short"), "short");
    }
}
