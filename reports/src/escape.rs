//! Escaping for the markup we write by hand: XML (JUnit) and HTML (the report page).
//!
//! Everything that reaches a report may come from a broker under test — an error message,
//! a topic name, a description quoting bytes — so every string is escaped on the way out,
//! text and attributes alike. XML 1.0 also forbids most control characters outright
//! (even escaped as `&#1;`), so those are replaced rather than escaped: a JUnit file with
//! one stray `\u{1}` would be rejected whole by CI parsers.

/// Escapes `text` for XML or HTML element content and for double- or single-quoted
/// attribute values.
pub fn markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if allowed_in_xml(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Whether XML 1.0 allows `c` at all (the `Char` production of the XML 1.0 spec, §2.2).
fn allowed_in_xml(c: char) -> bool {
    matches!(c,
        '\u{9}' | '\u{A}' | '\u{D}'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// A string usable as (part of) an HTML `id` or CSS class: ASCII letters, digits and `-`
/// kept, anything else turned into `-`.
pub fn identifier(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_escapes_the_five_and_replaces_forbidden_controls() {
        assert_eq!(
            markup("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            markup("ok\tline\nnext\u{1}\u{FFFF}"),
            "ok\tline\nnext\u{FFFD}\u{FFFD}"
        );
        assert_eq!(markup("ключ 🔑"), "ключ 🔑");
    }

    #[test]
    fn identifiers_keep_only_safe_characters() {
        assert_eq!(identifier("lost-write"), "lost-write");
        assert_eq!(identifier("G1a <x>"), "G1a--x-");
    }
}
