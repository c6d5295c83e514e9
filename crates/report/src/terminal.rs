//! Text for a terminal. Ids, attributes, incident names and whatever a
//! plugin says come from signals and providers: a raw ESC, CR or NUL in
//! them could rewrite what a responder sees. Everything printed passes
//! through [`terminal_safe`].

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every control character except newline and tab, and every
/// Unicode bidirectional override, written as a visible `\u{..}` escape.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::terminal_safe;

    #[test]
    fn controls_are_escaped_and_text_kept() {
        assert_eq!(
            terminal_safe("a\u{1b}[2Jb\rc\0d\u{7f}\u{9b}e"),
            "a\\u{1b}[2Jb\\u{d}c\\u{0}d\\u{7f}\\u{9b}e"
        );
        assert_eq!(terminal_safe("line\n\ttabbed é"), "line\n\ttabbed é");
        assert_eq!(terminal_safe("x\u{202e}y"), "x\\u{202e}y");
        assert!(matches!(
            terminal_safe("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
