//! Where a case error is: a byte offset in the file as a line and a column,
//! and an offset inside a decoded string value mapped back to the file.
//!
//! toml gives a string value's span as written: its delimiters, escapes and
//! line breaks included. The operation and behaviour parsers count
//! characters of the decoded value. [`raw_offset`] walks the raw text,
//! decoding escapes as TOML 1.1 does (`\t`, `\xHH`, `\u00e9`, `\U...`, a
//! line-ending backslash in `"""` strings), to find the byte where the k-th
//! decoded character was written. Columns count characters, so `€` and a
//! tab are one column each.

use std::ops::Range;

use super::CaseError;

/// Turns byte offsets into line and column, for errors.
pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// An error at byte `at` of the file (rounded down to a character).
    pub fn error(&self, at: usize, msg: impl Into<String>) -> CaseError {
        let mut at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        CaseError { file: self.file.to_string(), line, col, msg: msg.into() }
    }

    /// An error inside the string value written at `span`: `offset` counts
    /// characters of the decoded value.
    pub fn error_in(&self, span: &Range<usize>, offset: usize, msg: impl Into<String>) -> CaseError {
        let raw = self.text.get(span.clone()).unwrap_or("");
        self.error(span.start + raw_offset(raw, offset), msg)
    }
}

/// The byte offset in `raw`, a TOML string as written (delimiters
/// included), where the `k`-th character of its decoded value was written;
/// the closing delimiter's when the value is shorter.
pub fn raw_offset(raw: &str, k: usize) -> usize {
    let (delim, escapes) = delimiter(raw);
    let mut start = delim.len();
    if delim.len() == 3 {
        let rest = &raw[start..];
        start += if rest.starts_with('\n') {
            1
        } else if rest.starts_with("\r\n") {
            2
        } else {
            0
        };
    }
    let end = raw.len().saturating_sub(delim.len()).max(start);
    let body = &raw[start..end];
    let mut chars = body.char_indices().peekable();
    let mut n = 0;
    while let Some((at, c)) = chars.next() {
        let decoded = if escapes && c == '\\' { skip_escape(&mut chars) } else { 1 };
        if decoded == 0 {
            continue;
        }
        if n == k {
            return start + at;
        }
        n += 1;
    }
    end
}

/// The string's delimiter, and whether escapes are decoded in it.
fn delimiter(raw: &str) -> (&'static str, bool) {
    [("\"\"\"", true), ("'''", false), ("\"", true), ("'", false)]
        .into_iter()
        .find(|(d, _)| raw.starts_with(d) && raw.len() >= 2 * d.len())
        .unwrap_or(("", false))
}

/// Consumes an escape after its backslash; how many characters it decodes
/// to: one, or none for a line-ending backslash.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> usize {
    let digits = match chars.next() {
        Some((_, 'x')) => 2,
        Some((_, 'u')) => 4,
        Some((_, 'U')) => 8,
        Some((_, c)) if c.is_whitespace() => {
            while chars.next_if(|(_, c)| matches!(c, ' ' | '\t' | '\r' | '\n')).is_some() {}
            return 0;
        }
        _ => 0,
    };
    for _ in 0..digits {
        chars.next();
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_skip_delimiters_and_escapes() {
        assert_eq!(raw_offset("\"abc\"", 1), 2);
        assert_eq!(raw_offset("\"abc\"", 3), 4);
        assert_eq!(raw_offset("'a\\tb'", 2), 3);
        assert_eq!(raw_offset("\"a\\tb\"", 2), 4);
        assert_eq!(raw_offset("\"\\u00e9x\"", 1), 7);
        assert_eq!(raw_offset("\"\\xe9x\"", 1), 5);
        assert_eq!(raw_offset("\"€x\"", 1), 4);
        assert_eq!(raw_offset("\"\"\"\nab\ncd\"\"\"", 3), 7);
        assert_eq!(raw_offset("\"\"\"a\\\n   b\"\"\"", 1), 9);
        assert_eq!(raw_offset("'''\r\nab'''", 1), 6);
    }

    #[test]
    fn columns_count_characters() {
        let src = Source { file: "f", text: "a = \"€€ x\"\n" };
        let e = src.error_in(&(4..14), 3, "m");
        assert_eq!((e.line, e.col), (1, 9));
        let e = src.error(6, "inside €");
        assert_eq!((e.line, e.col), (1, 6));
    }
}
