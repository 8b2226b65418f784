//! Text from data and configs (column names, class labels, paths) made safe
//! for the Markdown reports: it renders as the same text, never as HTML, a
//! link, emphasis, or an extra table column.
//!
//! ```
//! use anneal_core::markdown::{code, escape};
//!
//! assert_eq!(escape("<script>a|b</script>"), "&lt;script&gt;a\\|b&lt;/script&gt;");
//! assert_eq!(code("bill_length"), "`bill_length`");
//! assert_eq!(code("a`b|c"), "`` a`b\\|c ``");
//! ```

/// `text` as literal Markdown text (also inside a table cell): HTML
/// characters become entities, Markdown punctuation is backslash-escaped,
/// `|` cannot end a cell and a line break cannot end a row.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '|' | '`' | '*' | '[' | ']' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` as an inline code span (literal, so HTML inside it is shown, not
/// run), with a longer fence when the text holds a backtick, and `|` escaped
/// so that it cannot split a table cell.
pub fn code(text: &str) -> String {
    let body: String = text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    let body = body.replace('|', "\\|");
    let longest_run = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    if longest_run == 0 {
        format!("`{body}`")
    } else {
        let fence = "`".repeat(longest_run + 1);
        format!("{fence} {body} {fence}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_active_survives() {
        let e = escape("<img src=x onerror=alert(1)> [a](javascript:x) **b** | c\nd");
        assert!(!e.contains('<') && !e.contains('\n'));
        assert!(e.contains("\\[a\\]") && e.contains("\\*\\*b\\*\\*") && e.contains("\\|"));
        assert_eq!(escape("bill_length_mm 3.5"), "bill_length_mm 3.5");
    }
}
