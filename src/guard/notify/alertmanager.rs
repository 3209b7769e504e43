//! Alertmanager's API v2: `POST /api/v2/alerts` with every notification owed, as a list.
//! Alertmanager routes, groups, silences and delivers; relops re-posts the firing set
//! each cycle (with `endsAt` a few cycles ahead, so a dead guard's alerts resolve on
//! their own) and posts `endsAt = now` when one resolves.

use serde_json::{Value, json};

use super::super::alert::Alert;
use super::super::outbox::{Action, Queued};
use crate::clock::rfc3339;

/// The request body for `items`; `hold_ns`: how long a fire stays valid unrenewed.
pub fn body(items: &[Queued], workspace: &str, now_ns: i64, hold_ns: i64) -> Value {
    let alerts: Vec<Value> = items
        .iter()
        .map(|q| {
            let ends = match q.action {
                Action::Fire => now_ns + hold_ns,
                Action::Resolve => now_ns,
            };
            one(&q.alert, workspace, ends)
        })
        .collect();
    Value::Array(alerts)
}

fn one(a: &Alert, workspace: &str, ends_ns: i64) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert("alertname".into(), json!(a.name));
    labels.insert("severity".into(), json!(a.severity.as_str()));
    labels.insert("workspace".into(), json!(workspace));
    for (k, v) in &a.labels {
        labels.insert(k.clone(), json!(v));
    }
    json!({
        "labels": labels,
        "annotations": {
            "summary": a.summary,
            "description": a.description,
            "runbook": a.next_step,
            "versions": a.versions_text(),
            "traces": a.traces.join(", "),
            "audit_head": a.audit_text(),
        },
        "startsAt": rfc3339(a.since_ns),
        "endsAt": rfc3339(ends_ns),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::guard::Severity;

    #[test]
    fn labels_carry_the_condition_and_ends_at_says_fire_or_resolve() {
        let mut a = Alert::new(
            "RelopsTriggerFired",
            Severity::Critical,
            &[("rollout", "4"), ("trigger", "refusal spike")],
            1_764_000_000_000_000_000,
        );
        a.next_step = "relops rollout rollback".into();
        let q = |action| Queued {
            id: 1,
            action,
            alert: a.clone(),
            attempts: 0,
            created_ns: 0,
        };
        let now = 1_764_000_100_000_000_000;
        let v = body(
            &[q(Action::Fire), q(Action::Resolve)],
            "demo",
            now,
            120_000_000_000,
        );
        assert_eq!(v[0]["labels"]["alertname"], "RelopsTriggerFired");
        assert_eq!(v[0]["labels"]["severity"], "critical");
        assert_eq!(v[0]["labels"]["workspace"], "demo");
        assert_eq!(v[0]["labels"]["trigger"], "refusal spike");
        assert_eq!(v[0]["annotations"]["runbook"], "relops rollout rollback");
        assert_eq!(v[0]["endsAt"], rfc3339(now + 120_000_000_000));
        assert_eq!(v[1]["endsAt"], rfc3339(now));
        assert_eq!(v[0]["startsAt"], rfc3339(a.since_ns));
    }
}
