//! Tables that fit the terminal: a line wider than the terminal is cut at its width and ends
//! with `…`, so columns stay aligned instead of wrapping into each other. Output that goes
//! to a file or a pipe is not cut (unless `COLUMNS` is set), so nothing is lost there.

/// The width to fit: the terminal's (standard output), else `COLUMNS`, else none.
pub(crate) fn width() -> Option<usize> {
    if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size() {
        return Some(usize::from(w));
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| *w >= 20)
}

/// `line` cut to `width` characters (the last one `…`) when it is wider.
pub(crate) fn fit(line: &str, width: Option<usize>) -> String {
    match width {
        Some(w) if line.chars().count() > w => {
            let mut out: String = line.chars().take(w.saturating_sub(1)).collect();
            out.push('…');
            out
        }
        _ => line.to_string(),
    }
}

/// Prints every line of `text` fitted to the terminal.
pub(crate) fn print_fitted(text: &str) {
    let w = width();
    for line in text.lines() {
        println!("{}", fit(line, w));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_lines_are_cut_with_an_ellipsis() {
        assert_eq!(fit("abcdef", Some(4)), "abc…");
        assert_eq!(fit("abcd", Some(4)), "abcd");
        assert_eq!(fit("abcdef", None), "abcdef");
        assert_eq!(fit("äöüßéè", Some(3)).chars().count(), 3);
    }
}
