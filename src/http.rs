//! Small pieces every HTTP client here shares: reading `Retry-After`, naming the real
//! cause of a reqwest error, and quoting a response body in a message.

use std::time::Duration;

/// The longest a `Retry-After` is honoured; beyond it the caller gives up waiting.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// `Retry-After` in seconds (the HTTP-date form falls back to the caller's backoff).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The innermost cause: reqwest's outer message ("error sending request") says little.
/// Scrubbed: it may name a URL that is itself a secret (a Slack webhook).
pub fn root_cause(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = s.to_string();
        source = s.source();
    }
    crate::secret::scrub_owned(msg)
}

/// A response body quoted on one line, clipped, for an error message. Scrubbed before
/// it is clipped, so a cut never leaves half a secret behind.
pub fn snippet(body: &[u8]) -> String {
    use crate::text::{clip, one_line};
    let text = String::from_utf8_lossy(body);
    clip(&one_line(&crate::secret::scrub(&text)), 200)
}
