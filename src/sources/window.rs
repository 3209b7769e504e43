//! Incremental pulls from APIs that filter by time and page with a token (Phoenix,
//! Langfuse): a *pass* reads `[from, until)` page by page; `until` is fixed when the
//! pass starts so its pages stay stable; the next pass starts `overlap` before it, so
//! late data is read again and absorbed by the idempotent upserts.

use serde::{Deserialize, Serialize};

use super::{PullError, SourceConfig};

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
}

/// A pass's position: what to ask for now.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    pub from_ns: i64,
    pub until_ns: i64,
    pub page: Option<String>,
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
            },
        };
        Ok(Pass {
            from_ns: saved.from_ns,
            until_ns: saved.until_ns.unwrap_or(now_ns).max(saved.from_ns),
            page: saved.page,
        })
    }
}

impl Pass {
    /// The cursor after a page, and whether the pass goes on. `next_page` is the
    /// source's token for the following page (`None`: the pass is complete).
    pub fn advance(&self, next_page: Option<String>, config: &SourceConfig) -> (String, bool) {
        let more = next_page.is_some();
        let window = match next_page {
            Some(page) => Window {
                from_ns: self.from_ns,
                until_ns: Some(self.until_ns),
                page: Some(page),
            },
            None => Window {
                from_ns: (self.until_ns - config.overlap.as_nanos()).max(self.from_ns),
                until_ns: None,
                page: None,
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
        let (cursor, more) = pass.advance(Some("tok".into()), &c);
        assert!(more);
        let again = Window::resume(Some(&cursor), &c, 130 * MIN).unwrap();
        assert_eq!(
            (again.until_ns, again.page.as_deref()),
            (100 * MIN, Some("tok"))
        );
        let (cursor, more) = again.advance(None, &c);
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
}
