//! Incremental pulls from APIs that filter by time and page with a token (Phoenix,
//! Langfuse): a *pass* reads `[from, until)` page by page; `until` is fixed when the
//! pass starts so its pages stay stable; the next pass starts `overlap` before it, so
//! late data is read again and absorbed by the idempotent upserts.
//!
//! **A page is checked before it is stored** ([`Pass::check`]): a proxy or cache that
//! answers with a stale page (one from an earlier window, or the previous pass's last
//! page) would otherwise end the pass early, and the window would move past spans that
//! were never asked for again. A page whose spans start outside the asked window is
//! refused; a page that ends the pass and repeats the previous pass's last page is
//! refused once and taken only when asking again gives the same answer (a quiet source
//! legitimately answers so).

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{PullError, SourceConfig};
use crate::ingest::SpanRecord;

/// Spans may start this far outside the asked window: the query's times are rounded
/// to the API's precision. Stale pages are off by minutes or more.
const SLACK_NS: i64 = 1_000_000_000;

/// An API's ISO 8601 time (Phoenix writes offsets such as `+00:00`, Langfuse may
/// write none: then it is UTC) to Unix nanoseconds; the error names the field.
pub(super) fn nanos(text: &str, field: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| format!("{field} {text:?} is not an ISO 8601 time"))
}

/// Where a windowed source stands: inside a pass, or between two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Inclusive start, Unix nanoseconds.
    pub from_ns: i64,
    /// Exclusive end; `None` between passes (the next pass ends at "now").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ns: Option<i64>,
    /// The source's token for the next page of the pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Digest of the previous pass's last page: a page repeating it is suspect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

/// A pass's position: what to ask for now.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    pub from_ns: i64,
    pub until_ns: i64,
    pub page: Option<String>,
    pub last: Option<String>,
}

/// What the check found about a page, kept for the cursor after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    digest: Option<String>,
}

/// Remembers a suspect repeat so that asking again can confirm it (a source's pulls
/// are asked one after another; the guard is per source).
#[derive(Debug, Default)]
pub struct RepeatGuard(Mutex<Option<(String, String)>>);

impl RepeatGuard {
    /// Whether `digest` for the pull at `key` was suspected the time before; either
    /// way the suspicion is then what this pull found.
    fn confirms(&self, key: &str, digest: Option<&str>) -> bool {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = digest.map(|d| (key.to_string(), d.to_string()));
        let confirmed = now.is_some() && *held == now;
        *held = if confirmed { None } else { now };
        confirmed
    }
}

