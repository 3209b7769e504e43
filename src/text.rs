//! Trace data is data: the few ways text from traffic (labels, answers, error bodies)
//! is made safe for where it goes. The terminal gets no escapes, a pasted command gets
//! quoted words, a URL gets percent-encoded parts, Markdown gets no raw HTML.

use std::borrow::Cow;

/// Text safe to print on a terminal: control characters (escape sequences, bells,
/// carriage returns) become `�`, except newlines and tabs.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if is_unsafe(c) { '\u{fffd}' } else { c })
            .collect(),
    )
}

fn is_unsafe(c: char) -> bool {
    // C0 and C1 controls (ESC, CSI, OSC, BEL...) and the bidi overrides that reorder
    // what the operator reads.
    (c.is_control() && c != '\n' && c != '\t') || ('\u{202a}'..='\u{202e}').contains(&c)
}

/// Text on one line, for a status line or a log field: every control character
/// (newlines too) becomes a space.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The first `n` characters, with `…` when cut.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One word for a POSIX shell: as it is when plainly safe, otherwise single-quoted,
/// so a label pasted into a suggested command never runs anything.
pub fn shell_quote(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@:/+=,%".contains(c));
    if plain {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
    }
}

/// A suggested command line: `relops` and its words, each quoted for a POSIX shell,
/// so whatever a label holds, pasting the line runs relops and nothing else.
pub fn command(words: &[&str]) -> String {
    let mut out = String::from("relops");
    for w in words {
        out.push(' ');
        out.push_str(&shell_quote(w));
    }
    out
}

/// `s` as one Markdown code span: fenced by a backtick run longer than any inside it
/// (padded when it starts or ends with one), so a backtick in a label cannot end the
/// span early and cut a command an operator copies.
pub fn code_span(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A value for one URL path segment or query value: everything but RFC 3986's
/// unreserved characters is percent-encoded, so `../` or `?` in a label stays inside
/// its segment.
pub fn url_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A whole Markdown document made safe to render: no raw HTML can open (a `<` that
/// could start a tag, comment or autolink becomes `&lt;`) and no control character
/// survives. Fenced blocks are left as they are (they render literally); code spans
/// are not, since a backtick inside a label could end one early. Applied once to each
/// finished document, so no label, case name or answer quoted in it is forgotten.
pub fn markdown(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len());
    let mut fenced = false;
    for line in printable(doc).split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || line.trim_start().starts_with("```") {
            out.push_str(line);
            continue;
        }
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            let opens = |n: &char| n.is_ascii_alphabetic() || "/!?".contains(*n);
            if c == '<' && chars.peek().is_some_and(opens) {
                out.push_str("&lt;");
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// Numbers as an operator reads them.
/// `840ms`, `1.24s`, `2m05s`.
pub fn millis(ms: f64) -> String {
    if !ms.is_finite() {
        "-".into()
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else if ms < 60_000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// Dollars with enough digits for per-request amounts.
pub fn dollars(x: f64) -> String {
    // Per-request LLM costs are fractions of a cent: keep three significant digits.
    if x >= 1.0 {
        format!("${x:.2}")
    } else if x >= 0.01 {
        format!("${x:.4}")
    } else {
        format!("${x:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_never_reach_the_terminal() {
        let hostile = "ok\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{9b}31m\u{202e}txt";
        let shown = printable(hostile);
        assert!(!shown.chars().any(|c| c.is_control() && c != '\n'));
        assert!(!shown.contains('\u{202e}'));
        assert!(shown.starts_with("ok\u{fffd}]0;pwned"));
        assert!(matches!(printable("plain\ttext\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("v2"), "v2");
        assert_eq!(shell_quote("v9$(touch /tmp/p)"), "'v9$(touch /tmp/p)'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b;rm -rf ~"), "'a b;rm -rf ~'");
    }

    #[test]
    fn quoted_words_come_back_whole_from_a_real_shell() {
        let words = [
            "v9$(touch /tmp/p)",
            "it's",
            "`id`",
            "a\nb",
            "x;y|z&",
            "--flag",
        ];
        for w in words {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(w)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), w);
        }
    }

    #[test]
    fn a_code_span_outlasts_the_backticks_inside() {
        assert_eq!(code_span("relops x"), "`relops x`");
        assert_eq!(code_span("a `id` b"), "``a `id` b``");
        assert_eq!(code_span("``x"), "``` ``x ```");
    }

    #[test]
    fn a_label_stays_inside_its_url_segment() {
        assert_eq!(url_component("v2"), "v2");
        assert_eq!(url_component("../../tmp/x"), "..%2F..%2Ftmp%2Fx");
        assert_eq!(url_component("a b?c=d#e"), "a%20b%3Fc%3Dd%23e");
        assert_eq!(url_component("é"), "%C3%A9");
    }

    #[test]
    fn markdown_gets_no_raw_html() {
        assert_eq!(
            markdown("<img src=x onerror=alert(1)> & </b><!-- \u{1b}[31m p<0.001, 3 > 2"),
            "&lt;img src=x onerror=alert(1)> & &lt;/b>&lt;!-- \u{fffd}[31m p<0.001, 3 > 2"
        );
        // A fenced block renders literally: left alone; a code span is not trusted.
        let code = "see `x'<b>'`\n```\n<b>\n```\n<i>\n";
        assert_eq!(markdown(code), "see `x'&lt;b>'`\n```\n<b>\n```\n&lt;i>\n");
    }

    #[test]
    fn clip_and_one_line() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(one_line("a\nb\tc"), "a b c");
    }
}
