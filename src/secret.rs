//! Secrets never leave relops. Every credential relops reads (a source's token or Basic
//! pair, a replay target's API key, a notifier's secret or secret URL, a procedure's
//! secrets, the receiver's token) is registered here, in each form a peer might echo it
//! back: as sent, percent-encoded, JSON-escaped, base64 and as a Basic header's pair.
//! Every message built from a peer's answer, every error the cache keeps, every report
//! and every log line passes [`scrub`] on its way out: one choke point, so a new peer
//! cannot forget its own scrubber.

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;

/// What a secret becomes in any text relops writes.
pub const MASK: &str = "***";

/// Values shorter than this are not secrets worth the name: masking them would blot out
/// ordinary words.
pub const MIN_LEN: usize = 4;

/// A credential read from the environment. Debug and Display never show it; reading
/// one registers it with the scrubber.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Reads `var`; the error names the variable, never a value.
    pub fn from_env(var: &str) -> Result<Self, String> {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Self::new(v)),
            _ => Err(format!("environment variable {var} is not set")),
        }
    }

    /// A secret from elsewhere (a test, a prompt): registered all the same.
    pub fn new(value: String) -> Self {
        register(&value);
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The forms known so far and one automaton over them, rebuilt when a form is added
/// (rare: at start-up and when a config is read).
struct Known {
    forms: Vec<String>,
    matcher: Option<AhoCorasick>,
}

static KNOWN: RwLock<Known> = RwLock::new(Known {
    forms: Vec::new(),
    matcher: None,
});

/// Registers `value` (in all its forms) as a secret for the rest of the process.
pub fn register(value: &str) {
    add(forms(value));
}

/// Registers a Basic pair: each half, and the base64 of `user:password` a server may
/// echo from the `Authorization` header.
pub fn register_basic(user: &str, password: &str) {
    let pair = format!("{user}:{password}");
    let mut all = forms(password);
    if pair.len() >= MIN_LEN {
        all.extend(base64_forms(&pair));
    }
    add(all);
}

/// `text` with every registered secret, in any of its forms, replaced by [`MASK`].
pub fn scrub(text: &str) -> Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    match &known.matcher {
        Some(m) if m.is_match(text) => {
            Cow::Owned(m.replace_all(text, &vec![MASK; known.forms.len()]))
        }
        _ => Cow::Borrowed(text),
    }
}

/// [`scrub`] for an owned string, without a copy when nothing matches.
pub fn scrub_owned(text: String) -> String {
    match scrub(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(clean) => clean,
    }
}

/// Standard error with every secret masked: the guard's log writer (each log event
/// arrives as one write).
pub struct ScrubbedStderr;

impl std::io::Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn add(new: Vec<String>) {
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    let before = known.forms.len();
    for f in new {
        if f.len() >= MIN_LEN && !known.forms.contains(&f) {
            known.forms.push(f);
        }
    }
    if known.forms.len() == before {
        return;
    }
    // Leftmost-longest: a secret's base64 or escaped form wins over a shorter secret
    // that happens to be inside it.
    known.matcher = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .build(&known.forms)
        .ok();
}

/// Every form of `value` a peer might echo: as sent, percent-encoded (either hex case,
/// `+` for spaces), JSON-escaped (with `\/` as some encoders write it) and base64.
fn forms(value: &str) -> Vec<String> {
    if value.len() < MIN_LEN {
        return Vec::new();
    }
    let percent = crate::text::url_component(value);
    let json = serde_json::to_string(value).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    let mut all = vec![
        value.to_string(),
        percent.replace("%20", "+"),
        lower_hex(&percent),
        json.replace('/', "\\/"),
        percent,
        json,
    ];
    all.extend(base64_forms(value));
    all
}

/// Base64 without padding (so padded echoes match too), standard and URL-safe.
fn base64_forms(value: &str) -> [String; 2] {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    [STANDARD_NO_PAD.encode(value), URL_SAFE_NO_PAD.encode(value)]
}

/// `%2F` → `%2f`: percent-encoders differ in hex case.
fn lower_hex(percent: &str) -> String {
    let mut out = String::with_capacity(percent.len());
    let mut hex_left = 0;
    for c in percent.chars() {
        if c == '%' {
            hex_left = 2;
            out.push(c);
        } else if hex_left > 0 {
            hex_left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn every_echoed_form_is_masked() {
        let s = "canary/t0k+en \"q\"=";
        register(s);
        let echoes = [
            s.to_string(),
            crate::text::url_component(s),
            lower_hex(&crate::text::url_component(s)),
            crate::text::url_component(s).replace("%20", "+"),
            serde_json::to_string(s).unwrap(),
            STANDARD.encode(s),
        ];
        for echo in echoes {
            let text = format!("HTTP 401: bad token {echo} (sent)");
            let clean = scrub(&text);
            assert!(!clean.contains(&echo), "{echo:?} survived in {clean}");
            assert!(clean.contains(MASK) && clean.contains("(sent)"), "{clean}");
            assert!(matches!(scrub(&clean), Cow::Borrowed(_)), "{clean}");
        }
    }

    #[test]
    fn a_basic_pair_is_masked_as_the_header_carries_it() {
        register_basic("pk-lf-user", "sk-lf-canary-pass");
        let header = format!("Basic {}", STANDARD.encode("pk-lf-user:sk-lf-canary-pass"));
        let text = format!("you sent {header}");
        let clean = scrub(&text);
        assert_eq!(clean, "you sent Basic ***==");
        assert_eq!(scrub("password sk-lf-canary-pass"), "password ***");
    }

    #[test]
    fn short_values_and_clean_text_are_left_alone() {
        register("abc");
        assert_eq!(scrub("abc abc"), "abc abc");
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_secret_read_from_the_environment_is_registered() {
        // SAFETY: tests in this module set a variable no other test reads.
        unsafe { std::env::set_var("RELOPS_TEST_SECRET_ENV", "env-canary-771") };
        let s = Secret::from_env("RELOPS_TEST_SECRET_ENV").unwrap();
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(scrub("echo env-canary-771"), "echo ***");
        assert!(Secret::from_env("RELOPS_TEST_SECRET_UNSET").is_err());
    }
}
