//! `[guard]` and `[[notify]]`: what the always-on guard watches and whom it tells.

use serde::{Deserialize, Serialize};

use crate::period::Period;

/// The guard's cycle: how often, what it watches beyond the rollout, when silence pages.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Guard {
    /// Time between cycles (sync, rollout check, drift watch, notifications).
    pub check_every: Period,
    /// A check that stays without enough data this long pages (silence is not health).
    pub no_data_after: Period,
    /// Production drift: the signals judged each cycle (empty: no drift watch).
    pub drift_signals: Vec<String>,
    /// The versions compared; by default the newest serving version and the one that
    /// served most beside it (as `relops drift` picks them).
    pub candidate: Option<String>,
    pub baseline: Option<String>,
    /// The drift window (default: `[drift] window`).
    pub drift_window: Option<Period>,
    /// Pull the configured sources at the start of each cycle.
    pub sync: bool,
}

impl Default for Guard {
    fn default() -> Self {
        Self {
            check_every: Period::secs(30),
            no_data_after: Period::secs(15 * 60),
            drift_signals: Vec::new(),
            candidate: None,
            baseline: None,
            drift_window: None,
            sync: true,
        }
    }
}

/// How loud a notification is; a notifier sends what is at least its `min_severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyKind {
    /// Alertmanager's API v2: it routes, groups, silences and delivers.
    Alertmanager,
    /// A documented JSON body signed with HMAC-SHA256.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// PagerDuty Events API v2.
    Pagerduty,
}

impl NotifyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyKind::Alertmanager => "alertmanager",
            NotifyKind::Webhook => "webhook",
            NotifyKind::Slack => "slack",
            NotifyKind::Pagerduty => "pagerduty",
        }
    }
}

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS: &str = "https://events.pagerduty.com/v2/enqueue";

/// One `[[notify]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    pub name: String,
    pub kind: NotifyKind,
    /// alertmanager: its base URL; webhook: the endpoint; pagerduty: the events
    /// endpoint (default PagerDuty's); slack: use `url_env` (the URL is the secret).
    #[serde(default)]
    pub url: Option<String>,
    /// The environment variable holding the URL (Slack's webhook URL is a secret).
    #[serde(default)]
    pub url_env: Option<String>,
    /// webhook: the HMAC key; pagerduty: the routing key.
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default = "warning")]
    pub min_severity: Severity,
    /// How often a notification still firing is sent again (Alertmanager: every cycle,
    /// as it expects).
    #[serde(default = "four_hours")]
    pub repeat_every: Period,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    #[serde(default = "ten_seconds")]
    pub timeout: Period,
}

fn warning() -> Severity {
    Severity::Warning
}

fn four_hours() -> Period {
    Period::hours(4)
}

fn yes() -> bool {
    true
}

fn ten_seconds() -> Period {
    Period::secs(10)
}

impl Notify {
    /// What serde cannot check: the keys its kind needs; the message names the key.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let need = |key: &'static str, present: bool| {
            if present {
                Ok(())
            } else {
                Err((
                    key,
                    format!("a {} notifier needs `{key}`", self.kind.as_str()),
                ))
            }
        };
        match self.kind {
            NotifyKind::Alertmanager => need("url", self.url.is_some())?,
            NotifyKind::Webhook => {
                need("url", self.url.is_some())?;
                need("secret_env", self.secret_env.is_some())?;
            }
            NotifyKind::Slack => need("url_env", self.url.is_some() || self.url_env.is_some())?,
            NotifyKind::Pagerduty => need("secret_env", self.secret_env.is_some())?,
        }
        if let Some(url) = &self.url {
            super::http_url(url).map_err(|m| ("url", m))?;
        }
        if self.timeout.as_secs() == 0 {
            return Err(("timeout", "must be at least 1s".into()));
        }
        Ok(())
    }

    /// The environment variables this notifier reads, with the key naming each.
    pub fn env_keys(&self) -> Vec<(&'static str, &str)> {
        let mut keys = Vec::new();
        if let Some(v) = &self.url_env {
            keys.push(("url_env", v.as_str()));
        }
        if let Some(v) = &self.secret_env {
            keys.push(("secret_env", v.as_str()));
        }
        keys
    }
}
