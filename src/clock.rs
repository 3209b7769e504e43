//! The one place that reads the wall clock, so that tests and demos can pin it.

use chrono::{DateTime, Utc};

/// Pins "now" for reproducible demos and tests (RFC 3339, e.g. `2026-11-20T12:00:00Z`).
pub const PIN_ENV: &str = "RELOPS_NOW";

/// The current time, or the pinned one.
pub fn now() -> DateTime<Utc> {
    std::env::var(PIN_ENV)
        .ok()
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}

pub fn now_ns() -> i64 {
    now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// RFC 3339 in UTC with millisecond precision, from Unix nanoseconds.
pub fn rfc3339(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
