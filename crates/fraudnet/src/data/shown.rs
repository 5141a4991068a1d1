//! How a user's text (a file name, a field's value) appears in a message: control characters
//! escaped, so that a newline cannot split a message and an escape sequence cannot reach the
//! terminal, and long text cut to a short prefix with its length. Knows nothing of where the text
//! came from.

use std::fmt::Write as _;
use std::path::Path;

/// The most characters of a value or path shown in a message before it is cut.
pub const SHOWN_CHARS: usize = 96;

/// `text` fit for a one-line message: control characters escaped (`\n`, `\t`, `\u{1b}`, …) and,
/// past [`SHOWN_CHARS`] characters, cut with `… (N bytes)` giving the whole length.
///
/// ```
/// use fraudnet::data::shown;
/// assert_eq!(shown("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
/// assert_eq!(shown(&"x".repeat(200)), format!("{}… (200 bytes)", "x".repeat(96)));
/// ```
pub fn shown(text: &str) -> String {
    shown_bytes(text.as_bytes())
}

/// A path as [`shown`] shows it (bytes that are not UTF-8 become `\u{fffd}`).
pub fn shown_path(path: &Path) -> String {
    shown(&path.to_string_lossy())
}

/// Raw bytes (a field that may not be UTF-8) as [`shown`] shows them, invalid sequences as
/// `\u{fffd}`.
pub fn shown_bytes(bytes: &[u8]) -> String {
    // Only a prefix is converted, so that a huge field costs nothing here.
    let cut = bytes.len().min(4 * SHOWN_CHARS);
    let prefix = String::from_utf8_lossy(&bytes[..cut]);
    let mut out = escape_controls(prefix.chars().take(SHOWN_CHARS));
    if cut < bytes.len() || prefix.chars().nth(SHOWN_CHARS).is_some() {
        let _ = write!(out, "… ({} bytes)", bytes.len());
    }
    out
}

/// Every control character of `chars` escaped as Rust escapes it (`\n`, `\u{1b}`).
pub fn escape_controls(chars: impl IntoIterator<Item = char>) -> String {
    let mut out = String::new();
    for c in chars {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_long_text_is_cut_with_its_length() {
        assert_eq!(shown("plain.csv"), "plain.csv");
        assert_eq!(shown("a\r\nb\t"), "a\\r\\nb\\t");
        assert_eq!(shown("\u{1b}]0;pwned\u{7}"), "\\u{1b}]0;pwned\\u{7}");
        let long = "é".repeat(100);
        assert_eq!(shown(&long), format!("{}… (200 bytes)", "é".repeat(96)));
        let field = vec![b'9'; 10_000_000];
        assert_eq!(
            shown_bytes(&field),
            format!("{}… (10000000 bytes)", "9".repeat(96))
        );
        assert_eq!(shown_bytes(b"\xff1"), "\u{fffd}1");
    }
}
