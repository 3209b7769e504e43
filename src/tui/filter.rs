//! The `/` filter language: whitespace-separated terms, all of which must hold.
//!
//! ```text
//! v:v3  version:3f2a…   a version by label, fingerprint id or id prefix (4+ digits)
//! refusal               refusals only
//! error                 failed requests or failed tool calls
//! tool                  failed tool calls
//! status:ok|error       the request's own status
//! since:2h              started within the period before now
//! words "quoted words"  input, output or name contains the text; or the trace id
//! ```

use std::fmt;

use crate::period::Period;
use crate::store::query::{self, TraceFilter, VersionRow};

/// A parsed filter, before versions are resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterSpec {
    pub version: Option<String>,
    pub since: Option<Period>,
    pub refusals: bool,
    pub errors: bool,
    pub tool_errors: bool,
    /// `Some(true)`: failed requests; `Some(false)`: successful ones.
    pub failed: Option<bool>,
    pub text: Vec<String>,
}

/// Lines of the filter language for the help overlay.
pub const HELP: &[(&str, &str)] = &[
    ("v:v3", "version by label, id or id prefix"),
    ("refusal", "refusals only"),
    ("error", "failed requests or tool calls"),
    ("tool", "failed tool calls"),
    ("status:ok|error", "the request's own status"),
    ("since:2h", "started in the last 2 hours"),
    (
        "words \"a phrase\"",
        "input, output or name contains it, or trace id",
    ),
];

impl FilterSpec {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut spec = FilterSpec::default();
        for token in tokens(text)? {
            spec.add(token)?;
        }
        Ok(spec)
    }

    fn add(&mut self, token: Token) -> Result<(), String> {
        let word = match token {
            Token::Quoted(s) => {
                self.text.push(s);
                return Ok(());
            }
            Token::Word(w) => w,
        };
        if let Some((key, value)) = word.split_once(':') {
            return self.add_pair(key, value);
        }
        match word.to_ascii_lowercase().as_str() {
            "refusal" | "refusals" | "refused" => self.refusals = true,
            "error" | "errors" | "err" => self.errors = true,
            "tool" | "tool-error" | "tool-errors" | "toolerr" => self.tool_errors = true,
            _ => self.text.push(word),
        }
        Ok(())
    }

    fn add_pair(&mut self, key: &str, value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Err(format!("{key}: needs a value, e.g. {key}:…"));
        }
        match key.to_ascii_lowercase().as_str() {
            "v" | "version" => self.version = Some(value.to_string()),
            "since" => self.since = Some(value.parse()?),
            "status" => {
                self.failed = Some(match value.to_ascii_lowercase().as_str() {
                    "ok" => false,
                    "error" | "err" | "failed" => true,
                    _ => {
                        return Err(format!(
                            "status:{value}: expected status:ok or status:error"
                        ));
                    }
                })
            }
            "text" => self.text.push(value.to_string()),
            _ => {
                return Err(format!(
                    "unknown filter {key}:… (known: v:, status:, since:, text:; quote text with a colon)"
                ));
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        *self == FilterSpec::default()
    }

    /// Resolves the version against the known ones and `since` against `now_ns`.
    pub fn resolve(&self, versions: &[VersionRow], now_ns: i64) -> Result<TraceFilter, String> {
        let version = match &self.version {
            Some(spec) => Some(resolve_version(versions, spec)?),
            None => None,
        };
        let search = (!self.text.is_empty()).then(|| self.text.join(" "));
        Ok(TraceFilter {
            version,
            since_ns: self.since.map(|p| now_ns.saturating_sub(p.as_nanos())),
            refusals: self.refusals,
            errors: self.errors,
            tool_errors: self.tool_errors,
            failed: self.failed,
            search,
            ..TraceFilter::default()
        })
    }
}

/// The canonical spelling, shown in the list's title.
impl fmt::Display for FilterSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(v) = &self.version {
            parts.push(format!("v:{v}"));
        }
        let flags = [
            (self.refusals, "refusal"),
            (self.errors, "error"),
            (self.tool_errors, "tool"),
        ];
        parts.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, n)| n.to_string()),
        );
        match self.failed {
            Some(true) => parts.push("status:error".into()),
            Some(false) => parts.push("status:ok".into()),
            None => {}
        }
        if let Some(p) = self.since {
            parts.push(format!("since:{p}"));
        }
        parts.extend(self.text.iter().map(|t| spell_text(t)));
        f.write_str(&parts.join(" "))
    }
}

