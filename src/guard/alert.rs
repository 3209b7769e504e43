//! What the guard pages about: one [`Alert`] per condition that holds now. A cycle
//! computes the whole set afresh; the outbox turns changes in it into notifications
//! (new: fire; gone: resolve), so a condition is described once, here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::guard::Severity;

/// A version as a page names it: the label an operator types and the fingerprint that
/// says which build it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionTag {
    pub label: String,
    pub fingerprint: String,
}

/// One condition that holds now, with everything a page carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `RelopsTriggerFired`, `RelopsDriftFail`, ...: Alertmanager's `alertname`.
    pub name: String,
    pub severity: Severity,
    /// Stable while the condition holds: what deduplicates repeats and pairs a resolve
    /// with its fire.
    pub key: String,
    /// workspace, rollout, release, trigger, signal (those that apply).
    pub labels: BTreeMap<String, String>,
    pub summary: String,
    /// The numbers: value against threshold, n, the interval, since when.
    pub description: String,
    /// The exact next step (a command or the console's keys).
    pub next_step: String,
    pub since_ns: i64,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub n: Option<u64>,
    #[serde(default)]
    pub release: Option<VersionTag>,
    #[serde(default)]
    pub previous: Option<VersionTag>,
    /// Up to three example trace ids behind the numbers.
    #[serde(default)]
    pub traces: Vec<String>,
    /// The audit chain's head when the page was written: a postmortem proves the ledger
    /// still holds what the page saw (`relops audit verify --checkpoint HASH`).
    #[serde(default)]
    pub audit_head: Option<crate::audit::Head>,
}

/// The names the guard pages under.
pub mod names {
    pub const TRIGGER_FIRED: &str = "RelopsTriggerFired";
    pub const TRIGGER_WARNING: &str = "RelopsTriggerWarning";
    pub const ROLLOUT_HELD: &str = "RelopsRolloutHeld";
    pub const ROLLED_BACK: &str = "RelopsRolledBack";
    pub const RECOVERY_FAILED: &str = "RelopsRecoveryFailed";
    pub const AUTO_ROLLBACK: &str = "RelopsAutoRollback";
    pub const AUTO_ROLLBACK_BLOCKED: &str = "RelopsAutoRollbackBlocked";
    pub const ROLLBACK_FAILED: &str = "RelopsRollbackFailed";
    pub const DRIFT_FAIL: &str = "RelopsDriftFail";
    pub const NO_DATA: &str = "RelopsNoData";
    pub const WATCHDOG: &str = "RelopsGuardWatchdog";
}

impl Alert {
    /// A new alert: the key is the name and the labels that identify the condition.
    pub fn new(name: &str, severity: Severity, labels: &[(&str, &str)], since_ns: i64) -> Self {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut key = name.to_string();
        for (k, v) in &labels {
            key.push_str(&format!("/{k}={v}"));
        }
        Self {
            name: name.into(),
            severity,
            key,
            labels,
            summary: String::new(),
            description: String::new(),
            next_step: String::new(),
            since_ns,
            value: None,
            threshold: None,
            n: None,
            release: None,
            previous: None,
            traces: Vec::new(),
            audit_head: None,
        }
    }

    /// The watchdog is Alertmanager's dead-man's switch: the other notifiers skip it.
    pub fn is_watchdog(&self) -> bool {
        self.name == names::WATCHDOG
    }

    /// `row 812 3f2a…` with the full hash, for a page's annotation.
    pub fn audit_text(&self) -> String {
        self.audit_head
            .as_ref()
            .map_or(String::new(), |h| format!("row {} {}", h.rows, h.hash))
    }

    /// The versions as one phrase: `v3 (cee871fa…) vs v2 (1b2c3d4e…)`.
    pub fn versions_text(&self) -> String {
        let tag = |v: &VersionTag| format!("{} ({})", v.label, short(&v.fingerprint));
        match (&self.release, &self.previous) {
            (Some(r), Some(p)) => format!("{} vs {}", tag(r), tag(p)),
            (Some(r), None) => tag(r),
            (None, Some(p)) => format!("vs {}", tag(p)),
            (None, None) => String::new(),
        }
    }
}

fn short(fingerprint: &str) -> &str {
    fingerprint.get(..8).unwrap_or(fingerprint)
}

/// The dedup key as a hex digest: PagerDuty and webhooks want a short opaque id.
pub fn key_digest(workspace: &str, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{workspace}\n{key}").as_bytes());
    format!("relops-{}", &hex::encode(digest)[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_names_the_condition_not_its_numbers() {
        let mut a = Alert::new(
            names::TRIGGER_FIRED,
            Severity::Critical,
            &[
                ("rollout", "4"),
                ("trigger", "refusal spike"),
                ("signal", ""),
            ],
            1,
        );
        assert_eq!(a.key, "RelopsTriggerFired/rollout=4/trigger=refusal spike");
        let before = a.key.clone();
        a.value = Some(0.09);
        a.since_ns = 7;
        assert_eq!(a.key, before);
        assert!(
            !a.labels.contains_key("signal"),
            "empty labels are left out"
        );
    }

    #[test]
    fn digests_differ_by_workspace() {
        let a = key_digest("demo", "k");
        assert_ne!(a, key_digest("prod", "k"));
        assert_eq!(a.len(), "relops-".len() + 24);
    }
}
