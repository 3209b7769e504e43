//! `[[source]]` tables: where relops pulls traces and signals from.
//!
//! Secrets are never in the file: a source names the environment variables that hold
//! them, and they are read when the source is built.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::period::Period;

/// What a source is; each kind lives in its own file under `src/sources/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// Arize Phoenix REST API: spans of one project.
    Phoenix,
    /// Langfuse public API: observations (v2), traces (v1 fallback).
    Langfuse,
    /// Prometheus HTTP API: one PromQL query per signal.
    Prometheus,
    /// An OTLP/HTTP receiver (`relops collect`): pushed, not pulled.
    OtlpHttp,
    /// A file or directory of OTLP JSON lines, followed as the Collector writes it.
    OtlpFile,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phoenix => "phoenix",
            Self::Langfuse => "langfuse",
            Self::Prometheus => "prometheus",
            Self::OtlpHttp => "otlp-http",
            Self::OtlpFile => "otlp-file",
        }
    }
}

/// One `[[source]]` table. Keys that do not apply to its kind are rejected by
/// [`SourceConfig::check`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique; names the source in the cache, the Sources view and messages.
    pub name: String,
    pub kind: SourceKind,
    /// Base URL (phoenix, langfuse, prometheus), e.g. `http://127.0.0.1:6006`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// phoenix: the project name or id.
    #[serde(default)]
    pub project: Option<String>,
    /// otlp-file: a file, or a directory whose `*.json`/`*.jsonl` files are followed.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// otlp-http: the address the receiver listens on.
    #[serde(default)]
    pub listen: Option<String>,
    /// How often a caught-up source is asked again.
    #[serde(default = "default_poll")]
    pub poll: Period,
    /// How far back the first pull reaches.
    #[serde(default = "default_backfill")]
    pub backfill: Period,
    /// Each pull re-reads this much before the last one's end, for late data; the
    /// upserts are idempotent, so nothing is doubled.
    #[serde(default = "default_overlap")]
    pub overlap: Period,
    /// Per request, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Extra attempts after a timeout, a connection error, a 5xx or a 429; also how
    /// often a page whose answer is unreadable, stale or misdirected, or repeats a
    /// cursor, is asked for again within one run.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First retry delay in milliseconds, doubled per attempt, with jitter; a
    /// `Retry-After` wins.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// Records asked for per page.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Names of environment variables holding credentials.
    #[serde(default)]
    pub auth: Auth,
    /// langfuse: `v2` observations (default) or the older `v1` traces API.
    #[serde(default)]
    pub api: Option<String>,
    /// prometheus: signal name to PromQL query.
    #[serde(default)]
    pub signals: BTreeMap<String, String>,
    /// prometheus: the label whose value names the version (e.g. `version`).
    #[serde(default)]
    pub version_label: Option<String>,
    /// prometheus: resolution of pulled series (default: chosen so that no series
    /// exceeds Prometheus' 11,000 points).
    #[serde(default)]
    pub step: Option<Period>,
}

/// Credentials by environment variable name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// A bearer token (phoenix, prometheus behind a proxy).
    pub token_env: Option<String>,
    /// langfuse: the public key (HTTP Basic user).
    pub public_key_env: Option<String>,
    /// langfuse: the secret key (HTTP Basic password).
    pub secret_key_env: Option<String>,
}

fn default_poll() -> Period {
    Period::secs(30)
}
fn default_backfill() -> Period {
    Period::secs(7 * 86_400)
}
fn default_overlap() -> Period {
    Period::secs(300)
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_retries() -> u32 {
    3
}
fn default_backoff_ms() -> u64 {
    500
}
fn default_page_size() -> u32 {
    500
}

impl SourceConfig {
    /// What the kind needs and what it does not take, as `(key, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        use SourceKind::*;
        let needs = |key: &'static str, present: bool| {
            if present {
                Ok(())
            } else {
                Err((
                    key,
                    format!("a {} source needs `{key}`", self.kind.as_str()),
                ))
            }
        };
        let refuses = |key: &'static str, present: bool| {
            if present {
                Err((
                    key,
                    format!("`{key}` does not apply to a {} source", self.kind.as_str()),
                ))
            } else {
                Ok(())
            }
        };
        if self.name.trim().is_empty() {
            return Err(("name", "a source needs a name".into()));
        }
        let http = matches!(self.kind, Phoenix | Langfuse | Prometheus);
        needs("endpoint", !http || self.endpoint.is_some())?;
        refuses("endpoint", !http && self.endpoint.is_some())?;
        if let Some(endpoint) = &self.endpoint {
            crate::config::http_url(endpoint).map_err(|m| ("endpoint", m))?;
        }
        needs("project", self.kind != Phoenix || self.project.is_some())?;
        refuses("project", self.kind != Phoenix && self.project.is_some())?;
        needs("path", self.kind != OtlpFile || self.path.is_some())?;
        refuses("path", self.kind != OtlpFile && self.path.is_some())?;
        refuses("listen", self.kind != OtlpHttp && self.listen.is_some())?;
        needs(
            "signals",
            self.kind != Prometheus || !self.signals.is_empty(),
        )?;
        refuses(
            "signals",
            self.kind != Prometheus && !self.signals.is_empty(),
        )?;
        refuses(
            "version_label",
            self.kind != Prometheus && self.version_label.is_some(),
        )?;
        refuses("step", self.kind != Prometheus && self.step.is_some())?;
        refuses("api", self.kind != Langfuse && self.api.is_some())?;
        if let Some(api) = self.api.as_deref().filter(|a| !matches!(*a, "v1" | "v2")) {
            return Err((
                "api",
                format!("unknown Langfuse API {api:?}: use \"v2\" or \"v1\""),
            ));
        }
        if self.kind == Langfuse {
            needs("auth.public_key_env", self.auth.public_key_env.is_some())?;
            needs("auth.secret_key_env", self.auth.secret_key_env.is_some())?;
        }
        if !(1..=1000).contains(&self.page_size) {
            return Err(("page_size", "must be between 1 and 1000".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> SourceConfig {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn phoenix_needs_a_project() {
        let s = source("name = 'px'\nkind = 'phoenix'\nendpoint = 'http://127.0.0.1:6006'");
        assert_eq!(s.check().unwrap_err().0, "project");
    }

    #[test]
    fn keys_of_another_kind_are_refused() {
        let s = source("name = 'f'\nkind = 'otlp-file'\npath = 'x'\nproject = 'p'");
        let (key, message) = s.check().unwrap_err();
        assert_eq!(key, "project");
        assert!(message.contains("does not apply"), "{message}");
    }

    #[test]
    fn langfuse_needs_both_key_names() {
        let s = source(
            "name = 'lf'\nkind = 'langfuse'\nendpoint = 'http://x'\n\
             auth = { public_key_env = 'LF_PK' }",
        );
        assert_eq!(s.check().unwrap_err().0, "auth.secret_key_env");
    }

    #[test]
    fn defaults_are_sensible() {
        let s = source(
            "name = 'p'\nkind = 'prometheus'\nendpoint = 'http://x'\nsignals = { a = 'up' }",
        );
        assert_eq!(s.check(), Ok(()));
        assert_eq!(s.poll, Period::secs(30));
        assert_eq!(s.overlap, Period::secs(300));
        assert_eq!(s.page_size, 500);
    }
}