/// A text term spelled so that it parses back as text: quoted when it holds whitespace
/// or a colon, is empty or reads as a keyword; `text:…` when it holds a quote (a word's
/// quotes cannot be quoted, and a leading one would open a phrase).
fn spell_text(t: &str) -> String {
    let keyword = matches!(
        t.to_ascii_lowercase().as_str(),
        "refusal"
            | "refusals"
            | "refused"
            | "error"
            | "errors"
            | "err"
            | "tool"
            | "tool-error"
            | "tool-errors"
            | "toolerr"
    );
    if t.contains('"') {
        format!("text:{t}")
    } else if t.is_empty() || keyword || t.contains(':') || t.contains(char::is_whitespace) {
        format!("\"{t}\"")
    } else {
        t.to_string()
    }
}

/// A version by label, `label@id`, fingerprint id, or unique id prefix: the rules of
/// every command ([`query::find_version`]).
pub fn resolve_version(versions: &[VersionRow], spec: &str) -> Result<i64, String> {
    query::find_version(versions, spec).map(|v| v.rowid)
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut quoted = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => quoted.push(c),
                    None => return Err("unclosed quote".into()),
                }
            }
            out.push(Token::Quoted(quoted));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek().filter(|c| !c.is_whitespace()) {
                word.push(c);
                chars.next();
            }
            out.push(Token::Word(word));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures;

    fn version(rowid: i64, label: &str, id: &str) -> VersionRow {
        fixtures::version(rowid, label, id, 0)
    }

    #[test]
    fn parses_the_documented_example() {
        let s = FilterSpec::parse("v:v3 refusal error tool text words").unwrap();
        assert_eq!(s.version.as_deref(), Some("v3"));
        assert!(s.refusals && s.errors && s.tool_errors);
        assert_eq!(s.text, vec!["text", "words"]);
    }

    #[test]
    fn quotes_keep_phrases_and_colons() {
        let s = FilterSpec::parse("\"refund: policy\" status:ok since:2h").unwrap();
        assert_eq!(s.text, vec!["refund: policy"]);
        assert_eq!(s.failed, Some(false));
        assert_eq!(s.since, Some(Period::hours(2)));
        assert_eq!(s.to_string(), "status:ok since:2h \"refund: policy\"");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(
            FilterSpec::parse("colour:red")
                .unwrap_err()
                .contains("unknown filter")
        );
        assert!(FilterSpec::parse("status:maybe").is_err());
        assert!(FilterSpec::parse("since:soon").is_err());
        assert!(FilterSpec::parse("v:").is_err());
        assert!(FilterSpec::parse("\"open").is_err());
    }

    #[test]
    fn the_canonical_spelling_reads_back_as_itself() {
        // Quoted keywords, tabs, empty phrases and words with quotes used to read back
        // as flags, two words, nothing, or a phrase; a quote inside a word no longer
        // counts towards closing a phrase.
        assert!(FilterSpec::parse("text:a:\"b \"").is_err());
        for text in [
            "\"refusal\"",
            "\"a\tb\"",
            "\"\"",
            "text:\"abc x\"",
            "text:a:\"b \"\"",
            "v:v3 \"Error\" since:90m",
        ] {
            let spec = FilterSpec::parse(text).unwrap();
            let again = FilterSpec::parse(&spec.to_string());
            assert_eq!(again.as_ref(), Ok(&spec), "{text:?} spelled {spec}");
        }
    }

    #[test]
    fn empty_text_is_no_filter() {
        assert!(FilterSpec::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn resolves_versions_by_label_id_and_prefix() {
        let vs = [
            version(1, "v1", "aaaa11112222"),
            version(2, "v2", "bbbb11112222"),
        ];
        let at = |spec: &str| FilterSpec::parse(spec).unwrap().resolve(&vs, 0);
        assert_eq!(at("v:v2").unwrap().version, Some(2));
        assert_eq!(at("v:aaaa11112222").unwrap().version, Some(1));
        assert_eq!(at("v:bbbb").unwrap().version, Some(2));
        assert!(at("v:v9").unwrap_err().contains("known versions: v1, v2"));
        assert_eq!(at("since:1m").unwrap().since_ns, Some(-60_000_000_000));
        assert_eq!(at("a b").unwrap().search.as_deref(), Some("a b"));
    }
}
