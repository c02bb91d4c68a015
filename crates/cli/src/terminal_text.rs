//! [`escaped`]: text from clients made safe to print on an operator's terminal.
//!
//! Audit records, stored values and error messages hold strings that callers chose: a
//! purpose header, feature names, pushed values. Printed as they are, a newline would forge
//! a line of output (a fake audit record), and an escape sequence could move the cursor,
//! recolour or retitle the terminal. Human output therefore shows every control character,
//! every Unicode bidirectional or line-separating format character, and the backslash
//! itself as an escape (`\n`, `\u{1b}`, `\\`), so what is printed is unambiguous and stays
//! on its line. `--json` output is JSON, which escapes control characters already.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal as it is.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || c == '\\'
        // Bidirectional embeddings, overrides and isolates: reorder what is displayed.
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
        // Line and paragraph separators.
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}')
}

/// `text` with every character a terminal could act on escaped (see the module docs).
pub(crate) fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_format_characters_are_escaped() {
        assert!(matches!(escaped("ranking"), Cow::Borrowed("ranking")));
        assert_eq!(escaped("café ✓"), "café ✓");
        assert_eq!(
            escaped("a\nb\rc\td\\e\u{1b}[31mf\u{7}\u{9b}g\u{202e}h\u{2028}"),
            "a\\nb\\rc\\td\\\\e\\u{1b}[31mf\\u{7}\\u{9b}g\\u{202e}h\\u{2028}"
        );
    }
}
