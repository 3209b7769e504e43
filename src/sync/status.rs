//! Each source's health as the operator reads it: from the config and the cache
//! alone, so it answers offline too.

use rusqlite::Connection;
use serde::Serialize;

use crate::config::Config;
use crate::store::sync::{self as state, SourceState};

/// A source's state in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// The last pull succeeded.
    Ok,
    /// The last pull failed; earlier data is still cached.
    Failing,
    /// Configured but never pulled.
    Never,
    /// In the cache but no longer in the config.
    Removed,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failing => "failing",
            Self::Never => "never synced",
            Self::Removed => "not configured",
        }
    }
}

/// One row of the Sources view and of `relops sync --status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStatus {
    pub source: String,
    pub kind: String,
    pub health: Health,
    /// How far behind "now" the newest synced record is, in seconds.
    pub lag_secs: Option<i64>,
    /// Since the last successful pull, in seconds.
    pub since_success_secs: Option<i64>,
    #[serde(flatten)]
    pub state: SourceState,
}

/// Every configured source, then any the cache remembers that the config dropped.
pub fn statuses(
    config: &Config,
    conn: &Connection,
    now_ns: i64,
) -> rusqlite::Result<Vec<SourceStatus>> {
    let mut known = state::states(conn)?;
    let mut out = Vec::new();
    for c in &config.sources {
        let found = known.iter().position(|s| s.source == c.name);
        let st = found
            .map(|i| known.remove(i))
            .unwrap_or_else(|| SourceState {
                source: c.name.clone(),
                ..SourceState::default()
            });
        let kind = c.kind.as_str().to_string();
        out.push(status(st, kind, None, now_ns));
    }
    for st in known {
        let kind = st.kind.clone();
        out.push(status(st, kind, Some(Health::Removed), now_ns));
    }
    Ok(out)
}

fn status(state: SourceState, kind: String, health: Option<Health>, now_ns: i64) -> SourceStatus {
    let secs = |ns: Option<i64>| ns.map(|t| (now_ns - t).max(0) / 1_000_000_000);
    let health = health.unwrap_or(match (&state.last_error, state.last_attempt_ns) {
        (Some(_), _) => Health::Failing,
        (None, None) => Health::Never,
        (None, Some(_)) => Health::Ok,
    });
    SourceStatus {
        source: state.source.clone(),
        kind,
        health,
        lag_secs: secs(state.high_water_ns),
        since_success_secs: secs(state.last_success_ns),
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, std::path::Path::new("relops.toml")).unwrap()
    }

    #[test]
    fn configured_sources_come_first_and_dropped_ones_are_flagged() {
        let c = crate::store::memory();
        state::record_error(&c, "old", "phoenix", "gone", 1).unwrap();
        state::record_error(&c, "f", "otlp-file", "no such file", 5_000_000_000).unwrap();
        let cfg = config(
            "[[source]]\nname = 'f'\nkind = 'otlp-file'\npath = 'x'\n\n[[source]]\nname = 'g'\nkind = 'otlp-file'\npath = 'y'\n",
        );
        let s = statuses(&cfg, &c, 65_000_000_000).unwrap();
        let summary: Vec<_> = s.iter().map(|s| (s.source.as_str(), s.health)).collect();
        assert_eq!(
            summary,
            [
                ("f", Health::Failing),
                ("g", Health::Never),
                ("old", Health::Removed)
            ]
        );
        assert_eq!(s[0].state.last_error.as_deref(), Some("no such file"));
    }
}
