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

/// The real wall clock, never pinned: for what happens in real time whatever the data's
/// clock says (a lease's heartbeat, a retry's backoff, the `endsAt` a peer compares with
/// its own clock).
pub fn wall_ns() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// `42s`, `3m`, `5h`, `2d` between two instants (nanoseconds).
pub fn age(then_ns: i64, now_ns: i64) -> String {
    let s = (now_ns - then_ns).max(0) / 1_000_000_000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}
