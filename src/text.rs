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

/// Text for a Markdown document: HTML's special characters escaped (a label cannot
/// open a tag) and control characters dropped.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in printable(s).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
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
    fn a_label_stays_inside_its_url_segment() {
        assert_eq!(url_component("v2"), "v2");
        assert_eq!(url_component("../../tmp/x"), "..%2F..%2Ftmp%2Fx");
        assert_eq!(url_component("a b?c=d#e"), "a%20b%3Fc%3Dd%23e");
        assert_eq!(url_component("é"), "%C3%A9");
    }

    #[test]
    fn markdown_gets_no_raw_html() {
        assert_eq!(
            markdown("<img src=x onerror=alert(1)> & \u{1b}[31m"),
            "&lt;img src=x onerror=alert(1)&gt; &amp; \u{fffd}[31m"
        );
    }

    #[test]
    fn clip_and_one_line() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(one_line("a\nb\tc"), "a b c");
    }
}