/// A page's identity: its spans' trace and span ids in order.
fn digest(spans: &[SpanRecord]) -> Option<String> {
    if spans.is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    for s in spans {
        h.update(s.trace_id.as_bytes());
        h.update(b"/");
        h.update(s.facts.span_id.as_bytes());
        h.update(b"\n");
    }
    Some(
        h.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

impl Window {
    /// The pass to pull: the saved one resumed, or a new one ending now (the first
    /// reaching `backfill` back).
    pub fn resume(
        cursor: Option<&str>,
        config: &SourceConfig,
        now_ns: i64,
    ) -> Result<Pass, PullError> {
        let saved = match cursor {
            Some(c) => serde_json::from_str::<Window>(c)
                .map_err(|e| PullError::Malformed(format!("saved cursor {c:?}: {e}")))?,
            None => Window {
                from_ns: now_ns - config.backfill.as_nanos(),
                until_ns: None,
                page: None,
                last: None,
            },
        };
        Ok(Pass {
            from_ns: saved.from_ns,
            until_ns: saved.until_ns.unwrap_or(now_ns).max(saved.from_ns),
            page: saved.page,
            last: saved.last,
        })
    }
}

impl Pass {
    /// Checks that `spans`, a page read for this pass, answers it: every span starts
    /// inside the asked window, and a page that ends the pass does not repeat the
    /// previous pass's last page unless asking again gave it twice. The error is
    /// `Malformed`, so the engine asks for the page again.
    pub fn check(
        &self,
        spans: &[SpanRecord],
        ends_pass: bool,
        guard: &RepeatGuard,
    ) -> Result<Checked, PullError> {
        let (from, until) = (self.from_ns - SLACK_NS, self.until_ns + SLACK_NS);
        let outside = spans
            .iter()
            .filter(|s| !(from..until).contains(&s.facts.start_ns))
            .count();
        if outside > 0 {
            let first = spans.iter().map(|s| s.facts.start_ns).min().unwrap_or(0);
            return Err(PullError::Malformed(format!(
                "a stale or misdirected page: {outside} of its {} spans start outside the \
                 window asked for ({} to {}; earliest {}); nothing from it was stored",
                spans.len(),
                crate::clock::rfc3339(self.from_ns),
                crate::clock::rfc3339(self.until_ns),
                crate::clock::rfc3339(first),
            )));
        }
        let digest = digest(spans);
        let repeat = ends_pass && digest.is_some() && digest == self.last;
        let key = format!("{}:{}:{:?}", self.from_ns, self.until_ns, self.page);
        if guard.confirms(&key, repeat.then_some(digest.as_deref()).flatten()) || !repeat {
            return Ok(Checked { digest });
        }
        Err(PullError::Malformed(
            "the page that would end this pass repeats the previous pass's last page \
             (a stale answer from a proxy or cache?); nothing from it was stored"
                .into(),
        ))
    }

    /// The cursor after a page, and whether the pass goes on. `next_page` is the
    /// source's token for the following page (`None`: the pass is complete).
    /// `checked` is the page's check: a completed pass remembers its last page.
    pub fn advance(
        &self,
        next_page: Option<String>,
        checked: Option<&Checked>,
        config: &SourceConfig,
    ) -> (String, bool) {
        let more = next_page.is_some();
        let window = match next_page {
            Some(page) => Window {
                from_ns: self.from_ns,
                until_ns: Some(self.until_ns),
                page: Some(page),
                last: self.last.clone(),
            },
            None => Window {
                from_ns: (self.until_ns - config.overlap.as_nanos()).max(self.from_ns),
                until_ns: None,
                page: None,
                last: checked.and_then(|c| c.digest.clone()),
            },
        };
        let cursor = serde_json::to_string(&window).expect("a window serialises");
        (cursor, more)
    }

    /// How far the cache is known to hold the source once this pass completes.
    pub fn high_water(&self, more: bool) -> Option<i64> {
        (!more).then_some(self.until_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SourceConfig {
        toml::from_str("name = 'px'\nkind = 'phoenix'\nendpoint = 'http://h'\nproject = 'p'\nbackfill = '1h'\noverlap = '5m'")
            .unwrap()
    }

    const MIN: i64 = 60_000_000_000;

    #[test]
    fn a_first_pass_reaches_back_the_backfill_and_ends_now() {
        let pass = Window::resume(None, &config(), 100 * MIN).unwrap();
        assert_eq!(
            (pass.from_ns, pass.until_ns, pass.page),
            (40 * MIN, 100 * MIN, None)
        );
    }

    #[test]
    fn a_pass_keeps_its_end_across_pages_and_the_next_overlaps() {
        let c = config();
        let pass = Window::resume(None, &c, 100 * MIN).unwrap();
        let (cursor, more) = pass.advance(Some("tok".into()), None, &c);
        assert!(more);
        let again = Window::resume(Some(&cursor), &c, 130 * MIN).unwrap();
        assert_eq!(
            (again.until_ns, again.page.as_deref()),
            (100 * MIN, Some("tok"))
        );
        let (cursor, more) = again.advance(None, None, &c);
        assert!(!more);
        assert_eq!(again.high_water(more), Some(100 * MIN));
        let next = Window::resume(Some(&cursor), &c, 130 * MIN).unwrap();
        assert_eq!((next.from_ns, next.until_ns), (95 * MIN, 130 * MIN));
    }

    #[test]
    fn an_unreadable_cursor_is_an_error_not_a_restart() {
        let err = Window::resume(Some("{oops"), &config(), 0).unwrap_err();
        assert!(matches!(err, PullError::Malformed(_)), "{err:?}");
    }

    fn span(id: u32, start_ns: i64) -> SpanRecord {
        let extractor = crate::ingest::Extractor::new(
            &crate::config::VersionMapping::default(),
            &crate::config::Detection::default(),
        );
        let resource = super::super::otlp_span::resource(&[("relops.source", "px")]);
        super::super::otlp_span::SpanParts {
            trace_id: format!("{id:032x}"),
            span_id: format!("{id:016x}"),
            parent_id: None,
            name: "turn".into(),
            start_ns,
            end_ns: start_ns + 1,
            error: false,
            status_message: None,
            attributes: serde_json::Map::new(),
            events: Vec::new(),
        }
        .record(&extractor, &resource)
        .unwrap()
    }

    #[test]
    fn a_page_from_before_the_window_is_refused() {
        let c = config();
        let pass = Window::resume(Some(r#"{"from_ns":6000000000000}"#), &c, 110 * MIN).unwrap();
        let guard = RepeatGuard::default();
        let stale = [span(1, 70 * MIN), span(2, 105 * MIN)];
        let err = pass.check(&stale, true, &guard).unwrap_err().to_string();
        assert!(err.contains("1 of its 2 spans start outside"), "{err}");
        assert!(pass.check(&[span(2, 105 * MIN)], true, &guard).is_ok());
    }

    #[test]
    fn a_repeat_of_the_last_page_ends_a_pass_only_when_asked_twice() {
        let c = config();
        let guard = RepeatGuard::default();
        let first = Window::resume(None, &c, 100 * MIN).unwrap();
        let last_page = [span(1, 97 * MIN), span(2, 98 * MIN)];
        let checked = first.check(&last_page, true, &guard).unwrap();
        let (cursor, _) = first.advance(None, Some(&checked), &c);
        let second = Window::resume(Some(&cursor), &c, 130 * MIN).unwrap();
        // The same spans again, ending the pass: refused once, taken when confirmed.
        let err = second.check(&last_page, true, &guard).unwrap_err();
        assert!(
            err.to_string().contains("repeats the previous pass"),
            "{err}"
        );
        assert!(second.check(&last_page, true, &guard).is_ok());
        // A suspicion is forgotten when anything else comes between.
        assert!(second.check(&last_page, true, &guard).is_err());
        assert!(second.check(&[span(3, 120 * MIN)], false, &guard).is_ok());
        assert!(second.check(&last_page, true, &guard).is_err());
        // Not ending the pass, the same spans are no threat.
        assert!(second.check(&last_page, false, &guard).is_ok());
    }
}
