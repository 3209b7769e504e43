//! PagerDuty Events API v2: `trigger` and `resolve` with a stable `dedup_key`, so a
//! repeat of one firing updates its incident instead of opening another.

use serde_json::{Value, json};

use super::super::alert::key_digest;
use super::super::outbox::{Action, Queued};
use crate::clock::rfc3339;
use crate::config::guard::Severity;

pub fn body(q: &Queued, workspace: &str, routing_key: &str) -> Value {
    let a = &q.alert;
    let dedup_key = key_digest(workspace, &a.key);
    if q.action == Action::Resolve {
        return json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key});
    }
    let severity = match a.severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    // PagerDuty caps the summary at 1024 characters.
    let summary: String = a.summary.chars().take(1024).collect();
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": format!("relops/{workspace}"),
            "severity": severity,
            "timestamp": rfc3339(a.since_ns),
            "component": a.release.as_ref().map(|r| r.label.clone()),
            "group": workspace,
            "class": a.name,
            "custom_details": {
                "description": a.description,
                "next_step": a.next_step,
                "versions": a.versions_text(),
                "value": a.value,
                "threshold": a.threshold,
                "n": a.n,
                "traces": a.traces,
                "labels": a.labels,
                "audit_head": a.audit_text(),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::alert::Alert;

    #[test]
    fn trigger_and_resolve_share_the_dedup_key() {
        let mut a = Alert::new(
            "RelopsDriftFail",
            Severity::Warning,
            &[("signal", "latency_p95")],
            5,
        );
        a.summary = "x".repeat(2000);
        let q = |action| Queued {
            id: 1,
            action,
            alert: a.clone(),
            attempts: 0,
            created_ns: 0,
        };
        let fire = body(&q(Action::Fire), "demo", "R");
        let resolve = body(&q(Action::Resolve), "demo", "R");
        assert_eq!(fire["dedup_key"], resolve["dedup_key"]);
        assert_eq!(fire["event_action"], "trigger");
        assert_eq!(resolve["event_action"], "resolve");
        assert_eq!(fire["payload"]["severity"], "warning");
        assert_eq!(fire["payload"]["summary"].as_str().unwrap().len(), 1024);
        assert!(resolve.get("payload").is_none());
    }
}
